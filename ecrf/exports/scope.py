"""Who may export what: the scope of one user's export of one study."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ecrf.access import Action, grants
from ecrf.auth.models import User
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import Protocol
from ecrf.studies.models import Site, Study

#: The formats `run_export` writes; the tabular ones give a zip, "odm" one XML file.
TABULAR_FORMATS = ("csv", "stata", "spss", "sas")
FORMATS = (*TABULAR_FORMATS, "odm")

#: `progress(done, total)`: called as rows are written (total: the rows expected, 0 when not known yet).
Progress = Callable[[int, int], None]


class ExportRefused(Exception):
    """An export that may not run: unknown study, format or user, or no right to export; the message is one line."""


@dataclass(frozen=True)
class Scope:
    """What one user may export of one study: the sites, and at each site whether the arm is shown and whether
    only the blinded assessor's visits and forms are."""

    study: Study
    user: User
    sites: list[Site]
    #: Sites where the user may see the arm (never where they are a blinded assessor).
    arm_site_ids: frozenset[int] = field(default_factory=frozenset)
    #: Sites where the user is a blinded assessor: only the protocol's assessor visits and forms, never the arm.
    blinded_site_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def protocol(self) -> Protocol:
        """The study's loaded protocol version."""
        return protocol_for(self.study.code)

    @property
    def site_ids(self) -> list[int]:
        return [site.id for site in self.sites]

    def shows_arm(self, site_id: int) -> bool:
        """Whether the arm of a subject of this site is exported."""
        return site_id in self.arm_site_ids

    def instruments(self, site_id: int, visit_code: str, arm_code: str | None) -> list[str]:
        """The forms of a visit exported for a subject of this site and arm (as `ecrf.access.instrument_codes`)."""
        visit = self.protocol.visit(visit_code)
        if site_id in self.blinded_site_ids:
            return list(visit.assessor_instruments)
        return visit.instruments_for(arm_code if self.shows_arm(site_id) else None)

    def describe(self) -> str:
        """The scope in words, for the audit trail and the exports list: "DEFIER, sites HZ01, SH01"."""
        return f"{self.study.short_title}, sites {', '.join(site.code for site in self.sites)}"


def find_user(email: str) -> User:
    """The active user with this email (any case), or `ExportRefused`."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower(), User.active.is_(True)))
    if user is None:
        raise ExportRefused(f"no active user '{email}'")
    return user


def export_scope(user: User, study_code: str, site_codes: list[str] | None = None) -> Scope:
    """The scope of `user`'s export of a study: every site of their memberships where they may export, or the
    `site_codes` asked for (each must be one of those). `ExportRefused` with a one-line message otherwise."""
    study = db.session.scalar(select(Study).where(Study.code == study_code))
    if study is None:
        raise ExportRefused(f"unknown study '{study_code}'")
    held = grants(user)
    allowed = [site for site in held.sites_of(study.id) if held.allows(Action.EXPORT, study.id, site.id)]
    if not allowed:
        raise ExportRefused(f"{user.email} may not export {study.short_title} data")
    if site_codes:
        by_code = {site.code: site for site in allowed}
        unknown = [code for code in site_codes if code not in by_code]
        if unknown:
            raise ExportRefused(f"{user.email} may not export {study.short_title} data of site {', '.join(unknown)}")
        allowed = [by_code[code] for code in dict.fromkeys(site_codes)]
    return Scope(
        study=study,
        user=user,
        sites=allowed,
        arm_site_ids=frozenset(site.id for site in allowed if held.allows(Action.SEE_ARM, study.id, site.id)),
        blinded_site_ids=frozenset(site.id for site in allowed if held.blinded(study.id, site.id)),
    )
