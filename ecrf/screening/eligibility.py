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
        for rule in criterion.rules:
            if rule.field not in found:
                found.append(rule.field)
    return found


def judged_by_investigator(protocol: Protocol) -> list[tuple[str, Criterion]]:
    """("inclusion" | "exclusion", criterion) for the criteria without a rule, in protocol order."""
    return [(kind, c) for kind, criteria in (("inclusion", protocol.eligibility.inclusion), ("exclusion", protocol.eligibility.exclusion))
            for c in criteria if not c.rules]


def derive(values: dict[str, str], *, screening_date: date, at: datetime) -> dict[str, Decimal]:
    """Numbers for every stored screening value: derived ones (days since onset, hours since last known
    well) computed from their date / date-time as of the screening date or the instant `at`."""
    numbers: dict[str, Decimal] = {}
    for code, raw in values.items():
        field = SCREENING_FIELDS.get(code)
        if field is None or raw in (None, ""):
            continue
        if field.entered_as == "date":
            numbers[code] = Decimal((screening_date - date.fromisoformat(raw)).days)
        elif field.entered_as == "datetime":
            hours = (at - datetime.fromisoformat(raw)).total_seconds() / 3600
            numbers[code] = Decimal(str(round(hours, 1)))
        else:
            numbers[code] = Decimal(raw)
    return numbers


def _rules_hold(rules: list[Rule], numbers: dict[str, Decimal]) -> bool | None:
    """Whether any rule holds; None when a value it needs is missing and none holds."""
    results = [rule.holds(numbers[rule.field]) if rule.field in numbers else None for rule in rules]
    if any(result is True for result in results):
        return True
    return None if None in results else False


def judge(protocol: Protocol, numbers: dict[str, Decimal], answers: dict[str, bool | None]) -> Judgement:
    """Judge every inclusion and exclusion criterion.

    A rule needing a value that is missing leaves its criterion unanswered, except an
    exclusion on an "empty means never" field (days since a stroke that never happened).
    """
    failed, unanswered = [], []
    for criterion in protocol.eligibility.inclusion:
        met = _rules_hold(criterion.rules, numbers) if criterion.rules else answers.get(criterion.code)
        if met is None:
            unanswered.append(criterion.code)
        elif not met:
            failed.append(criterion.code)
    for criterion in protocol.eligibility.exclusion:
        if criterion.rules:
            present = _rules_hold(criterion.rules, numbers)
            if present is None and all(SCREENING_FIELDS[r.field].empty_means_never for r in criterion.rules if r.field not in numbers):
                present = False
        else:
            present = answers.get(criterion.code)
        if present is None:
            unanswered.append(criterion.code)
        elif present:
            failed.append(criterion.code)
    return Judgement(failed, unanswered)


def failed_gates(protocol: Protocol, numbers: dict[str, Decimal]) -> list[Criterion]:
    """The randomization conditions that do not hold (a missing value fails)."""
    return [gate for gate in protocol.allocation.gates if not _rules_hold(gate.rules, numbers)]


def describe_rule(rule: Rule) -> str:
    """A rule in words: "> 0.80", "2.25 to 4.0 mm", "one of 0, 6"."""
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
        candidates = sorted({b + d for c in criteria for r in c[1].rules if r.field == code
                             for b in (r.value, r.low, r.high) if b is not None for d in (-step, Decimal(0), step)})
        candidates += [Decimal(v) for c in criteria for r in c[1].rules if r.field == code for v in (r.values or [])]
        for value in candidates + [Decimal(field.low), Decimal(field.high)]:
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
