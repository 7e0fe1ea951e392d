"""Ankle-brachial index: typed table and computed ABI and band per leg."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf import scales
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.abi import AbiForm, leg_abis, no_pedal_signal
from forms.base import FormContext


class AbiData(CrfData):
    __tablename__ = "abi_data"

    target_limb: Mapped[str | None] = mapped_column(String(5))
    brachial_right: Mapped[int | None]
    brachial_right_not_measurable: Mapped[bool | None]
    brachial_left: Mapped[int | None]
    brachial_left_not_measurable: Mapped[bool | None]
    #: Ankle systolic pressures, mmHg; the *_finding columns say why one is absent.
    pt_right: Mapped[int | None]
    pt_right_finding: Mapped[str | None] = mapped_column(String(20))
    dp_right: Mapped[int | None]
    dp_right_finding: Mapped[str | None] = mapped_column(String(20))
    pt_left: Mapped[int | None]
    pt_left_finding: Mapped[str | None] = mapped_column(String(20))
    dp_left: Mapped[int | None]
    dp_left_finding: Mapped[str | None] = mapped_column(String(20))
    #: Computed: ABI per leg (2 decimals) and its AHA/ACC band.
    abi_right: Mapped[Decimal | None] = mapped_column(Numeric(4, 2))
    band_right: Mapped[str | None] = mapped_column(String(20))
    abi_left: Mapped[Decimal | None] = mapped_column(Numeric(4, 2))
    band_left: Mapped[str | None] = mapped_column(String(20))


def compute(data: AbiData, context: FormContext) -> None:
    """ABI and band per leg; a leg with an incompressible ankle artery is banded noncompressible, its ABI left empty;
    a leg with no pedal signal has ABI 0.00, abnormal."""
    for side, value in leg_abis(lambda name: getattr(data, name)).items():
        incompressible = "incompressible" in (getattr(data, f"pt_{side}_finding"), getattr(data, f"dp_{side}_finding"))
        if incompressible:
            setattr(data, f"abi_{side}", None)
            setattr(data, f"band_{side}", "noncompressible")
        else:
            setattr(data, f"abi_{side}", value)
            setattr(data, f"band_{side}", scales.abi_category(value) if value is not None else None)


def leg_text(data: AbiData, side: str) -> str:
    """The ABI of one leg as shown: "0.64 (abnormal)", "0.00 (abnormal, no signal)", "— (noncompressible)"."""
    value, band = getattr(data, f"abi_{side}"), getattr(data, f"band_{side}")
    signal = ", no signal" if value is not None and no_pedal_signal(lambda name: getattr(data, name), side) else ""
    return f"{'—' if value is None else value} ({band or 'not computable'}{signal})"


def results(data: AbiData) -> list[tuple[str, str]]:
    return [(f"ABI {side}", leg_text(data, side)) for side in ("right", "left")]


#: One declaration (form, table, computation), two codes: `abi` at any visit (at the procedure visit: before the
#: procedure) and `abi_post`, the ABI after the procedure at the index procedure or discharge. The safety rules
#: measure a later fall from the best value after the procedure (ecrf/safety/rules.py).
INSTRUMENTS = [
    Instrument("abi", AbiForm, AbiData, compute=compute, results=results),
    Instrument("abi_post", AbiForm, AbiData, compute=compute, results=results),
]
