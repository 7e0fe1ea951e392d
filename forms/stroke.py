"""ANGEL-ICAS stroke forms: thrombectomy with rescue treatment, and the 48-hour safety imaging.

Facts from ../shared/reference/clinical.md §5 and §8.5. The 24-hour last-known-well
limit, the residual-stenosis gate and the 48-hour sICH window are read from the protocol.
"""
from __future__ import annotations

from datetime import timedelta

from ecrf.clock import to_local
from ecrf.protocols.schema import Protocol
from forms.base import CrfForm, Warning
from forms.fields import choice, datetime_field, integer, text, yes_no

OCCLUSION_SITES = [
    ("ica", "Intracranial internal carotid artery (ICA)"), ("mca_m1", "Middle cerebral artery, M1 segment"),
    ("va_v4", "Vertebral artery, V4 segment"), ("basilar", "Basilar artery"),
]
#: "Not performed" is our addition: a randomized subject may not get the rescue treatment
#: (analysed by intention to treat), and the form must be able to say so, with a reason.
RESCUE_TREATMENTS = [("balloon", "Balloon angioplasty alone"), ("stent", "Stenting (balloon-assisted or direct)"), ("none", "Not performed")]
#: eTICI grades (Liebeskind 2019; not in clinical.md). mTICI has no 2c: its 2b is eTICI 2b or 2c.
REPERFUSION_GRADES = [(grade, grade) for grade in ("0", "1", "2a", "2b", "2c", "3")]
REPERFUSION_SCALE = "0 none; 1 thrombus reduction without distal reperfusion; 2a < 50 %; 2b 50-89 %; 2c 90-99 %; 3 complete"
MODALITIES = [("ct", "CT"), ("mri", "MRI")]
#: Fields of imaging_ich answered only when a haemorrhage is present.
ICH_FIELDS = ("heidelberg_class", "symptomatic", "nihss_increase")
#: Heidelberg Bleeding Classification (von Kummer, Stroke 2015;46:2981). clinical.md §8.5 names
#: 1a HI1, 1b HI2, 1c PH1, 2 PH2 and 3a (remote parenchymal haematoma) and calls the rest of
#: class 3 extracerebral; 3b-3d (intraventricular, subarachnoid, subdural) are from the paper.
#: One class per entry: when there are several haemorrhages, the site records the largest.
HEIDELBERG_CLASSES = [
    ("1a", "1a HI1: scattered small petechiae, no mass effect"),
    ("1b", "1b HI2: confluent petechiae, no mass effect"),
    ("1c", "1c PH1: haematoma within infarcted tissue, < 30 %, no substantive mass effect"),
    ("2", "2 PH2: haematoma of 30 % or more of the infarcted tissue, obvious mass effect"),
    ("3a", "3a Parenchymal haematoma remote from the infarcted tissue"),
    ("3b", "3b Intraventricular haemorrhage"),
    ("3c", "3c Subarachnoid haemorrhage"),
    ("3d", "3d Subdural haemorrhage"),
]
#: sICH definition: Heidelberg (clinical.md §8.5 Disagreement: Heidelberg / SITS-MOST / ECASS II; the
#: protocol names none). Heidelberg counts a new ICH as symptomatic with a NIHSS increase of >= 4
#: points (not ECASS II's "> 4"), or >= 2 points in one item, or a major intervention, when nothing
#: else explains it. Only the first part is computed; the site's "symptomatic" answer covers the rest.
SICH_NIHSS_INCREASE = 4
#: Used when the protocol has no rule on hours_since_last_known_well.
DEFAULT_ONSET_HOURS = 24


def heidelberg_symptomatic(ich_present: bool | None, nihss_increase: int | None) -> bool | None:
    """Heidelberg's NIHSS criterion for sICH: a haemorrhage with an increase of at least 4 points (None if unknown)."""
    if ich_present is False:
        return False
    if ich_present is None or nihss_increase is None:
        return None
    return nihss_increase >= SICH_NIHSS_INCREASE


class ProcedureStrokeForm(CrfForm):
    last_known_well = datetime_field("Last known well", description="Site local date and time")
    occlusion_site = choice("Occlusion site", OCCLUSION_SITES)
    residual_stenosis_pct = integer("Residual stenosis after thrombectomy (%)", 0, 100, "%")
    rescue_treatment = choice("Rescue treatment performed", RESCUE_TREATMENTS)
    rescue_not_performed_reason = text("Rescue treatment: reason not performed", 200, is_required=False)
    reperfusion_etici = choice("Final reperfusion grade (eTICI)", REPERFUSION_GRADES, description=REPERFUSION_SCALE)

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
            self.fail("last_known_well", (
                f"{self['last_known_well'].label.text}: must be before randomization "
                f"({to_local(randomized, self.context.timezone):%Y-%m-%d %H:%M:%S} at the site)."
            ))

    def warnings(self) -> list[Warning]:
        """Randomized more than the protocol's hours after last known well; residual stenosis below the gate.

        Both contradict eligibility: a true value is recorded, but must be confirmed.
        """
        found = []
        moment, randomized = self.local_to_utc(self.value("last_known_well")), self.context.index_at
        hours = onset_hours(self.context.protocol)
        if moment is not None and randomized is not None and randomized - moment > timedelta(hours=hours):
            elapsed = (randomized - moment).total_seconds() / 3600
            found.append(Warning("last_known_well_hours", "last_known_well", (
                f"Randomization was {elapsed:.1f} hours after last known well, more than the {hours} hours the protocol allows: "
                "confirm both times, and tell the monitor if the subject was not eligible."
            )))
        return found + self.eligibility_warnings(
            "residual_stenosis_pct", self.value("residual_stenosis_pct"), "residual_stenosis_pct", "Residual stenosis after thrombectomy (%)",
        )


def onset_hours(protocol: Protocol) -> int:
    """Hours allowed from last known well to randomization: the protocol's inclusion rule, else 24."""
    rule = protocol.inclusion_rule("hours_since_last_known_well")
    return int(rule.value) if rule and rule.value is not None else DEFAULT_ONSET_HOURS


class ImagingIchForm(CrfForm):
    imaging_datetime = datetime_field("Imaging date and time", description="Site local date and time")
    modality = choice("Modality", MODALITIES)
    ich_present = yes_no("Intracranial haemorrhage present")
    heidelberg_class = choice("Heidelberg classification", HEIDELBERG_CLASSES, is_required=False,
                              description="If there are several haemorrhages, the largest")
    symptomatic = yes_no("Symptomatic haemorrhage (investigator)", is_required=False, description=(
        "Heidelberg: NIHSS up 4 points or more, or 2 or more in one item, or intubation / hemicraniectomy / drainage, with no other cause"
    ))
    nihss_increase = integer("NIHSS increase (points)", 0, 42, "points", is_required=False,
                             description="From the score immediately before the deterioration; 0 if none")

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
            found.append(Warning("imaging_late", "imaging_datetime", (
                f"Imaging date and time: more than {hours} hours after randomization "
                f"({to_local(randomized, self.context.timezone):%Y-%m-%d %H:%M:%S} at the site); confirm the date and time."
            )))
        if moment is not None and randomized is not None and moment < randomized:
            found.append(Warning("imaging_before_randomization", "imaging_datetime", (
                f"Imaging date and time: before randomization ({to_local(randomized, self.context.timezone):%Y-%m-%d %H:%M:%S} "
                "at the site), so it does not count for the 48-hour sICH endpoint (a haemorrhage then is exclusion 1); "
                "confirm the date and time."
            )))
        site, increase = self.value("symptomatic"), self.value("nihss_increase")
        computed = heidelberg_symptomatic(self.value("ich_present"), increase)
        if site is not None and computed is not None and site != computed:
            found.append(Warning("symptomatic_disagrees", "symptomatic", (
                f"Symptomatic haemorrhage (investigator): answered {'yes' if site else 'no'}, but the NIHSS increase of {increase} "
                f"points is {'below' if site else 'at or above'} the Heidelberg threshold of {SICH_NIHSS_INCREASE}; confirm "
                + ("another Heidelberg criterion applies (2 or more points in one item, or a major intervention)." if site
                   else "that something other than the haemorrhage explains the deterioration.")
            )))
        return found

