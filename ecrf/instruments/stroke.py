"""ANGEL-ICAS stroke instruments: typed tables, and sICH by the Heidelberg NIHSS criterion."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from ecrf.db import UTCDateTime
from forms.base import FormContext
from forms.stroke import SICH_NIHSS_INCREASE, ImagingIchForm, ProcedureStrokeForm, heidelberg_symptomatic


class ProcedureStrokeData(CrfData):
    __tablename__ = "procedure_stroke_data"

    #: Entered in site local time, stored as a UTC instant.
    last_known_well: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: ica / mca_m1 / va_v4 / basilar.
    occlusion_site: Mapped[str | None] = mapped_column(String(7))
    #: Residual stenosis after thrombectomy, % (the randomization gate's value).
    residual_stenosis_pct: Mapped[int | None]
    #: balloon / stent / none, as performed (not checked against the randomized arm).
    rescue_treatment: Mapped[str | None] = mapped_column(String(7))
    rescue_not_performed_reason: Mapped[str | None] = mapped_column(String(200))
    #: Final eTICI grade: 0, 1, 2a, 2b, 2c, 3.
    reperfusion_etici: Mapped[str | None] = mapped_column(String(2))


class ImagingIchData(CrfData):
    __tablename__ = "imaging_ich_data"

    #: Entered in site local time, stored as a UTC instant.
    imaging_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: ct / mri.
    modality: Mapped[str | None] = mapped_column(String(3))
    ich_present: Mapped[bool | None]
    #: Heidelberg Bleeding Classification: 1a, 1b, 1c, 2, 3a, 3b, 3c, 3d.
    heidelberg_class: Mapped[str | None] = mapped_column(String(2))
    #: The investigator's judgement of a symptomatic haemorrhage.
    symptomatic: Mapped[bool | None]
    #: NIHSS points gained since immediately before the deterioration.
    nihss_increase: Mapped[int | None]
    #: Computed: a haemorrhage with a NIHSS increase of at least 4 (Heidelberg's NIHSS criterion).
    symptomatic_heidelberg: Mapped[bool | None]


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
    return [(f"sICH, Heidelberg NIHSS criterion (increase \u2265 {SICH_NIHSS_INCREASE})", computed),
            ("Symptomatic (investigator)", _yes_no(data.symptomatic))]


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
    Instrument("procedure_stroke", ProcedureStrokeForm, ProcedureStrokeData),
    # Repeating: every scan of the first 48 hours is one entry (a control scan after a first one, a scan at
    # neurological worsening), so that the sICH rule sees each of them.
    Instrument("imaging_ich", ImagingIchForm, ImagingIchData, repeating=True, compute=compute_imaging, results=imaging_results,
               describe=describe_imaging),
]
