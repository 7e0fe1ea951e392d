"""ANGEL-ICAS stroke instruments: typed tables, and sICH by the Heidelberg NIHSS criterion."""

from __future__ import annotations

from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument

OCCLUSION_SITES = [
    ("ica", "Intracranial internal carotid artery (ICA)"),
    ("mca_m1", "Middle cerebral artery, M1 segment"),
    ("va_v4", "Vertebral artery, V4 segment"),
    ("basilar", "Basilar artery"),
]

#: "Not performed" is our addition: a randomized subject may not get the rescue treatment
#: (analysed by intention to treat), and the form must be able to say so, with a reason.
RESCUE_TREATMENTS = [("balloon", "Balloon angioplasty alone"), ("stent", "Stenting (balloon-assisted or direct)"), ("none", "Not performed")]

#: eTICI grades (Liebeskind 2019; not in clinical.md). mTICI has no 2c: its 2b is eTICI 2b or 2c.
REPERFUSION_GRADES = [(grade, grade) for grade in ("0", "1", "2a", "2b", "2c", "3")]

REPERFUSION_SCALE = "0 none; 1 thrombus reduction without distal reperfusion; 2a < 50 %; 2b 50-89 %; 2c 90-99 %; 3 complete"

MODALITIES = [("ct", "CT"), ("mri", "MRI")]

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


def heidelberg_symptomatic(ich_present: bool | None, nihss_increase: int | None) -> bool | None:
    """Heidelberg's NIHSS criterion for sICH: a haemorrhage with an increase of at least 4 points (None if unknown)."""
    if ich_present is False:
        return False
    if ich_present is None or nihss_increase is None:
        return None
    return nihss_increase >= SICH_NIHSS_INCREASE


PROCEDURE_STROKE_ITEMS = items(
    #: Entered in site local time, stored as a UTC instant.
    Item("last_known_well", "Last known well", Kind.DATETIME, description="Site local date and time"),
    #: ica / mca_m1 / va_v4 / basilar.
    Item("occlusion_site", "Occlusion site", Kind.CHOICE, codes=OCCLUSION_SITES),
    #: Residual stenosis after thrombectomy, % (the randomization gate's value).
    Item("residual_stenosis_pct", "Residual stenosis after thrombectomy (%)", Kind.INTEGER, low=0, high=100, unit="%"),
    #: balloon / stent / none, as performed (not checked against the randomized arm).
    Item("rescue_treatment", "Rescue treatment performed", Kind.CHOICE, codes=RESCUE_TREATMENTS),
    Item("rescue_not_performed_reason", "Rescue treatment: reason not performed", Kind.TEXT, max_length=200, required=False),
    #: Final eTICI grade: 0, 1, 2a, 2b, 2c, 3.
    Item("reperfusion_etici", "Final reperfusion grade (eTICI)", Kind.CHOICE, codes=REPERFUSION_GRADES, description=REPERFUSION_SCALE),
)


class ProcedureStrokeData(CrfData):
    __tablename__ = "procedure_stroke_data"

    __items__ = PROCEDURE_STROKE_ITEMS


IMAGING_ICH_ITEMS = items(
    #: Entered in site local time, stored as a UTC instant.
    Item("imaging_datetime", "Imaging date and time", Kind.DATETIME, description="Site local date and time"),
    #: ct / mri.
    Item("modality", "Modality", Kind.CHOICE, codes=MODALITIES),
    Item("ich_present", "Intracranial haemorrhage present", Kind.YES_NO),
    #: Heidelberg Bleeding Classification: 1a, 1b, 1c, 2, 3a, 3b, 3c, 3d.
    Item(
        "heidelberg_class",
        "Heidelberg classification",
        Kind.CHOICE,
        codes=HEIDELBERG_CLASSES,
        required=False,
        description="If there are several haemorrhages, the largest",
    ),
    #: The investigator's judgement of a symptomatic haemorrhage.
    Item(
        "symptomatic",
        "Symptomatic haemorrhage (investigator)",
        Kind.YES_NO,
        required=False,
        description="Heidelberg: NIHSS up 4 points or more, or 2 or more in one item, or intubation / hemicraniectomy / drainage, with no other cause",
    ),
    #: NIHSS points gained since immediately before the deterioration.
    Item(
        "nihss_increase",
        "NIHSS increase (points)",
        Kind.INTEGER,
        low=0,
        high=42,
        unit="points",
        required=False,
        description="From the score immediately before the deterioration; 0 if none",
    ),
    #: Computed: a haemorrhage with a NIHSS increase of at least 4 (Heidelberg's NIHSS criterion).
    Item("symptomatic_heidelberg", "Symptomatic by the Heidelberg NIHSS criterion", Kind.YES_NO, derived_from=("ich_present", "nihss_increase")),
)


class ImagingIchData(CrfData):
    __tablename__ = "imaging_ich_data"

    __items__ = IMAGING_ICH_ITEMS


def compute_imaging(data: ImagingIchData, context: FormContext) -> None:
    """sICH by the Heidelberg NIHSS criterion (False without a haemorrhage; None while the increase is unknown)."""
    data.symptomatic_heidelberg = heidelberg_symptomatic(data.ich_present, data.nihss_increase)


def _yes_no(value: bool | None) -> str:
    return "not answered" if value is None else ("yes" if value else "no")


def imaging_results(data: ImagingIchData) -> list[tuple[str, str]]:
    """The computed sICH beside the investigator's answer."""
    if data.ich_present is False:
        return [("Symptomatic ICH", "no haemorrhage")]
    computed = _yes_no(data.symptomatic_heidelberg)
    if data.symptomatic_heidelberg is None:
        computed = "not computable until the haemorrhage question and NIHSS increase are answered"
    return [(f"sICH, Heidelberg NIHSS criterion (increase \u2265 {SICH_NIHSS_INCREASE})", computed), ("Symptomatic (investigator)", _yes_no(data.symptomatic))]


def describe_imaging(data: ImagingIchData) -> str:
    """One line for the visit's list of scans, e.g. "CT 2026-01-02 01:00 UTC, haemorrhage, Heidelberg 2, symptomatic"."""
    when = f"{data.imaging_datetime:%Y-%m-%d %H:%M} UTC" if data.imaging_datetime else "time not entered"
    parts = [f"{(data.modality or 'imaging').upper()} {when}"]
    if data.ich_present is not None:
        parts.append("haemorrhage" if data.ich_present else "no haemorrhage")
    if data.ich_present and data.heidelberg_class:
        parts.append(f"Heidelberg {data.heidelberg_class}")
    if data.ich_present and (data.symptomatic or data.symptomatic_heidelberg):
        parts.append("symptomatic")
    return ", ".join(parts)


INSTRUMENTS = [
    Instrument("procedure_stroke", ProcedureStrokeData),
    # Repeating: every scan of the first 48 hours is one entry (a control scan after a first one, a scan at
    # neurological worsening), so that the sICH rule sees each of them.
    Instrument("imaging_ich", ImagingIchData, repeating=True, compute=compute_imaging, results=imaging_results, describe=describe_imaging),
]
