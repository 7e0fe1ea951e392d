"""Screening form: built from the study's protocol (its numeric criteria, its judged criteria, its strata)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm

from ecrf.protocols.schema import Protocol
from ecrf.screening.eligibility import describe_rule, judged_by_investigator, rule_fields
from ecrf.screening.fields import SCREENING_FIELDS
from forms.fields import choice, date_field, datetime_field, decimal, integer, yes_no


def answer_name(criterion_code: str) -> str:
    """The form field of a criterion judged by the investigator."""
    return "criterion_" + criterion_code.replace("-", "_")


def stratum_name(factor_code: str) -> str:
    return "stratum_" + factor_code.replace("-", "_")


def _rules_hint(protocol: Protocol, code: str) -> str:
    criteria = [("inclusion", c) for c in protocol.eligibility.inclusion] + [("randomization", c) for c in protocol.allocation.gates]
    criteria += [("exclusion", c) for c in protocol.eligibility.exclusion]
    hints = []
    for kind, criterion in criteria:
        unless = criterion.unless
        for rule in criterion.rules:
            if rule.field == code:
                hints.append(
                    f"{kind}: {describe_rule(rule)}"
                    + (f" (not applied when {SCREENING_FIELDS[unless.field].label.lower()}: {describe_rule(unless)})" if unless else "")
                )
        if unless is not None and unless.field == code:
            judged = ", ".join(dict.fromkeys(SCREENING_FIELDS[r.field].label for r in criterion.rules))
            hints.append(f"when {describe_rule(unless)}, the {kind} criterion on {judged} does not apply")
    return "; ".join(hints)


def _value_field(protocol: Protocol, code: str):
    spec = SCREENING_FIELDS[code]
    hint = _rules_hint(protocol, code)
    if spec.empty_means_never:
        hint += "; leave empty if it never happened"
    if spec.entered_as == "date":
        return date_field(
            spec.label, is_required=False, description=f"Days are counted to the screening date, and again to the enrolment date when enrolling. {hint}"
        )
    if spec.entered_as == "datetime":
        return datetime_field(
            spec.label, is_required=False, description=(f"Site local date and time; hours are counted to now and judged on the exact time. {hint}")
        )
    if spec.entered_as == "yes_no":
        return yes_no(spec.label, is_required=False, description=hint)
    if spec.places:
        return decimal(spec.label, spec.low, spec.high, spec.places, spec.unit, is_required=False, description=hint)
    return integer(spec.label, int(spec.low), int(spec.high), spec.unit, is_required=False, description=hint)


def screening_form_class(protocol: Protocol) -> type[FlaskForm]:
    """A form class for screening a patient for one study. Every value may stay empty until known;
    the outcome says which criteria are still unanswered."""

    class ScreeningForm(FlaskForm):
        screening_date = date_field("Screening date")

    for code in rule_fields(protocol):
        setattr(ScreeningForm, SCREENING_FIELDS[code].input_name, _value_field(protocol, code))
    for kind, criterion in judged_by_investigator(protocol):
        question = "Criterion met" if kind == "inclusion" else "Criterion applies (excludes the patient)"
        setattr(ScreeningForm, answer_name(criterion.code), yes_no(criterion.text.strip(), is_required=False, description=f"{kind}: {question}"))
    for factor in protocol.allocation.strata:
        setattr(ScreeningForm, stratum_name(factor.code), choice(factor.label, [(level, level) for level in factor.levels]))
    return ScreeningForm


def posted_values(form: FlaskForm, protocol: Protocol, timezone: str) -> dict[str, str]:
    """The screening values as text for storing: numbers, dates ISO, date-times ISO in UTC."""
    values = {}
    for code in rule_fields(protocol):
        data = form[SCREENING_FIELDS[code].input_name].data
        if data is None or data == "":
            continue
        if isinstance(data, bool):
            values[code] = "1" if data else "0"
        elif isinstance(data, datetime):
            values[code] = data.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC).isoformat()
        elif isinstance(data, date):
            values[code] = data.isoformat()
        else:
            values[code] = str(Decimal(data))
    return values


def form_data(record, protocol: Protocol) -> dict:
    """A stored record in form shape, to edit it (date-times in the site's local time)."""
    local = ZoneInfo(record.site.timezone)
    data: dict = {"screening_date": record.screening_date}
    for code, raw in record.values.items():
        spec = SCREENING_FIELDS.get(code)
        if spec is None:
            continue
        if spec.entered_as == "datetime":
            data[spec.input_name] = datetime.fromisoformat(raw).astimezone(local).replace(tzinfo=None)
        elif spec.entered_as == "yes_no":
            data[spec.input_name] = raw == "1"
        else:
            data[spec.input_name] = date.fromisoformat(raw) if spec.entered_as == "date" else Decimal(raw)
    for code, answer in record.answers.items():
        data[answer_name(code)] = answer
    for code, level in record.strata.items():
        data[stratum_name(code)] = level
    return data
