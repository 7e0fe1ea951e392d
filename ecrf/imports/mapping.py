"""What the OIDs and codes of an ODM file mean here: the mapping an import resolves them with.

A file this app exported needs none: `own_mapping` gives its OIDs (`ecrf.exports.odm`: ST.<study>, LOC.<site>,
SE.<visit>, F.<instrument>, I.<instrument>.<item> ..., codes as stored). A file of another EDC comes with a YAML
mapping file (`load_mapping`), validated with pydantic against the study's protocol, its sites and the users; a wrong
file is refused with a message naming the file, the key and the reason, as a wrong protocol file is.

    study_oid: S_ACME_DEFIER          # their StudyOID (the study here is the command's STUDY)
    sites: {SITE_101: SH01}           # their LocationOID (SiteRef) -> site code here
    subjects: {"101-003": DEF-SH01-0103}  # their SubjectKey -> study subject ID here (others: kept as given)
    users: {U_17: coordinator@example.org}  # their UserOID -> user here, whose email names their history (others: by LoginName, else their name)
    events: {V_BL: baseline, V_ENROL: SUBJECT}  # their StudyEventOID -> visit code, or SUBJECT / ALLOCATION
    forms:                            # their FormOID -> instrument (or SUBJECT, VISIT, ALLOCATION) and its items
      F_ABI:
        instrument: abi
        items: {IT_SIDE: target_limb, IT_VDATE: VISIT.visit_date}
        codes: {target_limb: {R: right, L: left}}   # per item: their value -> code here
    codelists: {CL_NY: {Y: "true", N: "false"}}    # per code list of their metadata, for every item using it
    missing: {codelist: CL_ND, codes: {ND: not_done, UNK: unknown}}
    form_status: {codelist: CL_ST, codes: {DONE: complete, PART: draft}, default: complete}
    ignore: [IT_BMI]                  # OIDs left out on purpose
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from ecrf.crfs.items import Items, Kind
from ecrf.crfs.models import MissingCode
from ecrf.crfs.registry import instrument
from ecrf.exports.odm import (
    ALLOCATION,
    ARM_ITEM,
    FORM_STATES,
    MISSING_CODELIST,
    STATUS_CODELIST,
    SUBJECT,
    SUBJECT_ITEMS,
    VISIT,
    VISIT_ITEMS,
    event_oid,
    form_oid,
    item_oid,
    location_oid,
    study_oid,
)
from ecrf.protocols.loader import read_strict_yaml, validation_problems
from ecrf.protocols.schema import Protocol
from ecrf.subjects.services import GIVEN_CODE

#: The name of the arm's item in the pseudo-instrument ALLOCATION.
ARM = "arm"
#: What is not an instrument but holds a subject's or a visit's own data, with the items each takes.
OWN_FORMS: dict[str, list[str]] = {
    SUBJECT: [item.name for item in SUBJECT_ITEMS],
    VISIT: [item.name for item in VISIT_ITEMS],
    ALLOCATION: [ARM],
}
#: Events that are not visits: the subject's own and the allocation.
OWN_EVENTS = (SUBJECT, ALLOCATION)


class MappingError(Exception):
    """A mapping file is unreadable or wrong; the message names the file, the key and the reason."""


def _as_text(value: object) -> object:
    """YAML scalars as the text an ODM file holds: true/false as XML Schema writes them, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_as_text), Field(min_length=1)]
Codes = dict[Text, Text]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FormMap(_Strict):
    """One of their forms: the instrument (or own form) it is here, and what its items are."""

    instrument: Text
    #: Their ItemOID -> an item of `instrument`, or `SUBJECT.<item>` / `VISIT.<item>` for a subject's or visit's own.
    items: dict[Text, Text] = Field(default_factory=dict)
    #: Per item here (as named in `items`): their value -> the code here.
    codes: dict[Text, Codes] = Field(default_factory=dict)

    def target(self, name: str) -> tuple[str, str]:
        """(instrument or own form, item) an item name of `items` stands for."""
        own, _, item = name.partition(".")
        return (own, item) if item and own in OWN_FORMS else (self.instrument, name)


class Flags(_Strict):
    """Annotation flags of one of their code lists -> values here."""

    codelist: Text
    codes: Codes


class StatusFlags(Flags):
    #: The status of a form without a flag of `codelist`.
    default: Text = "complete"


class Mapping(_Strict):
    """Their OIDs and codes -> this study's (see the module's docstring)."""

    study_oid: Text
    sites: dict[Text, Text] = Field(default_factory=dict)
    subjects: dict[Text, Text] = Field(default_factory=dict)
    users: dict[Text, Text] = Field(default_factory=dict)
    events: dict[Text, Text] = Field(default_factory=dict)
    forms: dict[Text, FormMap] = Field(default_factory=dict)
    codelists: dict[Text, Codes] = Field(default_factory=dict)
    missing: Flags = Flags(codelist=MISSING_CODELIST, codes={code.value: code.value for code in MissingCode})
    form_status: StatusFlags = StatusFlags(codelist=STATUS_CODELIST, codes={state: state for state in FORM_STATES})
    ignore: list[Text] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fits_the_study(self, info: ValidationInfo) -> Mapping:
        """Every name here exists: visits, instruments and items of the protocol, codes of their code lists, the
        study's sites, users (checked when validated with a context: `load_mapping`)."""
        context = info.context
        if not context:
            return self
        problems = _problems(self, context["protocol"], context["sites"], context["emails"])
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _instruments(protocol: Protocol) -> list[str]:
    """Every instrument of the protocol's visits (for any arm), in protocol order."""
    return list(dict.fromkeys(code for visit in protocol.visits for codes in (visit.instruments, *visit.arm_instruments.values()) for code in codes))


def _items_of(code: str) -> Items | list[str]:
    if code in OWN_FORMS:
        return OWN_FORMS[code]
    return instrument(code).items


def _problems(mapping: Mapping, protocol: Protocol, sites: set[str], emails: set[str]) -> list[str]:
    """The names of `mapping` that are nothing here, as "key: reason" lines."""
    problems: list[str] = []
    visits = [visit.code for visit in protocol.visits]
    used = _instruments(protocol)
    for their, site in mapping.sites.items():
        if site not in sites:
            problems.append(f"sites.{their}: '{site}' is not a site of {protocol.short_title}; one of {', '.join(sorted(sites)) or 'none'}")
    for their, code in mapping.subjects.items():
        if not GIVEN_CODE.fullmatch(code):
            problems.append(f"subjects.{their}: '{code}' is not a study subject ID (1 to 32 letters, digits, '-', '_' or '.')")
    for their, email in mapping.users.items():
        if email.lower() not in emails:
            problems.append(f"users.{their}: no user '{email}' here")
    for their, visit in mapping.events.items():
        if visit not in visits and visit not in OWN_EVENTS:
            problems.append(f"events.{their}: '{visit}' is no visit of {protocol.short_title}; one of {', '.join(visits + list(OWN_EVENTS))}")
    for their, form in mapping.forms.items():
        if form.instrument not in used and form.instrument not in OWN_FORMS:
            problems.append(f"forms.{their}.instrument: '{form.instrument}' is no form of {protocol.short_title}; one of {', '.join(used + list(OWN_FORMS))}")
            continue
        for item_key, name in form.items.items():
            own, item = form.target(name)
            if item not in _names(own):
                problems.append(f"forms.{their}.items.{item_key}: '{name}' is no item of {own}; one of {', '.join(_names(own))}")
        for name, codes in form.codes.items():
            own, item = form.target(name)
            if item not in _names(own):
                problems.append(f"forms.{their}.codes.{name}: no item '{name}' in {own}")
                continue
            allowed = _code_values(own, item)
            if allowed is None:
                problems.append(f"forms.{their}.codes.{name}: item '{name}' has no code list")
            else:
                problems += [
                    f"forms.{their}.codes.{name}.{key}: '{value}' is not a code of {name}; one of {', '.join(allowed)}"
                    for key, value in codes.items()
                    if value not in allowed
                ]
    problems += [
        f"missing.codes.{key}: '{value}' is not a missing-data code; one of {', '.join(code.value for code in MissingCode)}"
        for key, value in mapping.missing.codes.items()
        if value not in set(MissingCode)
    ]
    states = {*FORM_STATES}
    problems += [
        f"form_status.codes.{key}: '{value}' is not a form status; one of {', '.join(FORM_STATES)}"
        for key, value in mapping.form_status.codes.items()
        if value not in states
    ]
    if mapping.form_status.default not in states:
        problems.append(f"form_status.default: '{mapping.form_status.default}' is not a form status; one of {', '.join(FORM_STATES)}")
    return problems


def _names(code: str) -> list[str]:
    declared = _items_of(code)
    return [item if isinstance(item, str) else item.name for item in declared]


def _code_values(code: str, name: str) -> list[str] | None:
    """The codes an item takes as ODM writes them, or None for an item without a code list."""
    if code == ALLOCATION:
        return None  # the arms: checked against the study when imported
    declared = _items_of(code)
    assert isinstance(declared, Items)
    item = declared[name]
    if item.kind in (Kind.YES_NO, Kind.TICK):
        return ["true", "false"]
    if item.kind in (Kind.CHOICE, Kind.GRADED):
        return [str(value) for value, _ in item.codes]
    return None


def load_mapping(path: Path, protocol: Protocol, sites: set[str], emails: set[str]) -> Mapping:
    """Read and validate a mapping file for a study with this protocol and sites, with these users' emails."""
    name = path.name
    try:
        data = read_strict_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingError(f"{name}: cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{name}: the file must be a mapping of keys to values")
    context: dict[str, Any] = {"protocol": protocol, "sites": sites, "emails": {email.lower() for email in emails}}
    try:
        return Mapping.model_validate(data, context=context)
    except ValidationError as exc:
        raise MappingError(f"{name}: " + "; ".join(validation_problems(exc))) from None


def own_mapping(study_code: str, protocol: Protocol, sites: set[str]) -> Mapping:
    """The mapping of the files this app exports (`ecrf.exports.odm`'s OIDs; codes, missing-data codes and form
    statuses as stored), for a study with this protocol and sites."""
    used = _instruments(protocol)
    forms = {form_oid(code): FormMap(instrument=code, items={item_oid(code, item.name): item.name for item in instrument(code).items}) for code in used}
    forms |= {
        form_oid(own): FormMap(instrument=own, items={item_oid(own, name): name for name in names}) for own, names in OWN_FORMS.items() if own != ALLOCATION
    }
    forms[form_oid(ALLOCATION)] = FormMap(instrument=ALLOCATION, items={ARM_ITEM: ARM})
    return Mapping(
        study_oid=study_oid(study_code),
        sites={location_oid(site): site for site in sites},
        events={event_oid(visit.code): visit.code for visit in protocol.visits} | {event_oid(own): own for own in OWN_EVENTS},
        forms=forms,
    )
