"""The base of every instrument form: missing-data codes, drafts, plausibility warnings.

Each data field `x` of a subclass gets two companions, `x__missing` (not done /
unknown / not applicable) and `x__reason`. A field with a missing code needs no
value but needs a reason. A field declared with `may_be_missing(field, *codes)`
accepts only those codes (none: it must always be answered, e.g. an event's type). A draft may leave fields empty; a complete entry may not,
and must confirm every plausibility warning. Values that are wrong (out of range,
not a number) are errors in both cases, so nothing invalid is ever stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.core import UnboundField
from wtforms.validators import Length, Optional

from ecrf.auth.models import User
from ecrf.crfs.context import FormContext
from ecrf.crfs.input import EntryInput
from ecrf.crfs.models import MissingCode
from forms.fields import wtforms_literal

MISSING = "__missing"
REASON = "__reason"
#: Fields of the base class, never data.
_NOT_DATA = {"csrf_token", "confirm", "version", "reason_for_change"}
#: The form's message when a complete save waits for warnings to be confirmed (each warning is shown at its field).
CONFIRM_WARNINGS = "Confirm each highlighted value below, or correct it, before saving as complete."
#: Where a field's errors go in the plain input of `CrfForm.from_plain` (see `CrfForm.plain_errors`).
_PLAIN_PLACES = {"confirm": "confirmed_warnings", "reason_for_change": "reason_for_change", "version": None, "csrf_token": None}


@dataclass(frozen=True)
class Warning:
    """A value that is possible but unusual: the user must confirm it before completing."""

    code: str
    field: str
    message: str


class CrfForm(FlaskForm):
    """Base class of instrument forms. Data fields are declared in paper order."""

    #: Codes of warnings the user confirmed (tick boxes shown next to each warning).
    confirm = SelectMultipleField("Confirm", choices=[], validate_choice=False)
    #: The entry's version when the form was opened (a save over a newer version is refused).
    version = HiddenField()
    #: Why a complete form is changed (required then; kept in the audit trail).
    reason_for_change = StringField("Reason for change", validators=[Optional(), Length(max=300, message="Reason for change: at most 300 characters.")])

    #: The missing-data codes each data field accepts (filled by `__init_subclass__`).
    allowed_missing: dict[str, tuple[MissingCode, ...]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.allowed_missing = dict(cls.allowed_missing)
        for name in list(vars(cls)):
            value = vars(cls)[name]
            if isinstance(value, UnboundField) and _is_data_name(name):
                label = value.args[0] if value.args else name
                codes = cls.allowed_missing[name] = tuple(getattr(value, "missing_codes", MissingCode))
                setattr(
                    cls,
                    name + MISSING,
                    SelectField(
                        f"{label}: missing",
                        choices=[SelectChoice("", "—")] + [SelectChoice(code.value, code.label) for code in codes],
                        validators=[Optional()],
                        validate_choice=False,
                    ),
                )
                setattr(
                    cls,
                    name + REASON,
                    StringField(
                        f"{label}: reason missing",
                        validators=[Optional(), Length(max=200, message=wtforms_literal(f"{label}: the reason may have at most 200 characters."))],
                    ),
                )

    def __init__(self, *args, context: FormContext, **kwargs):
        super().__init__(*args, **kwargs)
        self.context = context
        self.pending_warnings: list[Warning] = []
        self.completing = False

    # -- data fields and missing codes ----------------------------------------------------

    @classmethod
    def data_field_names(cls) -> list[str]:
        """Names of the data fields in paper (declaration) order."""
        unbound = [(name, value) for name in dir(cls) if isinstance(value := getattr(cls, name), UnboundField)]
        return [name for name, value in sorted(unbound, key=lambda item: item[1].creation_counter) if _is_data_name(name)]

    @classmethod
    def field_label(cls, name: str) -> str:
        """The label of a data field, without building the form."""
        unbound = getattr(cls, name)
        return unbound.args[0] if unbound.args else unbound.kwargs.get("label", name)

    def data_fields(self) -> list:
        """The data fields in paper order."""
        return [f for f in self if _is_data_name(f.name)]

    def missing_code(self, name: str) -> MissingCode | None:
        """The field's missing-data code, if it is one the field accepts."""
        value = self[name + MISSING].data
        return next((code for code in self.allowed_missing.get(name, MissingCode) if code.value == value), None)

    def _refused_missing_code(self, name: str) -> str | None:
        """The message for a missing-data code the field does not accept (None when there is none such)."""
        value = self[name + MISSING].data
        allowed = self.allowed_missing.get(name, tuple(MissingCode))
        if value not in {code.value for code in MissingCode} or value in {code.value for code in allowed}:
            return None
        label = self[name].label.text
        if not allowed:
            return f"{label}: cannot be given a missing-data code ({MissingCode(value).label}); it must be answered."
        return f"{label}: the missing-data code {MissingCode(value).label} is not allowed; only {' or '.join(code.label for code in allowed)}."

    def missing_map(self) -> dict[str, dict[str, str]]:
        """{field: {code, reason}} for fields given a missing-data code."""
        return {
            f.name: {"code": code.value, "reason": (self[f.name + REASON].data or "").strip()}
            for f in self.data_fields()
            if (code := self.missing_code(f.name))
        }

    def load_missing(self, missing: dict[str, dict[str, str]]) -> None:
        """Show stored missing-data codes (when the form is not being posted)."""
        for name, item in missing.items():
            if name + MISSING in self:
                self[name + MISSING].data = item.get("code")
                self[name + REASON].data = item.get("reason")

    @classmethod
    def from_plain(
        cls,
        values: Mapping[str, object],
        missing: Mapping[str, Mapping[str, str]],
        *,
        confirmed_warnings: Sequence[str] = (),
        reason_for_change: str = "",
        context: FormContext,
    ) -> CrfForm:
        """The form as a browser would post it with these plain values (the API's way in), so that they meet the very
        fields, parsing, checks and warnings of the page. A value is typed (int, Decimal, str, bool, date; a date-time
        naive in the site's local time) or text as typed; None, or a field not given, is left empty. `missing` is
        {field: {"code", "reason"}}. Validate it with `validate_entry`, as a posted form."""
        formdata: MultiDict[str, str] = MultiDict()
        for name in cls.data_field_names():
            formdata.setlist(name, _posted(getattr(cls, name), values.get(name)))
            if name in missing:
                formdata.add(name + MISSING, missing[name].get("code") or "")
                formdata.add(name + REASON, missing[name].get("reason") or "")
        formdata.setlist("confirm", list(confirmed_warnings))
        formdata.add("reason_for_change", reason_for_change)
        return cls(formdata=formdata, context=context, meta={"csrf": False})

    def plain_errors(self) -> list[tuple[str | None, str]]:
        """The errors of a validated form as (place, message) in the shape of `from_plain`'s input: "values.<field>",
        "missing.<field>.code", "missing.<field>.reason", "confirmed_warnings", "reason_for_change", or None for the
        form as a whole, each once (two rules refusing one item in the same words are one problem). Pending warnings
        are not in it (see `pending_warnings`)."""
        problems: list[tuple[str | None, str]] = []
        for field in self:
            if field.name.endswith(MISSING):
                place: str | None = f"missing.{field.name.removesuffix(MISSING)}.code"
            elif field.name.endswith(REASON):
                place = f"missing.{field.name.removesuffix(REASON)}.reason"
            else:
                place = _PLAIN_PLACES.get(field.name, f"values.{field.name}")
            problems += [(place, str(message)) for message in field.errors]
        problems += [(None, str(message)) for message in self.form_errors if message != CONFIRM_WARNINGS]
        return list(dict.fromkeys(problems))

    def value(self, name: str):
        """A field's value; None when it is empty or carries a missing code."""
        if self.missing_code(name):
            return None
        data = self[name].data
        return None if data == "" else data

    def entry_input(self, complete: bool, by: User | None = None) -> EntryInput:
        """The validated form as plain data for `save_entry`: site-local date-times as UTC instants, the version
        the form was opened at (empty: not yet saved by anyone then)."""
        values = {}
        for data_field in self.data_fields():
            value = self.value(data_field.name)
            values[data_field.name] = self.local_to_utc(value) if isinstance(value, datetime) and value.tzinfo is None else value
        version = (self.version.data or "").strip()
        return EntryInput(
            values=values,
            missing=self.missing_map(),
            confirmed_warnings=self.confirmed_codes(),
            version_seen=int(version) if version.isdigit() and len(version) < 19 else (None if not version else -1),
            reason=(self.reason_for_change.data or "").strip(),
            complete=complete,
            by=by,
        )

    # -- validation ----------------------------------------------------------------------

    def validate_entry(self, complete: bool) -> bool:
        """Validate for saving as a draft (`complete=False`) or as complete."""
        self.completing = complete
        super().validate()
        for field in self.data_fields():
            code = self.missing_code(field.name)
            refused = self._refused_missing_code(field.name)
            if refused:
                field.errors = [refused]
            elif code:
                field.errors = []
                if not (self[field.name + REASON].data or "").strip():
                    self[field.name + REASON].errors = [*list(self[field.name + REASON].errors), f"{field.label.text}: give the reason it is {code.label}."]
            elif not complete and _is_empty(field):
                field.errors = []
        if not self.errors:
            self.check()
        confirmed = set(self.confirm.data or [])
        self.pending_warnings = [w for w in self.warnings() if w.code not in confirmed] if not self.errors else []
        if complete and self.pending_warnings:
            self.form_errors.append(CONFIRM_WARNINGS)
        return not self.errors and not self.form_errors

    def confirmed_codes(self) -> list[str]:
        """Confirmed warnings that still apply to the values saved."""
        current = {w.code for w in self.warnings()}
        return sorted(set(self.confirm.data or []) & current)

    def check(self) -> None:
        """Cross-field rules; subclasses add errors with `self.fail(field, message)`."""

    def warnings(self) -> list[Warning]:
        """Plausibility warnings for the values entered; subclasses override."""
        return []

    def fail(self, name: str | None, message: str) -> None:
        """Record an error on a field (or the whole form)."""
        if name is None:
            self.form_errors.append(message)
        else:
            self[name].errors = [*list(self[name].errors), message]

    # -- common cross-field rules -----------------------------------------------------------

    def check_date_in_study(self, name: str, *, not_after: date | None = None, not_before: date | None = None, since: str = "day 0") -> None:
        """A date may not lie before day 0 (or `not_before`, called `since` in the message) nor after today at the site."""
        day = self.value(name)
        if isinstance(day, datetime):
            day = day.date()
        if day is None:
            return
        label = self[name].label.text
        latest = not_after or self.context.site_today
        if day > latest:
            self.fail(name, f"{label}: must not be after today at the site ({latest.isoformat()}).")
        elif day < (earliest := not_before or self.context.index_date):
            self.fail(name, f"{label}: must not be before {since} ({earliest.isoformat()}).")

    def require_if(self, condition: bool, name: str, why: str) -> None:
        """`name` is required, on completing, when `condition` holds (and it carries no missing code)."""
        if self.completing and condition and _is_empty(self[name]) and not self.missing_code(name):
            self.fail(name, f"{self[name].label.text}: required {why}.")

    def leave_empty(self, wrong: bool, name: str, why: str) -> None:
        """`name` must have no value when `wrong` holds (a follow-up whose question says it does not apply)."""
        if wrong and self.value(name) not in (None, "", []):
            self.fail(name, f"{self[name].label.text}: leave empty {why}.")

    def only_if(self, condition: bool | None, name: str, when: str, otherwise: str) -> None:
        """`name` is required (on completing) when `condition` holds and must stay empty when it does not;
        `condition` None (its question unanswered) sets no rule yet."""
        if condition is None:
            return
        self.require_if(condition, name, when)
        self.leave_empty(not condition, name, otherwise)

    def other_specified(self, name: str, other_name: str) -> None:
        """The "specify" text of an "Other" answer: required with it, empty without it."""
        answer = self.value(name)
        self.only_if(None if answer is None else answer == "other", other_name, "when the answer is Other", "unless the answer is Other")

    def yes(self, name: str) -> bool | None:
        """A yes/no answer, or None when unanswered or given a missing code."""
        value = self.value(name)
        return value if isinstance(value, bool) else None

    # -- warnings against the protocol ---------------------------------------------------------

    def eligibility_warnings(self, screening_field: str, value, target: str, what: str) -> list[Warning]:
        """At day 0, a warning for each eligibility criterion or randomization condition on `screening_field`
        that `value` contradicts: possible (re-assessment, entry error) but to be confirmed.

        An inclusion criterion whose alternatives involve other fields is not judged here.
        """
        if value is None or not self.context.is_baseline:
            return []
        protocol = self.context.protocol
        found = []
        groups = (
            (True, [("inclusion criterion", c) for c in protocol.eligibility.inclusion] + [("randomization condition", c) for c in protocol.allocation.gates]),
            (False, [("exclusion criterion", c) for c in protocol.eligibility.exclusion]),
        )
        for must_hold, criteria in groups:
            for kind, criterion in criteria:
                rules = [rule for rule in criterion.rules if rule.field == screening_field]
                if not rules or (must_hold and len(rules) != len(criterion.rules)):
                    continue
                if any(rule.holds(value) for rule in rules) != must_hold:
                    verdict = f"does not meet {kind}" if must_hold else f"meets {kind}"
                    found.append(
                        Warning(
                            f"eligibility_{criterion.code}",
                            target,
                            f"{what} {value} {verdict} \u201c{criterion.text.strip()}\u201d: confirm the value, and tell the monitor if the subject was not eligible.",
                        )
                    )
                    break  # one warning per side: a randomization condition repeating an inclusion criterion says nothing new
        return found

    def window_warning(self, name: str) -> list[Warning]:
        """A warning when the date in `name` lies outside the visit's stored window (an early or late exam must be confirmed)."""
        day = self.value(name)
        if day is None:
            return []
        context = self.context
        visit = context.protocol.visit(context.visit_code)
        first, last = context.window_start, context.window_end
        if first is None or last is None:
            first, last = (context.index_date + timedelta(days=offset) for offset in (visit.first_day, visit.last_day))
        if first <= day <= last:
            return []
        return [
            Warning(
                f"{name}_outside_window",
                name,
                f"{self[name].label.text}: {day.isoformat()} is outside the {visit.label} window ({first.isoformat()} to {last.isoformat()}): confirm the date.",
            )
        ]

    def local_to_utc(self, moment: datetime | None) -> datetime | None:
        """A naive site-local date-time from a form, as an aware UTC instant."""
        if moment is None:
            return None
        return moment.replace(tzinfo=ZoneInfo(self.context.timezone)).astimezone(ZoneInfo("UTC"))


def may_be_missing(field: UnboundField, *codes: MissingCode) -> UnboundField:
    """Declare the only missing-data codes a data field accepts; with none, the field can never be left missing.
    A field not declared so accepts every code."""
    field.missing_codes = codes
    return field


def _posted(field: UnboundField, value: object) -> list[str]:
    """What a browser posts for a field holding `value`: a tick box posts only when ticked; a date-time as the page's
    picker sends it, with its fraction of a second if it has one, so that the field refuses it (the page keeps whole
    seconds at most, and the API and the ODM import never drop part of a value: they name it); anything else as its
    text."""
    if value is None:
        return []
    if issubclass(field.field_class, BooleanField):
        return ["y"] if value is True or value == "y" else []
    if isinstance(value, datetime):
        return [value.strftime("%Y-%m-%dT%H:%M:%S.%f" if value.microsecond else "%Y-%m-%dT%H:%M:%S")]
    if isinstance(value, date):
        return [value.isoformat()]
    return [str(value)]


def _is_data_name(name: str) -> bool:
    return name not in _NOT_DATA and not name.endswith((MISSING, REASON))


def _is_empty(field) -> bool:
    """Nothing entered. A value typed but not readable ("abc", a number beyond 64 bits) is not empty: its error stands."""
    if field.raw_data and any(isinstance(raw, str) and raw.strip() for raw in field.raw_data):
        return False
    return field.data is None or field.data == "" or field.data == []
