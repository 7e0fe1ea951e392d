"""Pydantic schema of a study protocol file (one YAML file per study).

The schema holds numbers and names (windows, arms, ratios, thresholds); the rules
that use them live in code. Cross-field checks raise `ValueError` with the dotted
key they concern first, so the loader can report file, key and reason.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from ecrf.protocols.instruments import INSTRUMENTS
from ecrf.screening.fields import SCREENING_FIELDS

Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)]


class Strict(BaseModel):
    """Base for protocol parts: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AllocationMethod(StrEnum):
    """How subjects get their arm."""

    CHOSEN = "chosen"  # the physician chooses the cohort; recorded at enrolment
    RANDOMIZED = "randomized"
    SINGLE_ARM = "single_arm"


class Arm(Strict):
    code: Code
    label: str
    description: str = ""


class Stratum(Strict):
    """A stratification factor besides the site, with its levels."""

    code: Code
    label: str
    levels: list[Code] = Field(min_length=2)


class Rule(Strict):
    """A machine-checkable condition on one screening value (a field of ecrf/screening/fields.py).

    For an inclusion criterion the condition must hold; for an exclusion criterion
    it excludes the patient when it holds. `between` is inclusive at both ends.
    """

    field: Code
    op: Literal["<", "<=", ">", ">=", "==", "between", "in"]
    value: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    values: list[str] | None = None
    unit: str = ""

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str) -> str:
        if name not in SCREENING_FIELDS:
            raise ValueError(f"unknown screening field '{name}'; known: {', '.join(SCREENING_FIELDS)}")
        return name

    @model_validator(mode="after")
    def _operands_fit_operator(self) -> Rule:
        if self.op == "between":
            if self.low is None or self.high is None or self.value is not None:
                raise ValueError("op 'between' takes low and high (and no value)")
            if self.low > self.high:
                raise ValueError(f"low {self.low} is above high {self.high}")
        elif self.op == "in":
            if not self.values:
                raise ValueError("op 'in' takes a non-empty list 'values'")
        elif self.value is None or self.low is not None or self.high is not None:
            raise ValueError(f"op '{self.op}' takes value (and no low/high)")
        return self

    def holds(self, observed: Decimal | int | str) -> bool:
        """Whether the observed value satisfies this condition."""
        if self.op == "in":
            return str(observed) in (self.values or [])
        number = Decimal(str(observed))
        if self.op == "between":
            assert self.low is not None and self.high is not None  # the validator requires both
            return self.low <= number <= self.high
        value = self.value
        assert value is not None  # the validator requires it for every other op
        return {
            "<": number < value,
            "<=": number <= value,
            ">": number > value,
            ">=": number >= value,
            "==": number == value,
        }[self.op]


class Criterion(Strict):
    """One eligibility criterion: its text and, for numeric ones, the rule(s) to judge it."""

    code: Code
    text: str
    rule: Rule | None = None
    #: Alternatives: the criterion is met when any of these rules holds.
    any_of: list[Rule] | None = None
    #: A condition on another screening answer under which the criterion does not apply (an inclusion
    #: counts as met, an exclusion as absent), e.g. DEFIANCE's eGFR exclusion unless on dialysis.
    unless: Rule | None = None

    @model_validator(mode="after")
    def _one_kind_of_rule(self) -> Criterion:
        if self.rule is not None and self.any_of is not None:
            raise ValueError("give either rule or any_of, not both")
        if self.unless is not None:
            if not self.rules:
                raise ValueError("unless: only a criterion with rule or any_of can have it; the investigator judges this one")
            if any(rule.field == self.unless.field for rule in self.rules):
                raise ValueError(f"unless: names {self.unless.field}, a value the criterion's own rule judges; name another answer")
        return self

    @property
    def rules(self) -> list[Rule]:
        """The rules of this criterion (empty when it is judged by the investigator)."""
        return [self.rule] if self.rule else list(self.any_of or [])


class Eligibility(Strict):
    inclusion: list[Criterion] = Field(min_length=1)
    exclusion: list[Criterion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_codes(self) -> Eligibility:
        for part in ("inclusion", "exclusion"):
            seen: set[str] = set()
            for criterion in getattr(self, part):
                if criterion.code in seen:
                    raise ValueError(f"{part}.{criterion.code}: duplicate criterion code")
                seen.add(criterion.code)
        return self


class Allocation(Strict):
    method: AllocationMethod
    #: Randomized studies: arm code -> weight, e.g. {balloon: 1, stent: 1}.
    ratio: dict[Code, Annotated[int, Field(ge=1)]] | None = None
    #: Randomized studies: permuted block sizes, each a multiple of the ratio's sum.
    block_sizes: list[Annotated[int, Field(ge=1)]] | None = None
    stratify_by_site: bool = True
    strata: list[Stratum] = Field(default_factory=list)
    #: Conditions that must hold before a subject may be randomized.
    gates: list[Criterion] = Field(default_factory=list)

    @property
    def randomized(self) -> bool:
        """Whether subjects get their arm by randomization."""
        return self.method is AllocationMethod.RANDOMIZED

    @property
    def enrol_label(self) -> str:
        """What the enrol button says: "Enrol and randomize" or "Enrol"."""
        return "Enrol and randomize" if self.randomized else "Enrol"

    @model_validator(mode="after")
    def _randomization_parameters(self) -> Allocation:
        randomized = self.method is AllocationMethod.RANDOMIZED
        if randomized and (not self.ratio or not self.block_sizes):
            raise ValueError("a randomized study needs ratio and block_sizes")
        if not randomized and (self.ratio or self.block_sizes or self.strata or self.gates):
            raise ValueError(f"ratio, block_sizes, strata and gates apply to randomized studies only, not '{self.method.value}'")
        if randomized:
            total = sum(self.ratio.values())  # type: ignore[union-attr]
            for size in self.block_sizes:  # type: ignore[union-attr]
                if size % total:
                    raise ValueError(f"block_sizes: {size} is not a multiple of the ratio's sum {total}")
        return self


class IndexEvent(Strict):
    """Day 0 of the schedule."""

    event: Literal["procedure", "randomization", "enrolment"]
    #: Names the date field, e.g. "Procedure date"; the time field adds "time".
    label: str
    #: True when the time of day matters (the index is a date-time, e.g. randomization).
    with_time: bool = False

    @property
    def time_label(self) -> str:
        """Label of the time field: "Randomization date" -> "Randomization time"."""
        return self.label.removesuffix(" date") + " time"


class Visit(Strict):
    code: Code
    label: str
    target_day: Annotated[int, Field(ge=0)]
    days_before: Annotated[int, Field(ge=0)] = 0
    days_after: Annotated[int, Field(ge=0)] = 0
    mode: Literal["procedure", "clinic", "telephone", "imaging"] = "clinic"
    instruments: list[Code] = Field(default_factory=list)
    #: Extra instruments for subjects of one arm: arm code -> instrument codes.
    arm_instruments: dict[Code, list[Code]] = Field(default_factory=dict)
    #: Outcome instruments entered by the blinded assessor (a subset of `instruments`).
    assessor_instruments: list[Code] = Field(default_factory=list)

    @field_validator("instruments")
    @classmethod
    def _known_instruments(cls, codes: list[str]) -> list[str]:
        _check_instruments(codes)
        return codes

    @field_validator("arm_instruments")
    @classmethod
    def _known_arm_instruments(cls, by_arm: dict[str, list[str]]) -> dict[str, list[str]]:
        for codes in by_arm.values():
            _check_instruments(codes)
        return by_arm

    @model_validator(mode="after")
    def _assessor_instruments_are_the_visits(self) -> Visit:
        stray = [code for code in self.assessor_instruments if code not in self.instruments]
        if stray:
            raise ValueError(f"assessor_instruments: {', '.join(stray)} not in this visit's instruments")
        return self

    @property
    def first_day(self) -> int:
        return self.target_day - self.days_before

    @property
    def last_day(self) -> int:
        return self.target_day + self.days_after

    def instruments_for(self, arm_code: str | None) -> list[str]:
        """Instrument codes this visit needs for a subject of the given arm."""
        return self.instruments + [c for c in self.arm_instruments.get(arm_code or "", []) if c not in self.instruments]


def _check_instruments(codes: list[str]) -> None:
    unknown = [code for code in codes if code not in INSTRUMENTS]
    if unknown:
        raise ValueError(f"unknown instrument {', '.join(unknown)}; allowed: {', '.join(INSTRUMENTS)}")
    if len(set(codes)) != len(codes):
        raise ValueError("an instrument is listed twice")


class SafetyRules(Strict):
    """Parameters of the safety rules; a rule with no parameter is off for the study."""

    #: Hours from site awareness of a serious AE to the report to the sponsor.
    sae_report_hours: Annotated[int, Field(ge=1)] = 24
    #: Days an ongoing AE may go without an update before it is flagged.
    ae_update_days: Annotated[int, Field(ge=1)] = 30
    #: ABI fall (per leg) from the best value after the procedure that raises a flag.
    abi_drop: Annotated[Decimal, Field(gt=0)] | None = None
    #: A follow-up ABI less than this above the pre-procedure value, after the procedure had gained at least this
    #: much, counts as a return to the pre-procedure value (PARC failure) and raises a flag.
    abi_return_margin: Annotated[Decimal, Field(gt=0)] | None = None
    #: Rutherford categories worse than the best category after the procedure that raise a flag; reaching the
    #: pre-procedure category again after an improvement is flagged too.
    rutherford_worsening: Annotated[int, Field(ge=1, le=6)] | None = None
    villalta_severe: Annotated[int, Field(ge=0, le=33)] | None = None
    villalta_ulcer_is_severe: bool = False
    #: Post-thrombotic syndrome is judged at visits from this target day on, after the acute phase; never at
    #: baseline, where the Villalta score is the presenting DVT's. Required with `villalta_severe`.
    villalta_pts_from_day: Annotated[int, Field(ge=1)] | None = None
    #: sICH flag: a symptomatic intracranial haemorrhage this many hours after the index instant (randomization).
    ich_hours: Annotated[int, Field(ge=1)] | None = None
    #: Who makes a haemorrhage on imaging symptomatic for that flag: the investigator's answer, the computed
    #: Heidelberg NIHSS criterion (increase >= 4), or either of them.
    sich_symptomatic_by: Literal["investigator", "heidelberg", "either"] = "either"
    early_death_days: Annotated[int, Field(ge=1)] | None = None
    #: A cardiac marker's post-PCI peak above this multiple of its ULN is a periprocedural MI (judged unrounded).
    periprocedural_mi_uln_multiple: Annotated[Decimal, Field(gt=0)] | None = None
    #: When the pre-PCI value is already above the ULN, the peak must also rise more than this % above it.
    periprocedural_mi_rise_percent: Annotated[Decimal, Field(ge=0)] | None = None
    #: QFR at or below this value at `qfr_visit` raises a flag (0.80: QFR <= 0.80 fails).
    qfr_flag_at_or_below: Decimal | None = None
    qfr_visit: Code | None = None
    #: Which amputations raise a flag: "any" (minor or major) or "major" only; none when absent.
    amputation: Literal["any", "major"] | None = None

    @model_validator(mode="after")
    def _pts_after_the_acute_phase(self) -> SafetyRules:
        if self.villalta_severe is not None and self.villalta_pts_from_day is None:
            raise ValueError(
                "villalta_pts_from_day: required with villalta_severe (the first target day at which "
                "post-thrombotic syndrome is judged, after the acute phase; never 0)"
            )
        return self


class Endpoints(Strict):
    primary: list[str] = Field(min_length=1)
    secondary: list[str] = Field(default_factory=list)
    safety: list[str] = Field(default_factory=list)
    #: Duplex peak systolic velocity ratio at or above which a segment counts as restenosed.
    psvr_restenosis: Decimal | None = None


class Protocol(Strict):
    """One study's protocol, as the system runs it."""

    code: Code
    short_title: str = Field(max_length=60)
    title: str
    registry_id: str | None = None
    design: str
    target_enrolment: Annotated[int, Field(ge=1)]
    #: Prefix of study subject IDs: <prefix>-<site code>-<4-digit number>.
    subject_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,6}$")]
    index: IndexEvent
    arms: list[Arm] = Field(min_length=1)
    allocation: Allocation
    visits: list[Visit] = Field(min_length=1)
    eligibility: Eligibility
    safety: SafetyRules = SafetyRules()
    endpoints: Endpoints
    #: The study document this file follows, as a path relative to the repository ("../shared/seeds/...").
    source: str = ""

    @field_validator("source")
    @classmethod
    def _relative_source(cls, path: str) -> str:
        if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", path):
            raise ValueError(f"'{path}' is a machine path; name the source relative to the repository, e.g. ../shared/seeds/<file>")
        return path

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        self._check_arms()
        self._check_visits()
        return self

    def _check_arms(self) -> None:
        codes = [arm.code for arm in self.arms]
        if len(set(codes)) != len(codes):
            raise ValueError(f"arms: duplicate arm code in {codes}")
        allocation = self.allocation
        if allocation.method is AllocationMethod.SINGLE_ARM and len(codes) != 1:
            raise ValueError(f"arms: a single_arm study has exactly one arm, not {len(codes)}")
        if allocation.method is not AllocationMethod.SINGLE_ARM and len(codes) < 2:
            raise ValueError(f"arms: a {allocation.method.value} study needs at least two arms")
        if allocation.ratio is not None and set(allocation.ratio) != set(codes):
            missing = sorted(set(codes) - set(allocation.ratio))
            extra = sorted(set(allocation.ratio) - set(codes))
            raise ValueError(
                "allocation.ratio: must name every arm exactly"
                + (f"; arm missing from the ratio: {', '.join(missing)}" if missing else "")
                + (f"; no such arm: {', '.join(extra)}" if extra else "")
            )
        for visit in self.visits:
            for arm_code in visit.arm_instruments:
                if arm_code not in codes:
                    raise ValueError(f"visits.{visit.code}.arm_instruments: no such arm '{arm_code}'; arms are {', '.join(codes)}")

    def _check_visits(self) -> None:
        seen: set[str] = set()
        for visit in self.visits:
            if visit.code in seen:
                raise ValueError(f"visits.{visit.code}: duplicate visit code")
            seen.add(visit.code)
        for previous, visit in zip(self.visits, self.visits[1:], strict=False):
            if visit.target_day <= previous.target_day:
                raise ValueError(
                    f"visits.{visit.code}.target_day: day {visit.target_day} is not after "
                    f"the previous visit {previous.code} (day {previous.target_day}); list visits in order"
                )
            if previous.last_day >= visit.target_day:
                raise ValueError(
                    f"visits.{previous.code}.days_after: the window ends on day {previous.last_day}, "
                    f"not before the next visit {visit.code}'s target day {visit.target_day}"
                )
            if visit.first_day <= previous.target_day:
                raise ValueError(
                    f"visits.{visit.code}.days_before: the window opens on day {visit.first_day}, "
                    f"not after the previous visit {previous.code}'s target day {previous.target_day}"
                )
        pts_day = self.safety.villalta_pts_from_day
        if pts_day is not None and not any(visit.target_day >= pts_day for visit in self.visits):
            raise ValueError(f"safety.villalta_pts_from_day: no visit on or after day {pts_day}")
        if self.safety.qfr_visit is not None and self.safety.qfr_visit not in seen:
            raise ValueError(f"safety.qfr_visit: no such visit '{self.safety.qfr_visit}'")

    def arm(self, code: str) -> Arm:
        """The arm with this code (KeyError if none)."""
        for arm in self.arms:
            if arm.code == code:
                return arm
        raise KeyError(code)

    def inclusion_rule(self, field: str) -> Rule | None:
        """The first inclusion rule on a screening field, if any."""
        return next((rule for criterion in self.eligibility.inclusion for rule in criterion.rules if rule.field == field), None)

    def visit(self, code: str) -> Visit:
        """The visit with this code (KeyError if none)."""
        for visit in self.visits:
            if visit.code == code:
                return visit
        raise KeyError(code)
