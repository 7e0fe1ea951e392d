"""Randomization lists: permuted blocks per stratum, import and export, atomic allocation."""

from __future__ import annotations

import csv
import io
import itertools
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select, update

from ecrf.auth.models import User
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols.schema import Protocol
from ecrf.randomization.models import RandomizationSlot
from ecrf.studies.models import Arm, Site, Study, StudySite
from ecrf.subjects.models import Subject

CSV_COLUMNS = ["stratum", "sequence", "block", "arm"]


class RandomizationError(Exception):
    """A list cannot be generated, imported or used as asked."""


class ListExhausted(RandomizationError):
    """No free slot is left in the subject's stratum."""


@dataclass(frozen=True)
class Slot:
    """One position of a generated list."""

    stratum: str
    sequence: int
    block: int
    block_size: int
    arm: str


def stratum_key(site_code: str, levels: dict[str, str] | None = None) -> str:
    """The stratum of a subject: the site, then each factor level in the protocol's order ("SH01/diabetes=yes")."""
    return "/".join([site_code] + [f"{factor}={level}" for factor, level in (levels or {}).items()])


def strata_of(protocol: Protocol, site_codes: Iterable[str]) -> list[str]:
    """Every stratum of the study: its sites (if stratified by site) times every combination of factor levels."""
    sites = list(site_codes) if protocol.allocation.stratify_by_site else ["ALL"]
    factors = protocol.allocation.strata
    combos = list(itertools.product(*[[(f.code, level) for level in f.levels] for f in factors]))
    return [stratum_key(site, dict(combo)) for site in sites for combo in combos]


def permuted_blocks(ratio: dict[str, int], block_sizes: list[int], minimum: int, rng: random.Random) -> list[tuple[int, int, str]]:
    """(block, block size, arm) for whole permuted blocks until at least `minimum` slots.

    Each block's size is drawn at random from `block_sizes`; it holds the arms in the
    ratio's proportion, in random order. Blocks are never cut, so the list stays balanced.
    """
    base = [arm for arm, weight in ratio.items() for _ in range(weight)]
    slots: list[tuple[int, int, str]] = []
    block = 0
    while len(slots) < minimum:
        block += 1
        size = rng.choice(block_sizes)
        arms = base * (size // len(base))
        rng.shuffle(arms)
        slots.extend((block, size, arm) for arm in arms)
    return slots


def generate(protocol: Protocol, site_codes: Iterable[str], seed: int, per_stratum: int) -> list[Slot]:
    """The whole list of a study: the same seed always gives the same list."""
    allocation = protocol.allocation
    if not allocation.ratio or not allocation.block_sizes:
        raise RandomizationError(f"{protocol.code} is not randomized")
    slots: list[Slot] = []
    for stratum in strata_of(protocol, site_codes):
        rng = random.Random(f"{seed}|{protocol.code}|{stratum}")
        blocks = permuted_blocks(allocation.ratio, allocation.block_sizes, per_stratum, rng)
        slots.extend(Slot(stratum, n, block, size, arm) for n, (block, size, arm) in enumerate(blocks, start=1))
    return slots


def store(study: Study, slots: list[Slot], source: str) -> int:
    """Store a list for a study that has none yet; returns the number of slots."""
    if db.session.scalar(select(exists().where(RandomizationSlot.study_id == study.id))):
        raise RandomizationError(f"{study.code} already has a randomization list; it is never replaced")
    arms = {arm.code: arm.id for arm in study.arms}
    db.session.add_all(
        RandomizationSlot(
            study_id=study.id,
            stratum=slot.stratum,
            sequence=slot.sequence,
            block=slot.block,
            block_size=slot.block_size,
            arm_id=arms[slot.arm],
            source=source,
        )
        for slot in slots
    )
    db.session.flush()
    return len(slots)


def generate_list(study: Study, protocol: Protocol, seed: int, per_stratum: int) -> int:
    """Generate and store the concealed list for every site of the study."""
    if per_stratum < 1:
        raise RandomizationError("--per-stratum must be at least 1")
    site_codes = db.session.scalars(select(Site.code).join(StudySite).where(StudySite.study_id == study.id).order_by(Site.code)).all()
    if not site_codes:
        raise RandomizationError(f"{study.code} has no sites yet")
    return store(study, generate(protocol, site_codes, seed, per_stratum), f"generated (seed {seed})")


def parse_csv(study: Study, protocol: Protocol, text: str) -> list[Slot]:
    """Slots from a statistician's CSV (stratum,sequence,block,arm), checked line by line."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != CSV_COLUMNS:
        raise RandomizationError(f"the header must be exactly {','.join(CSV_COLUMNS)}, not {','.join(reader.fieldnames or [])}")
    sites = db.session.scalars(select(Site.code).join(StudySite).where(StudySite.study_id == study.id)).all()
    known_strata = set(strata_of(protocol, sites))
    arms = {arm.code for arm in protocol.arms}
    slots: list[Slot] = []
    for line, row in enumerate(reader, start=2):
        try:
            sequence, block = int(row["sequence"]), int(row["block"])
        except (TypeError, ValueError):
            raise RandomizationError(f"line {line}: sequence and block must be whole numbers") from None
        if row["stratum"] not in known_strata:
            raise RandomizationError(f"line {line}: unknown stratum '{row['stratum']}'; strata are {', '.join(sorted(known_strata))}")
        if row["arm"] not in arms:
            raise RandomizationError(f"line {line}: unknown arm '{row['arm']}'; arms are {', '.join(sorted(arms))}")
        slots.append(Slot(row["stratum"], sequence, block, 0, row["arm"]))
    if not slots:
        raise RandomizationError("the file has no slots")
    for stratum, group in itertools.groupby(sorted(slots, key=lambda s: (s.stratum, s.sequence)), key=lambda s: s.stratum):
        sequences = [slot.sequence for slot in group]
        if sequences != list(range(1, len(sequences) + 1)):
            raise RandomizationError(f"stratum {stratum}: sequence numbers must run 1, 2, 3 ... without gaps or repeats")
    sizes = Counter((s.stratum, s.block) for s in slots)
    return [Slot(s.stratum, s.sequence, s.block, sizes[(s.stratum, s.block)], s.arm) for s in slots]


def export_csv(study: Study) -> str:
    """The whole list as CSV (stratum,sequence,block,arm), for the unblinded data manager."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = db.session.execute(
        select(RandomizationSlot.stratum, RandomizationSlot.sequence, RandomizationSlot.block, Arm.code)
        .join(Arm, Arm.id == RandomizationSlot.arm_id)
        .where(RandomizationSlot.study_id == study.id)
        .order_by(RandomizationSlot.stratum, RandomizationSlot.sequence)
    )
    writer.writerows(rows)
    return out.getvalue()


def allocate(subject: Subject, stratum: str, *, at: datetime, by: User | None = None) -> RandomizationSlot:
    """Give the subject the next free slot of its stratum, atomically.

    One UPDATE takes the lowest free slot only if it is still free; a concurrent
    allocation that took it first makes this one try the next. Slots are used in
    order and none is skipped, on SQLite and on PostgreSQL.
    """
    free = (
        select(RandomizationSlot.id)
        .where(RandomizationSlot.study_id == subject.study_id, RandomizationSlot.stratum == stratum, RandomizationSlot.subject_id.is_(None))
        .order_by(RandomizationSlot.sequence)
        .limit(1)
        .scalar_subquery()
    )
    while True:
        taken = db.session.execute(
            update(RandomizationSlot)
            .where(RandomizationSlot.id == free, RandomizationSlot.subject_id.is_(None))
            .values(subject_id=subject.id, allocated_at=at, allocated_by_id=by.id if by else None)
            .returning(RandomizationSlot.id)
            .execution_options(synchronize_session=False)
        ).scalar()
        if taken is not None:
            slot = db.session.get(RandomizationSlot, taken)
            assert slot is not None  # the UPDATE above just took this row
            db.session.refresh(slot)
            subject.arm_id, subject.randomized_at = slot.arm_id, at
            db.session.flush()
            return slot
        if not db.session.scalar(
            select(
                exists().where(
                    RandomizationSlot.study_id == subject.study_id,
                    RandomizationSlot.stratum == stratum,
                    RandomizationSlot.subject_id.is_(None),
                )
            )
        ):
            raise ListExhausted(f"The randomization list of {subject.study.short_title} has no free slot left in stratum {stratum}.")


def record_allocation(subject: Subject, arm_code: str, *, at: datetime | None) -> None:
    """Record the arm a subject of a randomized study was allocated elsewhere (an import from the system that
    randomized it), as it was and when (`at`, if known): this instance's list is neither used nor changed."""
    arms = {arm.code: arm for arm in subject.study.arms}
    if arm_code not in arms:
        raise InvalidInput.at("arm", f"Arm: '{arm_code}' is not an arm of {subject.study.short_title}; one of {', '.join(arms)}.")
    if subject.arm_id is not None:
        raise InvalidInput.at("arm", f"{subject.subject_code} is already allocated; an allocation is never changed.")
    subject.arm, subject.randomized_at = arms[arm_code], at
    db.session.flush()


@dataclass(frozen=True)
class StratumUse:
    """How much of a stratum's list is used (never which arm comes next)."""

    stratum: str
    total: int
    used: int

    @property
    def left(self) -> int:
        return self.total - self.used


def list_use(study: Study) -> list[StratumUse]:
    """Slots in all and used, per stratum."""
    rows = db.session.execute(
        select(RandomizationSlot.stratum, func.count(RandomizationSlot.id), func.count(RandomizationSlot.subject_id))
        .where(RandomizationSlot.study_id == study.id)
        .group_by(RandomizationSlot.stratum)
        .order_by(RandomizationSlot.stratum)
    )
    return [StratumUse(stratum, total, used) for stratum, total, used in rows]
