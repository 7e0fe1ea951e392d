"""Judging eligibility from a protocol's criteria: pure functions, no Flask, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from ecrf.protocols.schema import Criterion, Protocol, Rule
from ecrf.screening.fields import SCREENING_FIELDS


@dataclass(frozen=True)
class Judgement:
    """The outcome of a screening: criteria failed, and criteria that cannot be judged yet."""

    failed: list[str]
    unanswered: list[str]

    @property
    def eligible(self) -> bool:
        return not self.failed and not self.unanswered


def rule_fields(protocol: Protocol) -> list[str]:
    """The screening fields the protocol's criteria and randomization conditions name, in protocol order."""
    found: list[str] = []
    for criterion in protocol.eligibility.inclusion + protocol.eligibility.exclusion + protocol.allocation.gates:
        for rule in _condition_first(criterion):
            if rule.field not in found:
                found.append(rule.field)
    return found


def _condition_first(criterion: Criterion) -> list[Rule]:
    """The criterion's `unless` condition (asked first: "on dialysis" before the eGFR), then its rules."""
    return ([criterion.unless] if criterion.unless else []) + criterion.rules


def judged_by_investigator(protocol: Protocol) -> list[tuple[str, Criterion]]:
    """("inclusion" | "exclusion", criterion) for the criteria without a rule, in protocol order."""
    return [
        (kind, c)
        for kind, criteria in (("inclusion", protocol.eligibility.inclusion), ("exclusion", protocol.eligibility.exclusion))
        for c in criteria
        if not c.rules
    ]


def derive(values: dict[str, str], *, counted_to: date, at: datetime) -> dict[str, Decimal]:
    """Numbers for every stored screening value: derived ones computed from their date (days until `counted_to`:
    the screening date when screening, the enrolment date when enrolling) or date-time (hours until the instant
    `at`, exact to the microsecond: never rounded before a rule judges it; `SCREENING_FIELDS[code].shown` rounds
    it for people)."""
    numbers: dict[str, Decimal] = {}
    for code, raw in values.items():
        field = SCREENING_FIELDS.get(code)
        if field is None or raw in (None, ""):
            continue
        if field.entered_as == "date":
            numbers[code] = Decimal((counted_to - date.fromisoformat(raw)).days)
        elif field.entered_as == "datetime":
            elapsed = at - datetime.fromisoformat(raw)
            microseconds = (elapsed.days * 86400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
            numbers[code] = Decimal(microseconds) / Decimal(3_600_000_000)
        else:
            numbers[code] = Decimal(raw)
    return numbers


def shown_values(criterion: Criterion, values: dict[str, str], numbers: dict[str, Decimal], *, counted_to: str) -> str:
    """The values a criterion was judged on, as people read them (rounded for showing only), e.g.
    "Date of DVT symptom onset 2026-12-16: 86 days before the enrolment date 2027-03-12"; `counted_to`
    names the day that days are counted to."""
    parts = []
    for code in dict.fromkeys(rule.field for rule in _condition_first(criterion)):
        if code not in numbers:
            continue
        field = SCREENING_FIELDS[code]
        if field.entered_as == "date":
            parts.append(f"{field.label} {values[code]}: {int(numbers[code])} days before the {counted_to}")
        elif field.entered_as == "datetime":
            parts.append(f"{field.label}: {field.shown(numbers[code])} ago")
        else:
            parts.append(f"{field.label}: {field.shown(numbers[code])}")
    return "; ".join(parts)


def computed_values(values: dict[str, str], *, screening_date: date, at: datetime) -> list[str]:
    """The values computed from a date or a date-time as of the screening date and the instant `at` the outcome was
    judged, rounded for showing: "Last known well: 24.0 h before the outcome was judged"."""
    numbers = derive(values, counted_to=screening_date, at=at)
    shown = []
    for code, number in numbers.items():
        field = SCREENING_FIELDS[code]
        if field.entered_as == "date":
            shown.append(f"{field.label} {values[code]}: {int(number)} days before the screening date")
        elif field.entered_as == "datetime":
            shown.append(f"{field.label}: {field.shown(number)} before the outcome was judged")
    return shown


def _rules_hold(rules: list[Rule], numbers: dict[str, Decimal]) -> bool | None:
    """Whether any rule holds; None when a value it needs is missing and none holds."""
    results = [rule.holds(numbers[rule.field]) if rule.field in numbers else None for rule in rules]
    if any(result is True for result in results):
        return True
    return None if None in results else False


def _applies(criterion: Criterion, numbers: dict[str, Decimal]) -> bool | None:
    """Whether the criterion applies: not when its `unless` condition holds; None when that answer is missing."""
    condition = criterion.unless
    if condition is None:
        return True
    if condition.field not in numbers:
        return None
    return not condition.holds(numbers[condition.field])


def _inclusion_met(criterion: Criterion, numbers: dict[str, Decimal]) -> bool | None:
    """An inclusion (or randomization condition) judged by its rules: met where it does not apply; None when unknown."""
    applies, held = _applies(criterion, numbers), _rules_hold(criterion.rules, numbers)
    if applies is False or held is True:
        return True
    return False if applies is True and held is False else None


def _exclusion_present(criterion: Criterion, numbers: dict[str, Decimal]) -> bool | None:
    """An exclusion judged by its rules: absent where it does not apply; None when unknown."""
    held = _rules_hold(criterion.rules, numbers)
    if held is None and all(SCREENING_FIELDS[r.field].empty_means_never for r in criterion.rules if r.field not in numbers):
        held = False
    applies = _applies(criterion, numbers)
    if applies is False or held is False:
        return False
    return True if applies is True and held is True else None


def judge(protocol: Protocol, numbers: dict[str, Decimal], answers: dict[str, bool | None]) -> Judgement:
    """Judge every inclusion and exclusion criterion.

    A rule needing a value that is missing leaves its criterion unanswered, except an
    exclusion on an "empty means never" field (days since a stroke that never happened).
    A criterion with an `unless` condition that holds does not apply (inclusion met,
    exclusion absent); with that answer missing it is unanswered unless its rule settles
    it anyway (an eGFR of 60 excludes no one, on dialysis or not).
    """
    failed, unanswered = [], []
    for criterion in protocol.eligibility.inclusion:
        met = _inclusion_met(criterion, numbers) if criterion.rules else answers.get(criterion.code)
        if met is None:
            unanswered.append(criterion.code)
        elif not met:
            failed.append(criterion.code)
    for criterion in protocol.eligibility.exclusion:
        present = _exclusion_present(criterion, numbers) if criterion.rules else answers.get(criterion.code)
        if present is None:
            unanswered.append(criterion.code)
        elif present:
            failed.append(criterion.code)
    return Judgement(failed, unanswered)


def failed_gates(protocol: Protocol, numbers: dict[str, Decimal]) -> list[Criterion]:
    """The randomization conditions that do not hold (a missing value fails)."""
    return [gate for gate in protocol.allocation.gates if not _inclusion_met(gate, numbers)]


def describe_rule(rule: Rule) -> str:
    """A rule in words: "> 0.80", "2.25 to 4.0 mm", "one of 0, 6", "yes" (a yes/no answer)."""
    if SCREENING_FIELDS[rule.field].entered_as == "yes_no" and rule.op == "==":
        return "yes" if rule.value == 1 else "no"
    unit = f" {rule.unit}" if rule.unit else ""
    if rule.op == "between":
        return f"{rule.low} to {rule.high}{unit}"
    if rule.op == "in":
        return "one of " + ", ".join(rule.values or [])
    return f"{rule.op} {rule.value}{unit}"


def eligible_example(protocol: Protocol) -> tuple[dict[str, Decimal], dict[str, bool]]:
    """Values and answers that meet every criterion and randomization condition (for demo data and tests)."""
    criteria = [(True, c) for c in protocol.eligibility.inclusion + protocol.allocation.gates] + [(False, c) for c in protocol.eligibility.exclusion]
    numbers: dict[str, Decimal] = {}
    for code in rule_fields(protocol):
        field = SCREENING_FIELDS[code]
        step = Decimal(1).scaleb(-field.places)
        candidates = sorted(
            {
                b + d
                for c in criteria
                for r in c[1].rules
                if r.field == code
                for b in (r.value, r.low, r.high)
                if b is not None
                for d in (-step, Decimal(0), step)
            }
        )
        candidates += [Decimal(v) for c in criteria for r in c[1].rules if r.field == code for v in (r.values or [])]
        for value in [*candidates, Decimal(field.low), Decimal(field.high)]:
            if all(_example_fits(must_hold, c, code, value) for must_hold, c in criteria):
                numbers[code] = value
                break
    answers = {c.code: kind == "inclusion" for kind, c in judged_by_investigator(protocol)}
    return numbers, answers


def _example_fits(must_hold: bool, criterion: Criterion, code: str, value: Decimal) -> bool:
    rules = [r for r in criterion.rules if r.field == code]
    if not rules:
        return True
    holds = any(r.holds(value) for r in rules)
    # An inclusion with alternatives on other fields is met by those; only a single-field one must hold here.
    if must_hold and len(rules) < len(criterion.rules):
        return True
    return holds == must_hold


def values_from_numbers(numbers: dict[str, Decimal], *, screening_date: date, at: datetime) -> dict[str, str]:
    """Stored screening values for numbers (the inverse of `derive`): a day count becomes the date that many
    days before the screening date, an hour count the instant that many hours before `at`."""
    values = {}
    for code, number in numbers.items():
        entered_as = SCREENING_FIELDS[code].entered_as
        if entered_as == "date":
            values[code] = (screening_date - timedelta(days=int(number))).isoformat()
        elif entered_as == "datetime":
            values[code] = (at - timedelta(hours=float(number))).isoformat()
        else:
            values[code] = str(number)
    return values
