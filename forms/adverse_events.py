"""Adverse events (clinical.md §7): one entry per event, with the CDASH collection fields (§7.5).

Rules where the issue left the choice to us (each is enforced in `check()` or `warnings()`):
- Dates of onset and end may be partial (day, or day and month, unknown); an end is refused only
  when it is before the onset whatever the unknown parts are. Neither may be after the site's today.
  Adverse events are recorded from informed consent: an onset, awareness or report between consent and
  day 0 is accepted as it is; one certainly before consent is refused (a condition present before consent
  is medical history; if it worsened after consent, the worsening is the event).
- The end date is required when the event is not ongoing and refused while it is ongoing.
- "Serious" needs at least one criterion (on completing: a draft may be unfinished). A ticked criterion
  makes the event serious: it is refused at once unless Serious is Yes (No, unanswered or coded unknown).
- Seriousness may be coded unknown (the only missing-data code it takes): the SAE report clock then runs
  from awareness as for a serious event, as a precaution, until the site answers Yes or No.
- Outcome "fatal" <=> the criterion "resulted in death" (both ways): a fatal outcome makes the event
  serious with death ticked, and an event that resulted in death has a fatal outcome.
- Ongoing = yes is refused with the outcomes that say the event ended: recovered/resolved,
  recovered/resolved with sequelae and fatal. Ongoing = no with "recovering" or "not recovered" is
  possible (e.g. the event is closed at the end of follow-up) but unusual: a warning.
- Action taken is one choice (the main action); "other" needs a description.
- Awareness: not before consent, not in the future, not before the onset. Report to the sponsor: required
  for a serious event on completing (a draft may be saved without it), not before awareness, not in the
  future; a report later than the protocol's `sae_report_hours` is a warning to confirm.
"""

from __future__ import annotations

from datetime import date

from ecrf import partial_dates
from ecrf.clock import to_local
from ecrf.crfs.models import MissingCode
from ecrf.instruments.adverse_events import (
    CRITERIA,
    ITEMS,
    OUTCOMES,
    reported_late,
    sae_report_due,
)
from forms.base import CrfForm, Warning
from forms.fields import field_for

#: Outcomes that say the event has ended (so it cannot be ongoing).
ENDED_OUTCOMES = ("recovered", "recovered_with_sequelae", "fatal")
#: Outcomes that say the event goes on (unusual when it is not ongoing).
CONTINUING_OUTCOMES = ("recovering", "not_recovered")


class AdverseEventForm(CrfForm):
    ae_term = field_for(ITEMS["ae_term"])
    onset_date = field_for(ITEMS["onset_date"])
    ongoing = field_for(ITEMS["ongoing"])
    end_date = field_for(ITEMS["end_date"])
    serious = field_for(ITEMS["serious"])
    sae_death = field_for(ITEMS["sae_death"])
    sae_life_threatening = field_for(ITEMS["sae_life_threatening"])
    sae_hospitalisation = field_for(ITEMS["sae_hospitalisation"])
    sae_disability = field_for(ITEMS["sae_disability"])
    sae_congenital_anomaly = field_for(ITEMS["sae_congenital_anomaly"])
    sae_intervention = field_for(ITEMS["sae_intervention"])
    sae_medically_important = field_for(ITEMS["sae_medically_important"])
    severity = field_for(ITEMS["severity"])
    relation_device = field_for(ITEMS["relation_device"])
    relation_procedure = field_for(ITEMS["relation_procedure"])
    relation_drug = field_for(ITEMS["relation_drug"])
    outcome = field_for(ITEMS["outcome"])
    action_taken = field_for(ITEMS["action_taken"])
    action_other = field_for(ITEMS["action_other"])
    aware_at = field_for(ITEMS["aware_at"])
    reported_at = field_for(ITEMS["reported_at"])

    def check(self) -> None:
        """Dates, seriousness, outcome and reporting rules (see the module docstring)."""
        self._check_dates()
        self._check_seriousness()
        self._check_outcome()
        self.only_if(self.value("action_taken") == "other", "action_other", "when the action taken is Other", "unless the action taken is Other")
        self._check_reporting()

    def _label(self, name: str) -> str:
        return self[name].label.text

    def recording_start(self) -> tuple[date, str]:
        """From when adverse events are recorded: (date, what it is called) — the consent date, or day 0 when unknown."""
        consent = self.context.consent_date
        if consent is not None and consent < self.context.index_date:
            return consent, "the informed consent date"
        return self.context.index_date, "day 0"

    def _check_dates(self) -> None:
        onset, end, ongoing = self.value("onset_date"), self.value("end_date"), self.value("ongoing")
        start, since = self.recording_start()
        if onset and partial_dates.definitely_before(onset, start.isoformat()):
            self.fail(
                "onset_date",
                (
                    f"{self._label('onset_date')}: {onset} is before {since} ({start.isoformat()}); a condition present before "
                    "consent is medical history (if it worsened after consent, enter the date it worsened)."
                ),
            )
        for name in ("onset_date", "end_date"):
            day = self.value(name)
            if day and partial_dates.earliest(day) > self.context.site_today:
                self.fail(name, f"{self._label(name)}: must not be after today at the site ({self.context.site_today.isoformat()}).")
        if ongoing is not None:
            self.only_if(ongoing is False, "end_date", "when the event is not ongoing", "while the event is ongoing")
        if onset and end and partial_dates.definitely_before(end, onset):
            self.fail(
                "end_date", f"{self._label('end_date')}: {end} is before the {self._label('onset_date')} ({onset}); an event cannot end before its onset."
            )

    def seriousness_unknown(self) -> bool:
        """Serious is coded unknown (the SAE report clock runs as a precaution)."""
        return self.missing_code("serious") is MissingCode.UNKNOWN

    def _check_seriousness(self) -> None:
        serious = self.value("serious")
        ticked = [name for name in CRITERIA if self.value(name)]
        if serious is not True:
            answer = {False: "Serious is No", None: "Serious is coded unknown" if self.seriousness_unknown() else "Serious is not answered"}[serious]
            for name in ticked:
                self.fail(
                    name,
                    f"{self._label(name)}: a ticked seriousness criterion makes the event serious, but {answer}; answer Serious Yes, or untick the criterion.",
                )
        elif not ticked and self.completing:
            self.fail("serious", "Serious: tick at least one seriousness criterion.")

    def _check_outcome(self) -> None:
        outcome, serious, ongoing = self.value("outcome"), self.value("serious"), self.value("ongoing")
        died = bool(self.value("sae_death"))
        outcome_text = dict(OUTCOMES).get(outcome, "")
        if outcome == "fatal" and serious is not True:
            self.fail("outcome", f"Outcome: Fatal makes the event serious; answer Serious Yes and tick {self._label('sae_death')}.")
        elif outcome == "fatal" and serious and not died:
            self.fail("outcome", f"Outcome: Fatal needs the seriousness criterion {self._label('sae_death')} ticked.")
        elif serious and died and outcome not in (None, "fatal"):
            self.fail("sae_death", f"{self._label('sae_death')}: the outcome must then be Fatal, not {outcome_text}.")
        if ongoing and outcome in ENDED_OUTCOMES:
            self.fail("outcome", f"Outcome: {outcome_text} means the event has ended; answer Ongoing No and give the end date, or choose another outcome.")

    def _check_reporting(self) -> None:
        aware, reported, onset = self.value("aware_at"), self.value("reported_at"), self.value("onset_date")
        start, since = self.recording_start()
        for name in ("aware_at", "reported_at"):
            self.check_date_in_study(name, not_before=start, since=since)
            self._not_in_future(name)
        if aware and onset and not self.aware_at.errors and partial_dates.definitely_before(aware.date().isoformat(), onset):
            self.fail("aware_at", f"{self._label('aware_at')}: {aware:%Y-%m-%d} is before the {self._label('onset_date')} ({onset}).")
        if aware and reported and reported < aware:
            self.fail("reported_at", f"{self._label('reported_at')}: must not be before the site became aware ({aware:%Y-%m-%d %H:%M}).")
        self.require_if(bool(self.value("serious")), "reported_at", "for a serious event (a draft can be saved without it)")

    def _not_in_future(self, name: str) -> None:
        """A site-local date-time no later than now at the site."""
        moment = self.value(name)
        if moment is None or self.context.now is None:
            return
        now = to_local(self.context.now, self.context.timezone).replace(tzinfo=None)
        if moment > now:
            self.fail(name, f"{self._label(name)}: must not be in the future (it is {now:%H:%M} now at the site).")

    def warnings(self) -> list[Warning]:
        """An ended event not recovered, hospitalisation not marked serious, a late SAE report."""
        found = []
        outcome = self.value("outcome")
        if self.value("ongoing") is False and outcome in CONTINUING_OUTCOMES:
            found.append(
                Warning(
                    "ended_not_recovered",
                    "outcome",
                    f"The event is not ongoing, yet its outcome is {dict(OUTCOMES)[outcome]}: confirm the outcome and the end date.",
                )
            )
        if self.value("action_taken") == "hospitalisation" and not (self.value("serious") and self.value("sae_hospitalisation")):
            found.append(
                Warning(
                    "hospitalisation_not_serious",
                    "serious",
                    f"The action taken is hospitalisation, but the event is not serious with {self._label('sae_hospitalisation')} "
                    "ticked: confirm (an in-patient hospitalisation makes an event serious).",
                )
            )
        hours = self.context.protocol.safety.sae_report_hours
        aware, reported = self.local_to_utc(self.value("aware_at")), self.local_to_utc(self.value("reported_at"))
        due = sae_report_due(self.value("serious") or self.seriousness_unknown(), aware, hours)
        if reported_late(reported, due):
            assert reported is not None and aware is not None  # reported late: both are known (a due time needs awareness)
            late = (reported - aware).total_seconds() / 3600
            found.append(
                Warning(
                    "sae_reported_late",
                    "reported_at",
                    f"Reported to the sponsor {late:.1f} hours after the site became aware, later than the {hours} hours "
                    "the protocol allows: confirm both times.",
                )
            )
        return found
