"""Field types and factories whose messages name the field and say what is allowed.

Every factory returns an unbound field carrying `allowed` (a phrase such as "a whole
number from 40 to 300 mmHg"), used both in error messages and as the input's hint.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TypedDict

from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    EmailField,
    IntegerField,
    RadioField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields import Label
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ecrf import partial_dates
from ecrf.auth.emails import MAX_LENGTH as EMAIL_MAX_LENGTH
from ecrf.auth.emails import ONE_ADDRESS, is_email_address
from ecrf.crfs.items import Item, Kind
from ecrf.guards import BIGINT_MAX
from ecrf.partial_dates import year_problem


class Named:
    """Mixin: a parse error says which field and what it takes. `input_kind` says how a page shows the field
    (see `input_kind()`): templates choose the widget by it, never by the field's class name."""

    input_kind = "text"
    #: Set by the wtforms field this class is mixed into.
    label: Label

    def __init__(self, *args, allowed: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.allowed = allowed

    def parse_error(self) -> str:
        return f"{self.label.text}: not valid; enter {self.allowed or 'a valid value'}."


def _check_year(field, value):
    """Dates and date-times outside the accepted years are refused as typing errors (`ecrf.partial_dates`)."""
    problem = year_problem(value.year) if value is not None else None
    if problem:
        field.data = None
        raise ValueError(f"{field.label.text}: {problem}.")


class NamedDateField(Named, DateField):
    """A date entered as YYYY-MM-DD (the browser's date picker sends that)."""

    input_kind = "date"

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(f"{self.label.text}: not a valid date; enter it as YYYY-MM-DD.") from None
        _check_year(self, self.data)


class NamedTimeField(Named, TimeField):
    """A time of day entered as HH:MM (24-hour)."""

    input_kind = "time"

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(f"{self.label.text}: not a valid time; enter it as HH:MM (24-hour).") from None


#: A time of day with a fraction of a second ("10:30:00.5"), which no date-time field keeps.
_FRACTION_OF_A_SECOND = re.compile(r"\d:\d{2}:\d{2}[.,]\d")


class NamedDateTimeField(Named, DateTimeLocalField):
    """A local date and time at the site, YYYY-MM-DDTHH:MM (the browser's picker sends and shows that)."""

    input_kind = "datetime"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("format", ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            if valuelist and _FRACTION_OF_A_SECOND.search(valuelist[0]):
                raise ValueError(f"{self.label.text}: not a valid date and time: fractions of a second are not kept; enter YYYY-MM-DD HH:MM[:SS].") from None
            raise ValueError(f"{self.label.text}: not a valid date and time; enter YYYY-MM-DD HH:MM.") from None
        _check_year(self, self.data)


class NamedIntegerField(Named, IntegerField):
    """A whole number; one that is not, or that no database integer column holds, names the field and what it takes."""

    input_kind = "number"

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip():
            try:
                self.data = int(valuelist[0].strip())
                if abs(self.data) > BIGINT_MAX:  # no integer column holds it, even where the field has no range
                    raise ValueError
            except ValueError:
                self.data = None
                raise ValueError(self.parse_error()) from None
        else:
            self.data = None


class NamedDecimalField(Named, DecimalField):
    input_kind = "number"

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip():
            try:
                self.data = Decimal(valuelist[0].strip().replace(",", "."))
                if not self.data.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                self.data = None
                raise ValueError(self.parse_error()) from None
        else:
            self.data = None


class NamedRadioField(Named, RadioField):
    """One choice out of several; an unknown value names the field and lists the choices.

    An empty value is no answer: the page's "clear" choice of each group posts it (see crfs/_field.html).
    """

    input_kind = "radio"

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0] == "":
            self.data = None
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(f"{self.label.text}: choose {self.allowed}.") from None

    def pre_validate(self, form):
        if self.data is None or self.data == "":
            return
        if not any(self.data == choice.value for choice in self.choices):  # type: ignore[union-attr]
            raise ValidationError(f"{self.label.text}: choose {self.allowed}.")


class NamedStringField(Named, StringField):
    pass


class NamedTextAreaField(Named, TextAreaField):
    input_kind = "textarea"


class NamedBooleanField(Named, BooleanField):
    """A tick box for "tick all that apply" lists: unticked means no."""

    input_kind = "checkbox"


def wtforms_literal(message: str) -> str:
    """WTForms %-formats validator messages: keep a "%" in a label or unit literal."""
    return message.replace("%", "%%")


def required(label: str, allowed: str) -> InputRequired:
    """InputRequired whose message names the field and what it takes."""
    return InputRequired(message=f"{label}: required; {allowed}.")


def _presence(label: str, how: str, is_required: bool):
    """Required with a message saying `how` to answer ("enter a date ..."), or optional."""
    return required(label, how) if is_required else Optional()


def integer(label: str, low: int, high: int, unit: str = "", *, is_required: bool = True, description: str = ""):
    """A whole number in [low, high]."""
    allowed = f"a whole number from {low} to {high}{' ' + unit if unit else ''}"
    return NamedIntegerField(
        label,
        allowed=allowed,
        description=description,
        validators=[_presence(label, f"enter {allowed}", is_required), NumberRange(low, high, message=wtforms_literal(f"{label}: enter {allowed}."))],
        render_kw={"min": low, "max": high, "step": 1, "inputmode": "numeric"},
    )


def decimal(label: str, low: str, high: str, places: int, unit: str = "", *, is_required: bool = True, description: str = ""):
    """A decimal in [low, high] with at most `places` decimals."""
    allowed = f"a number from {low} to {high}{' ' + unit if unit else ''} (up to {places} decimals)"
    step = str(Decimal(1).scaleb(-places))

    def places_check(form, field):
        if field.data is not None and field.data.as_tuple().exponent < -places:
            raise ValidationError(f"{label}: enter {allowed}.")

    return NamedDecimalField(
        label,
        allowed=allowed,
        places=places,
        description=description,
        validators=[
            _presence(label, f"enter {allowed}", is_required),
            NumberRange(Decimal(low), Decimal(high), message=wtforms_literal(f"{label}: enter {allowed}.")),
            places_check,
        ],
        render_kw={"min": low, "max": high, "step": step, "inputmode": "decimal"},
    )


def choice(label: str, choices: list[tuple], *, is_required: bool = True, coerce=str, description: str = ""):
    """One of `choices` ((value, text) pairs), as radio buttons."""
    allowed = "one of " + ", ".join(str(text) for _, text in choices)
    return NamedRadioField(
        label,
        allowed=allowed,
        coerce=coerce,
        description=description,
        choices=[SelectChoice(value, text) for value, text in choices],
        validators=[_presence(label, f"choose {allowed}", is_required)],
    )


def _grade(value):
    """A posted grade as an int; "" is no answer; anything else is kept so that the field names the problem."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def graded(label: str, grades: list[tuple[int, str]], *, is_required: bool = True, description: str = ""):
    """Radio buttons of whole-number grades shown as "n — description"; messages give the range, not every text."""
    allowed = f"a grade from {grades[0][0]} to {grades[-1][0]}"
    return NamedRadioField(
        label,
        allowed=allowed,
        coerce=_grade,
        description=description,
        choices=[SelectChoice(value, f"{value} — {text}") for value, text in grades],
        validators=[_presence(label, f"choose {allowed}", is_required)],
    )


def _coerce_yes_no(value):
    if value in (True, "True", "yes"):
        return True
    if value in (False, "False", "no"):
        return False
    return None if value in (None, "", "None") else value


def yes_no(label: str, *, is_required: bool = True, description: str = ""):
    """Yes or no (a radio pair, so that "not answered" stays distinct from "no")."""
    return choice(label, [(True, "Yes"), (False, "No")], is_required=is_required, coerce=_coerce_yes_no, description=description)


def tick(label: str, description: str = ""):
    """One box of a "tick all that apply" list."""
    return NamedBooleanField(label, allowed="ticked or not", description=description)


def date_field(label: str, *, is_required: bool = True, description: str = ""):
    """A full date, YYYY-MM-DD."""
    allowed = "a date as YYYY-MM-DD"
    return NamedDateField(label, allowed=allowed, description=description, validators=[_presence(label, f"enter {allowed}", is_required)])


def datetime_field(label: str, *, is_required: bool = True, description: str = ""):
    """A local date and time at the site."""
    allowed = "a date and time as YYYY-MM-DD HH:MM (site local time)"
    return NamedDateTimeField(label, allowed=allowed, description=description, validators=[_presence(label, f"enter {allowed}", is_required)])


def text(label: str, max_length: int = 200, *, is_required: bool = True, long: bool = False, description: str = ""):
    """Free text up to `max_length` characters."""
    allowed = f"text of at most {max_length} characters"
    field_class = NamedTextAreaField if long else NamedStringField
    return field_class(
        label,
        allowed=allowed,
        description=description,
        validators=[
            _presence(label, f"enter {allowed}", is_required),
            Length(max=max_length, message=wtforms_literal(f"{label}: at most {max_length} characters.")),
        ],
    )


class PartialDateField(NamedStringField):
    """A date whose day, or day and month, may be unknown; its data is the normalised text (or None)."""

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "").strip()
        self.data = raw or None
        if raw:
            try:
                self.data = partial_dates.parse_partial(raw)
            except ValueError as error:
                raise ValueError(f"{self.label.text}: {error}; enter {partial_dates.FORMATS} (leave out the parts that are unknown).") from None


def partial_date(label: str, *, is_required: bool = True, description: str = ""):
    """A partial date, YYYY-MM-DD, YYYY-MM or YYYY, stored as that text (a String(10) column)."""
    allowed = f"a date as {partial_dates.FORMATS} (leave out the parts that are unknown)"
    presence = DataRequired(message=f"{label}: required; enter {allowed}.") if is_required else Optional()
    return PartialDateField(
        label,
        allowed=allowed,
        description=description or f"{partial_dates.FORMATS}: leave out the day, or day and month, if unknown.",
        validators=[presence],
        render_kw={"placeholder": "YYYY-MM-DD"},
    )


class _Common(TypedDict):
    """The arguments every factory called by `field_for` takes from the item."""

    is_required: bool
    description: str


def field_for(item: Item):
    """The form field of an entered item, made from its declaration (label, kind, unit, range, code list,
    missing-data codes, required, help text)."""
    if item.derived:
        raise ValueError(f"{item.name} is derived: it has no form field")
    common: _Common = {"is_required": item.required, "description": item.description}
    kind = item.kind
    if kind is Kind.INTEGER:
        field = integer(item.label, int(item.low), int(item.high), item.unit, **common)  # type: ignore[arg-type]
    elif kind is Kind.DECIMAL:
        field = decimal(item.label, str(item.low), str(item.high), item.places or 0, item.unit, **common)
    elif kind is Kind.CHOICE:
        field = choice(item.label, list(item.codes), **common)
    elif kind is Kind.GRADED:
        field = graded(item.label, list(item.codes), **common)  # type: ignore[arg-type]
    elif kind is Kind.YES_NO:
        field = yes_no(item.label, **common)
    elif kind is Kind.TICK:
        field = tick(item.label, item.description)
    elif kind is Kind.DATE:
        field = date_field(item.label, **common)
    elif kind is Kind.DATETIME:
        field = datetime_field(item.label, **common)
    elif kind is Kind.PARTIAL_DATE:
        field = partial_date(item.label, **common)
    elif kind is Kind.TEXT:
        field = text(item.label, item.max_length or 200, long=item.long, **common)
    else:
        raise ValueError(f"{item.name}: no form field for kind {kind}")
    if item.missing is not None:
        field.missing_codes = item.missing  # read by CrfForm (forms.base.may_be_missing)
    return field


class NamedEmailField(Named, EmailField):
    """One email address; the value is kept as typed, so that a refused one is shown again unchanged."""


def one_email_address(label: str):
    """Validator: exactly one address (no list, no spaces or control characters), as `ecrf.auth.emails` defines it."""

    def check(form, field):
        if field.data and not is_email_address(field.data):
            raise ValidationError(f"{label}: {ONE_ADDRESS}.")

    return check


def email_field(label: str = "Email", *, description: str = ""):
    """An email field that accepts exactly one address; every email field of the app is made here."""
    return NamedEmailField(
        label,
        allowed=f"one address of at most {EMAIL_MAX_LENGTH} characters",
        description=description,
        validators=[required(label, ONE_ADDRESS), one_email_address(label)],
        render_kw={"autocomplete": "email", "maxlength": EMAIL_MAX_LENGTH},
    )
