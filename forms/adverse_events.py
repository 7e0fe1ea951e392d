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

from datetime import date, datetime, timedelta

from wtforms.validators import DataRequired, Optional

from ecrf import partial_dates
from ecrf.clock import to_local
from ecrf.crfs.models import MissingCode
from forms.base import CrfForm, Warning, may_be_missing
from forms.fields import NamedStringField, choice, datetime_field, text, tick, yes_no

SEVERITY = [("mild", "Mild"), ("moderate", "Moderate"), ("severe", "Severe")]
# Disagreement (clinical.md §7.3): several causality scales are in use. We use the MDCG 2020-10/1
# 4-level scale (EU MDR clinical investigations), which also asks for device and procedure apart;
# not the 5-level vigilance scale, the SHOCKWAVE-style 4 levels, or the CDASH demo's AEREL codes.
RELATIONSHIP = [("not_related", "Not related"), ("possible", "Possible"), ("probable", "Probable"), ("causal", "Causal relationship")]
MDCG_SCALE = (
    "MDCG 2020-10/1: possible = a weak relation that cannot be ruled out; probable = a relevant relation "
    "not reasonably explained by another cause; causal relationship = beyond reasonable doubt. If unsure, choose possible."
)
#: CDISC OUT codelist (C66768), in project codes: RECOVERED/RESOLVED, RECOVERING/RESOLVING, NOT RECOVERED/NOT
#: RESOLVED, RECOVERED/RESOLVED WITH SEQUELAE, FATAL, UNKNOWN.
OUTCOMES = [
    ("recovered", "Recovered/resolved"),
    ("recovering", "Recovering/resolving"),
    ("not_recovered", "Not recovered/not resolved"),
    ("recovered_with_sequelae", "Recovered/resolved with sequelae"),
    ("fatal", "Fatal"),
    ("unknown", "Unknown"),
]
#: Outcomes that say the event has ended (so it cannot be ongoing).
ENDED_OUTCOMES = ("recovered", "recovered_with_sequelae", "fatal")
#: Outcomes that say the event goes on (unusual when it is not ongoing).
CONTINUING_OUTCOMES = ("recovering", "not_recovered")
ACTIONS = [
    ("none", "None"),
    ("device_removed", "Device removed"),
    ("procedure", "Procedure or surgery"),
    ("medication", "Medication"),
    ("hospitalisation", "Hospitalisation"),
    ("other", "Other"),
]
CRITERION = "Seriousness criterion: tick all that apply."
#: The seriousness criteria (device-trial list), paper order, with the CDASH flag each maps to.
CRITERIA = (
    "sae_death",  # AESDTH
    "sae_life_threatening",  # AESLIFE
    "sae_hospitalisation",  # AESHOSP
    "sae_disability",  # AESDISAB
    "sae_congenital_anomaly",  # AESCONG
    "sae_intervention",  # device definition (ISO 14155 / MDR): intervention to prevent permanent impairment
    "sae_medically_important",  # AESMIE
)


class PartialDateField(NamedStringField):
    """A date whose day, or day and month, may be unknown; its data is the normalised text (or None)."""

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "").strip()
        self.data = raw or None
        if raw:
            try:
                self.data = partial_dates.parse_partial(raw)
            except ValueError as error:
                raise ValueError(
                    f"{self.label.text}: {error}; enter {partial_dates.FORMATS} (leave out the parts that are unknown)."
                ) from None


def partial_date(label: str, *, is_required: bool = True, description: str = ""):
    """A partial date, YYYY-MM-DD, YYYY-MM or YYYY, stored as that text (a String(10) column)."""
    allowed = f"a date as {partial_dates.FORMATS} (leave out the parts that are unknown)"
    presence = DataRequired(message=f"{label}: required; enter {allowed}.") if is_required else Optional()
    return PartialDateField(
        label, allowed=allowed, description=description or f"{partial_dates.FORMATS}: leave out the day, or day and month, if unknown.",
        validators=[presence], render_kw={"placeholder": "YYYY-MM-DD"},
    )


class AdverseEventForm(CrfForm):
    ae_term = text("Adverse event term", 200, description="Verbatim, as the investigator words it; the diagnosis rather than its symptoms where known.")
    onset_date = partial_date("Onset date")
    ongoing = yes_no("Ongoing")
    end_date = partial_date("End date", is_required=False)
    serious = may_be_missing(
        yes_no("Serious", description="Serious = meets at least one criterion below (a regulatory outcome, not the intensity). "
                                      "If not yet known, code it unknown: the SAE report clock then runs as a precaution."),
        MissingCode.UNKNOWN,
    )
    sae_death = tick("Resulted in death", CRITERION)
    sae_life_threatening = tick("Life-threatening", CRITERION)
    sae_hospitalisation = tick("In-patient hospitalisation or prolongation of hospitalisation", CRITERION)
    sae_disability = tick("Persistent or significant disability/incapacity", CRITERION)
    sae_congenital_anomaly = tick("Congenital anomaly/birth defect", CRITERION)
    sae_intervention = tick("Medical or surgical intervention to prevent permanent impairment", CRITERION)
    sae_medically_important = tick("Medically important event", CRITERION)
    severity = choice(
        "Severity (intensity)", SEVERITY,
        description="Severity is not seriousness: a severe event need not be serious, and a serious one need not be severe.",
    )
    relation_device = choice("Relationship to the device", RELATIONSHIP, description=MDCG_SCALE)
    relation_procedure = choice("Relationship to the procedure", RELATIONSHIP, description=MDCG_SCALE)
    relation_drug = choice(
        "Relationship to the drug", RELATIONSHIP,
        description="The drug of a drug-coated or drug-eluting device, or the study drug; where there is none, "
                    "use the missing code not applicable. " + MDCG_SCALE,
    )
    outcome = choice("Outcome", OUTCOMES)
    action_taken = choice("Action taken", ACTIONS, description="The main action taken because of the event.")
    action_other = text("Other action taken", 200, is_required=False)
    aware_at = datetime_field("Date and time the site became aware", description="Site local time.")
    reported_at = datetime_field(
        "Date and time reported to the sponsor", is_required=False,
        description="Site local time. Required for a serious event before completing; a draft may be saved without it.",
    )

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
            self.fail("onset_date", (
                f"{self._label('onset_date')}: {onset} is before {since} ({start.isoformat()}); a condition present before "
                "consent is medical history (if it worsened after consent, enter the date it worsened)."
            ))
        for name in ("onset_date", "end_date"):
            day = self.value(name)
            if day and partial_dates.earliest(day) > self.context.site_today:
                self.fail(name, f"{self._label(name)}: must not be after today at the site ({self.context.site_today.isoformat()}).")
        if ongoing is not None:
            self.only_if(ongoing is False, "end_date", "when the event is not ongoing", "while the event is ongoing")
        if onset and end and partial_dates.definitely_before(end, onset):
            self.fail("end_date", f"{self._label('end_date')}: {end} is before the {self._label('onset_date')} ({onset}); "
                                  "an event cannot end before its onset.")

    def seriousness_unknown(self) -> bool:
        """Serious is coded unknown (the SAE report clock runs as a precaution)."""
        return self.missing_code("serious") is MissingCode.UNKNOWN

    def _check_seriousness(self) -> None:
        serious = self.value("serious")
        ticked = [name for name in CRITERIA if self.value(name)]
        if serious is not True:
            answer = {False: "Serious is No", None: "Serious is coded unknown" if self.seriousness_unknown() else "Serious is not answered"}[serious]
            for name in ticked:
                self.fail(name, f"{self._label(name)}: a ticked seriousness criterion makes the event serious, but {answer}; "
                                "answer Serious Yes, or untick the criterion.")
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
            self.fail("outcome", f"Outcome: {outcome_text} means the event has ended; "
                                 "answer Ongoing No and give the end date, or choose another outcome.")

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
            found.append(Warning(
                "ended_not_recovered", "outcome",
                f"The event is not ongoing, yet its outcome is {dict(OUTCOMES)[outcome]}: confirm the outcome and the end date.",
            ))
        if self.value("action_taken") == "hospitalisation" and not (self.value("serious") and self.value("sae_hospitalisation")):
            found.append(Warning(
                "hospitalisation_not_serious", "serious",
                f"The action taken is hospitalisation, but the event is not serious with {self._label('sae_hospitalisation')} "
                "ticked: confirm (an in-patient hospitalisation makes an event serious).",
            ))
        hours = self.context.protocol.safety.sae_report_hours
        aware, reported = self.local_to_utc(self.value("aware_at")), self.local_to_utc(self.value("reported_at"))
        due = sae_report_due(self.value("serious") or self.seriousness_unknown(), aware, hours)
        if reported_late(reported, due):
            late = (reported - aware).total_seconds() / 3600
            found.append(Warning(
                "sae_reported_late", "reported_at",
                f"Reported to the sponsor {late:.1f} hours after the site became aware, later than the {hours} hours "
                "the protocol allows: confirm both times.",
            ))
        return found


def sae_report_due(serious: bool | None, aware_at: datetime | None, hours: int) -> datetime | None:
    """When the report to the sponsor is due: awareness + the protocol's hours, for a serious event (or one whose
    seriousness is unknown, passed here as serious) only."""
    return aware_at + timedelta(hours=hours) if serious and aware_at is not None else None


def reported_late(reported_at: datetime | None, due: datetime | None) -> bool | None:
    """Whether the report came after it was due; None while either is unknown."""
    return None if reported_at is None or due is None else reported_at > due
