"""Access decisions: the one place that says what a user may see and do.

A user holds roles per (study, site) through memberships. Views ask `can(...)`
and load objects through `subject_or_404` / `scoped(...)`, so a user never
reaches another site's data: objects outside their sites are "not found".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload

from flask import abort, g
from sqlalchemy import ColumnElement, Select, and_, false, or_, select, tuple_
from sqlalchemy.orm import joinedload

from ecrf.auth.models import Membership, Role, User
from ecrf.crfs.models import CrfEntry
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.queries.models import DataQuery
from ecrf.safety.models import Flag
from ecrf.screening.models import ScreeningRecord
from ecrf.studies.models import Site, Study
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit
from ecrf.visits.services import visit_by_code


class Action(StrEnum):
    """Things a user may do to a study at a site."""

    VIEW = "view"
    VIEW_SCREENING = "view_screening"
    ENROL = "enrol"
    RECORD_VISIT = "record_visit"
    ENTER_DATA = "enter_data"
    END_PARTICIPATION = "end_participation"
    MANAGE_RANDOMIZATION = "manage_randomization"
    SEE_ARM = "see_arm"
    VERIFY = "verify"  # source data verification
    SIGN = "sign"  # the investigator's electronic signature
    LOCK = "lock"  # lock and unlock forms
    RAISE_QUERY = "raise_query"  # raise queries (closing and re-opening: `may_take_query_step`)
    SETTLE_ANY_QUERY = "settle_any_query"  # close and re-open queries raised by others
    ANSWER_QUERY = "answer_query"
    VIEW_AUDIT = "view_audit"  # history of a subject or a field
    VIEW_FLAGS = "view_flags"  # safety flags and SAE clocks
    DECIDE_FLAG = "decide_flag"  # confirm or dismiss a safety signal
    MANAGE_USERS = "manage_users"  # the admin page: create, disable, memberships (see `ecrf.admin`)
    EXPORT = "export"  # data out (ecrf.exports): a blinded assessor only their own visits and forms, never the arm
    IMPORT = "import"  # data in from another system (ecrf.imports): subjects, visits, forms and their history


SITE_STAFF = frozenset({Role.COORDINATOR, Role.INVESTIGATOR})
#: Roles allowed each action. A blinded assessor is limited further: never the arm, and
#: only the visits and forms the protocol gives the assessor (see `instrument_codes`).
ALLOWED: dict[Action, frozenset[Role]] = {
    Action.VIEW: frozenset(Role),
    Action.VIEW_SCREENING: frozenset(Role) - {Role.BLINDED_ASSESSOR},
    Action.ENROL: SITE_STAFF,
    Action.RECORD_VISIT: SITE_STAFF | {Role.BLINDED_ASSESSOR},
    Action.ENTER_DATA: SITE_STAFF | {Role.BLINDED_ASSESSOR},
    Action.END_PARTICIPATION: SITE_STAFF,
    Action.MANAGE_RANDOMIZATION: frozenset({Role.DATA_MANAGER}),
    Action.SEE_ARM: frozenset(Role) - {Role.BLINDED_ASSESSOR},
    Action.VERIFY: frozenset({Role.MONITOR}),
    Action.SIGN: frozenset({Role.INVESTIGATOR}),
    Action.LOCK: frozenset({Role.DATA_MANAGER}),
    Action.RAISE_QUERY: frozenset({Role.MONITOR, Role.DATA_MANAGER}),
    Action.SETTLE_ANY_QUERY: frozenset({Role.DATA_MANAGER}),
    Action.ANSWER_QUERY: SITE_STAFF,
    Action.VIEW_AUDIT: frozenset(Role) - {Role.BLINDED_ASSESSOR},
    Action.MANAGE_USERS: frozenset({Role.ADMIN}),
    Action.VIEW_FLAGS: frozenset(Role) - {Role.BLINDED_ASSESSOR, Role.ADMIN},
    Action.DECIDE_FLAG: frozenset({Role.INVESTIGATOR}),
    Action.EXPORT: frozenset(Role) - {Role.ADMIN},
    Action.IMPORT: frozenset({Role.DATA_MANAGER}),
}


@dataclass
class Grants:
    """A user's roles per (study id, site id), loaded once per request."""

    roles: dict[tuple[int, int], set[Role]] = field(default_factory=dict)
    studies: dict[int, Study] = field(default_factory=dict)
    sites: dict[int, Site] = field(default_factory=dict)

    def allows(self, action: Action, study_id: int, site_id: int) -> bool:
        """Whether the roles held at (study, site) allow `action`; a blinded assessor holds only that role's rights."""
        held = self.roles.get((study_id, site_id), set())
        if Role.BLINDED_ASSESSOR in held:
            held = {Role.BLINDED_ASSESSOR}
        return bool(held & ALLOWED[action])

    def blinded(self, study_id: int, site_id: int) -> bool:
        """The user is a blinded assessor at (study, site)."""
        return Role.BLINDED_ASSESSOR in self.roles.get((study_id, site_id), set())

    def sites_of(self, study_id: int) -> list[Site]:
        """Sites of one study the user belongs to, by code."""
        return sorted((self.sites[s] for (st, s) in self.roles if st == study_id), key=lambda site: site.code)


def grants(user: User) -> Grants:
    """The user's grants, cached for the request."""
    cache = g.setdefault("_ecrf_grants", {})
    if user.id not in cache:
        result = Grants()
        memberships = db.session.scalars(
            select(Membership).where(Membership.user_id == user.id).options(joinedload(Membership.study), joinedload(Membership.site))
        )
        for membership in memberships:
            result.roles.setdefault((membership.study_id, membership.site_id), set()).add(membership.role)
            result.studies[membership.study_id] = membership.study
            result.sites[membership.site_id] = membership.site
        cache[user.id] = result
    return cache[user.id]


def can(user: User, action: Action, study_id: int, site_id: int) -> bool:
    """Whether `user` may do `action` in the study at the site."""
    return grants(user).allows(action, study_id, site_id)


def require(user: User, action: Action, study_id: int, site_id: int) -> None:
    """Abort with 404 unless the user may see the site's data, 403 if they see it but may not act."""
    if not can(user, Action.VIEW, study_id, site_id):
        abort(404)
    if not can(user, action, study_id, site_id):
        abort(403)


class SiteNotYours(LookupError):
    """A site code asked for that is not one of the user's sites in the study (`sites_where`)."""

    def __init__(self, site_code: str, study: Study, yours: list[Site]) -> None:
        super().__init__(f"{site_code!r} is not one of the user's sites in {study.code}")
        self.site_code = site_code
        self.study = study
        #: The user's sites in the study, by code (for the message).
        self.yours = yours


def sites_where(user: User, action: Action, study: Study, site_code: str | None = None) -> list[Site]:
    """The sites of `study` where the user's role allows `action` (all of them, by code), or just the site named
    `site_code`. 403 where that leaves none (or the site named is theirs but their role there does not allow it);
    `SiteNotYours` for a code that is not one of their sites in the study."""
    known = grants(user)
    mine = known.sites_of(study.id)
    allowed = [site for site in mine if known.allows(action, study.id, site.id)]
    if site_code is None:
        if not allowed:
            abort(403)
        return allowed
    site = next((site for site in mine if site.code == site_code), None)
    if site is None:
        raise SiteNotYours(site_code, study, mine)
    if site not in allowed:
        abort(403)
    return [site]


def scoped(stmt: Select, user: User, study_col=Subject.study_id, site_col=Subject.site_id) -> Select:
    """Restrict a query to the (study, site) pairs the user belongs to."""
    pairs = list(grants(user).roles)
    if not pairs:
        return stmt.where(false())
    return stmt.where(tuple_(study_col, site_col).in_(pairs))


def subject_or_404(user: User, subject_code: str) -> Subject:
    """The subject with this study subject ID, if the user may see it; 404 otherwise."""
    return db.first_or_404(scoped(select(Subject).where(Subject.subject_code == subject_code), user))


def visit_or_404(user: User, subject_code: str, visit_code: str) -> Visit:
    """A subject's visit by its protocol code, if the user may see the subject and it has that visit; 404 otherwise."""
    visit = visit_by_code(subject_or_404(user, subject_code), visit_code)
    if visit is None:
        abort(404)
    return visit


@overload
def study_site_or_404(user: User, study_code: str) -> tuple[Study, None]: ...


@overload
def study_site_or_404(user: User, study_code: str, site_code: str) -> tuple[Study, Site]: ...


@overload
def study_site_or_404(user: User, study_code: str, site_code: str | None) -> tuple[Study, Site | None]: ...


def study_site_or_404(user: User, study_code: str, site_code: str | None = None) -> tuple[Study, Site | None]:
    """The study (and site) if the user belongs to them; 404 otherwise."""
    known = grants(user)
    study = next((s for s in known.studies.values() if s.code == study_code), None)
    if study is None:
        abort(404)
    if site_code is None:
        return study, None
    site = next((s for s in known.sites_of(study.id) if s.code == site_code), None)
    if site is None:
        abort(404)
    return study, site


def is_blinded(user: User, study_id: int, site_id: int) -> bool:
    """Whether the user is a blinded assessor in the study at the site."""
    return grants(user).blinded(study_id, site_id)


def instrument_codes(user: User, subject: Subject, visit) -> list[str]:
    """The forms of a visit the user may see: a blinded assessor only the protocol's assessor forms;
    others the visit's forms for the subject's arm (arm-specific forms need SEE_ARM, as they reveal it)."""
    protocol_visit = protocol_for(subject.study.code).visit(visit.definition.code)
    if is_blinded(user, subject.study_id, subject.site_id):
        return list(protocol_visit.assessor_instruments)
    sees_arm = can(user, Action.SEE_ARM, subject.study_id, subject.site_id)
    return protocol_visit.instruments_for(subject.arm.code if subject.arm and sees_arm else None)


def form_hidden(user: User, subject: Subject, visit, code: object) -> bool:
    """Whether `code` names a form of the visit, for any arm, that the user may not see (`instrument_codes`): such a
    form is "not found" for them, as its entries are. (Any arm's: the answer must not tell which is the subject's.)"""
    protocol_visit = protocol_for(subject.study.code).visit(visit.definition.code)
    forms = {*protocol_visit.instruments, *(code for codes in protocol_visit.arm_instruments.values() for code in codes)}
    return code in forms and code not in instrument_codes(user, subject, visit)


def entry_or_404(user: User, entry_id: int) -> CrfEntry:
    """A form entry, if the user may see its subject and the form at its visit (`instrument_codes`: a blinded
    assessor only the assessor forms); 404 otherwise."""
    entry = db.get_or_404(CrfEntry, entry_id)
    subject = db.session.scalar(scoped(select(Subject).where(Subject.id == entry.subject_id), user))
    if subject is None or entry.instrument not in instrument_codes(user, subject, entry.visit):
        abort(404)
    return entry


def visible_entries(user: User, subject: Subject) -> ColumnElement[bool]:
    """SQL (on crf_entries): the subject's entries the user may see, the forms `instrument_codes` gives them at
    each visit (the subject itself already seen through `subject_or_404`)."""
    pairs = [(visit.id, code) for visit in subject.visits for code in instrument_codes(user, subject, visit)]
    if not pairs:
        return false()
    return and_(CrfEntry.subject_id == subject.id, tuple_(CrfEntry.visit_id, CrfEntry.instrument).in_(pairs))


def may_record_visit(user: User, subject: Subject, visit) -> bool:
    """Site staff record any visit's date; a blinded assessor only that of a visit with assessor forms."""
    if not can(user, Action.RECORD_VISIT, subject.study_id, subject.site_id):
        return False
    return not is_blinded(user, subject.study_id, subject.site_id) or bool(instrument_codes(user, subject, visit))


def screening_or_404(user: User, number: str):
    """A screening record, if the user may see its study's screening log at its site; 404 otherwise."""
    record = db.first_or_404(
        scoped(
            select(ScreeningRecord).where(ScreeningRecord.screening_number == number),
            user,
            ScreeningRecord.study_id,
            ScreeningRecord.site_id,
        )
    )
    if not can(user, Action.VIEW_SCREENING, record.study_id, record.site_id):
        abort(404)
    return record


def query_or_404(user: User, query_id: int):
    """A query, if the user may see its subject and the audit-level detail of its site; 404 otherwise."""
    query = db.get_or_404(DataQuery, query_id)
    subject = db.session.scalar(scoped(select(Subject).where(Subject.id == query.subject_id), user))
    if subject is None or not can(user, Action.VIEW_AUDIT, subject.study_id, subject.site_id):
        abort(404)
    return query


#: The steps of a query's thread after it is raised.
QUERY_STEPS = ("answer", "close", "reopen")


def may_take_query_step(user: User, query, step: str) -> bool:
    """Site staff answer a query; only its raiser (while still allowed to raise queries there) or a data manager
    of its study at its site closes or re-opens it."""
    subject = query.entry.subject
    if step == "answer":
        return can(user, Action.ANSWER_QUERY, subject.study_id, subject.site_id)
    if step not in QUERY_STEPS:
        return False
    if can(user, Action.SETTLE_ANY_QUERY, subject.study_id, subject.site_id):
        return True
    return query.raised_by_id == user.id and can(user, Action.RAISE_QUERY, subject.study_id, subject.site_id)


def settleable_queries(user: User) -> ColumnElement[bool] | None:
    """SQL (on queries joined to their subjects): the queries the user may close or re-open, as `may_take_query_step`;
    None when there are none."""
    known = grants(user)
    pair = tuple_(Subject.study_id, Subject.site_id)
    any_query = [held for held in known.roles if known.allows(Action.SETTLE_ANY_QUERY, *held)]
    own_query = [held for held in known.roles if known.allows(Action.RAISE_QUERY, *held)]
    conditions = ([pair.in_(any_query)] if any_query else []) + ([and_(DataQuery.raised_by_id == user.id, pair.in_(own_query))] if own_query else [])
    return or_(*conditions) if conditions else None


def require_query_step(user: User, query, step: str) -> None:
    """Abort with 403 unless the user may take this step in the query's thread (they already see the query)."""
    if not may_take_query_step(user, query, step):
        abort(403)


def flag_or_404(user: User, flag_id: int):
    """A flag, if the user may see flags at its study and site; 404 otherwise."""
    flag = db.get_or_404(Flag, flag_id)
    if not can(user, Action.VIEW_FLAGS, flag.study_id, flag.site_id):
        abort(404)
    return flag
