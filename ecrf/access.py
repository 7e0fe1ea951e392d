"""Access decisions: the one place that says what a user may see and do.

A user holds roles per (study, site) through memberships. Views ask `can(...)`
and load objects through `subject_or_404` / `scoped(...)`, so a user never
reaches another site's data: objects outside their sites are "not found".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from flask import abort, g
from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import joinedload

from ecrf.auth.models import Membership, Role, User
from ecrf.extensions import db
from ecrf.studies.models import Site, Study
from ecrf.subjects.models import Subject


class Action(str, Enum):
    """Things a user may do to a study at a site."""

    VIEW = "view"
    ENROL = "enrol"
    RECORD_VISIT = "record_visit"
    ENTER_DATA = "enter_data"
    SEE_ARM = "see_arm"


#: Roles allowed each action. SEE_ARM is further denied to anyone blinded at the site.
ALLOWED: dict[Action, frozenset[Role]] = {
    Action.VIEW: frozenset(Role),
    Action.ENROL: frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    Action.RECORD_VISIT: frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    Action.ENTER_DATA: frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    Action.SEE_ARM: frozenset(Role) - {Role.BLINDED_ASSESSOR},
}


@dataclass
class Grants:
    """A user's roles per (study id, site id), loaded once per request."""

    roles: dict[tuple[int, int], set[Role]] = field(default_factory=dict)
    studies: dict[int, Study] = field(default_factory=dict)
    sites: dict[int, Site] = field(default_factory=dict)

    def allows(self, action: Action, study_id: int, site_id: int) -> bool:
        """Whether the roles held at (study, site) allow `action`."""
        held = self.roles.get((study_id, site_id), set())
        if action is Action.SEE_ARM and Role.BLINDED_ASSESSOR in held:
            return False
        return bool(held & ALLOWED[action])

    def sites_of(self, study_id: int) -> list[Site]:
        """Sites of one study the user belongs to, by code."""
        return sorted((self.sites[s] for (st, s) in self.roles if st == study_id), key=lambda site: site.code)


def grants(user: User) -> Grants:
    """The user's grants, cached for the request."""
    cache = g.setdefault("_ecrf_grants", {})
    if user.id not in cache:
        result = Grants()
        memberships = db.session.scalars(
            select(Membership)
            .where(Membership.user_id == user.id)
            .options(joinedload(Membership.study), joinedload(Membership.site))
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


def scoped(stmt: Select, user: User, study_col=Subject.study_id, site_col=Subject.site_id) -> Select:
    """Restrict a query to the (study, site) pairs the user belongs to."""
    pairs = list(grants(user).roles)
    if not pairs:
        return stmt.where(False)
    return stmt.where(tuple_(study_col, site_col).in_(pairs))


def subject_or_404(user: User, subject_code: str) -> Subject:
    """The subject with this study subject ID, if the user may see it; 404 otherwise."""
    subject = db.session.scalar(scoped(select(Subject).where(Subject.subject_code == subject_code), user))
    if subject is None:
        abort(404)
    return subject


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
