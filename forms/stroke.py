"""ANGEL-ICAS stroke forms: thrombectomy with rescue treatment, and the 48-hour safety imaging.

Facts from ../shared/reference/clinical.md §5 and §8.5. The 24-hour last-known-well
limit, the residual-stenosis gate and the 48-hour sICH window are read from the protocol.
"""

from __future__ import annotations

from datetime import timedelta

from ecrf.clock import to_local
from ecrf.instruments.stroke import (
    IMAGING_ICH_ITEMS,
    PROCEDURE_STROKE_ITEMS,
    SICH_NIHSS_INCREASE,
    heidelberg_symptomatic,
)
from ecrf.protocols.schema import Protocol
from forms.base import CrfForm, Warning
from forms.fields import field_for

#: Fields of imaging_ich answered only when a haemorrhage is present.
ICH_FIELDS = ("heidelberg_class", "symptomatic", "nihss_increase")
#: Used when the protocol has no rule on hours_since_last_known_well.
DEFAULT_ONSET_HOURS = 24


class ProcedureStrokeForm(CrfForm):
    last_known_well = field_for(PROCEDURE_STROKE_ITEMS["last_known_well"])
    occlusion_site = field_for(PROCEDURE_STROKE_ITEMS["occlusion_site"])
    residual_stenosis_pct = field_for(PROCEDURE_STROKE_ITEMS["residual_stenosis_pct"])
    rescue_treatment = field_for(PROCEDURE_STROKE_ITEMS["rescue_treatment"])
    rescue_not_performed_reason = field_for(PROCEDURE_STROKE_ITEMS["rescue_not_performed_reason"])
    reperfusion_etici = field_for(PROCEDURE_STROKE_ITEMS["reperfusion_etici"])

    def check(self) -> None:
        """Last known well before randomization and within the protocol's hours; a reason when no rescue treatment."""
        self._check_last_known_well()
        rescue = self.value("rescue_treatment")
        self.require_if(rescue == "none", "rescue_not_performed_reason", "when no rescue treatment was performed")
        self.leave_empty(rescue not in (None, "none"), "rescue_not_performed_reason", "when a rescue treatment was performed")

    def _check_last_known_well(self) -> None:
        """Last known well comes before randomization (the index instant)."""
        moment, randomized = self.local_to_utc(self.value("last_known_well")), self.context.index_at
        if moment is not None and randomized is not None and moment > randomized:
            self.fail(
                "last_known_well",
                (
                    f"{self['last_known_well'].label.text}: must be before randomization "
                    f"({to_local(randomized, self.context.timezone):%Y-%m-%d %H:%M:%S} at the site)."
                ),
            )

    def warnings(self) -> list[Warning]:
        """Randomized more than the protocol's hours after last known well; residual stenosis below the gate.

        Both contradict eligibility: a true value is recorded, but must be confirmed.
        """
        found = []
        moment, randomized = self.local_to_utc(self.value("last_known_well")), self.context.index_at
        hours = onset_hours(self.context.protocol)
        if moment is not None and randomized is not None and randomized - moment > timedelta(hours=hours):
            elapsed = (randomized - moment).total_seconds() / 3600
            found.append(
                Warning(
                    "last_known_well_hours",
                    "last_known_well",
                    (
                        f"Randomization was {elapsed:.1f} hours after last known well, more than the {hours} hours the protocol allows: "
                        "confirm both times, and tell the monitor if the subject was not eligible."
                    ),
                )
            )
        return found + self.eligibility_warnings(
            "residual_stenosis_pct",
            self.value("residual_stenosis_pct"),
            "residual_stenosis_pct",
            "Residual stenosis after thrombectomy (%)",
        )


def onset_hours(protocol: Protocol) -> int:
    """Hours allowed from last known well to randomization: the protocol's inclusion rule, else 24."""
    rule = protocol.inclusion_rule("hours_since_last_known_well")
    return int(rule.value) if rule and rule.value is not None else DEFAULT_ONSET_HOURS


class ImagingIchForm(CrfForm):
    imaging_datetime = field_for(IMAGING_ICH_ITEMS["imaging_datetime"])
    modality = field_for(IMAGING_ICH_ITEMS["modality"])
    ich_present = field_for(IMAGING_ICH_ITEMS["ich_present"])
    heidelberg_class = field_for(IMAGING_ICH_ITEMS["heidelberg_class"])
    symptomatic = field_for(IMAGING_ICH_ITEMS["symptomatic"])
    nihss_increase = field_for(IMAGING_ICH_ITEMS["nihss_increase"])

    def check(self) -> None:
        """Imaging within the study; classification, symptoms and NIHSS increase exactly when a haemorrhage is present."""
        self.check_date_in_study("imaging_datetime")
        present = self.value("ich_present")
        for name in ICH_FIELDS:
            self.require_if(present is True, name, "when a haemorrhage is present")
            self.leave_empty(present is False, name, "when no haemorrhage is present")

    def warnings(self) -> list[Warning]:
        """Imaging later than the protocol's hours after randomization; site's sICH answer against the NIHSS criterion."""
        found = []
        moment, hours = self.local_to_utc(self.value("imaging_datetime")), self.context.protocol.safety.ich_hours
        randomized = self.context.index_at
        if moment is not None and hours and randomized is not None and moment - randomized > timedelta(hours=hours):
            found.append(
                Warning(
                    "imaging_late",
                    "imaging_datetime",
                    (
                        f"Imaging date and time: more than {hours} hours after randomization "
                        f"({to_local(randomized, self.context.timezone):%Y-%m-%d %H:%M:%S} at the site); confirm the date and time."
                    ),
                )
            )
        if moment is not None and randomized is not None and moment < randomized:
            found.append(
                Warning(
                    "imaging_before_randomization",
                    "imaging_datetime",
                    (
                        f"Imaging date and time: before randomization ({to_local(randomized, self.context.timezone):%Y-%m-%d %H:%M:%S} "
                        "at the site), so it does not count for the 48-hour sICH endpoint (a haemorrhage then is exclusion 1); "
                        "confirm the date and time."
                    ),
                )
            )
        site, increase = self.value("symptomatic"), self.value("nihss_increase")
        computed = heidelberg_symptomatic(self.value("ich_present"), increase)
        if site is not None and computed is not None and site != computed:
            found.append(
                Warning(
                    "symptomatic_disagrees",
                    "symptomatic",
                    (
                        f"Symptomatic haemorrhage (investigator): answered {'yes' if site else 'no'}, but the NIHSS increase of {increase} "
                        f"points is {'below' if site else 'at or above'} the Heidelberg threshold of {SICH_NIHSS_INCREASE}; confirm "
                        + (
                            "another Heidelberg criterion applies (2 or more points in one item, or a major intervention)."
                            if site
                            else "that something other than the haemorrhage explains the deterioration."
                        )
                    ),
                )
            )
        return found
