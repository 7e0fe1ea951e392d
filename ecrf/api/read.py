"""Reading through the API: the studies and sites of the user's memberships."""

from __future__ import annotations

from flask_login import current_user
from pydantic import BaseModel
from spectree import Response

from ecrf.access import grants
from ecrf.api.blueprint import bp
from ecrf.api.spec import ERRORS, spec


class SiteOut(BaseModel):
    """A site of a study, with the roles the user holds there."""

    code: str
    name: str
    country: str
    timezone: str
    roles: list[str]


class StudyOut(BaseModel):
    """A study the user is a member of, with the sites where they are."""

    code: str
    short_title: str
    title: str
    allocation: str
    target_enrolment: int
    sites: list[SiteOut]


class StudyList(BaseModel):
    """The studies of the user's memberships."""

    items: list[StudyOut]


@bp.get("/studies")
@spec.validate(resp=Response(HTTP_200=StudyList, **ERRORS), tags=["studies"])
def studies():
    """Studies and sites of the token user's memberships."""
    known = grants(current_user)
    items = []
    for study in sorted(known.studies.values(), key=lambda s: s.code):
        sites = [
            SiteOut(
                code=site.code,
                name=site.name,
                country=site.country,
                timezone=site.timezone,
                roles=sorted(role.value for role in known.roles[(study.id, site.id)]),
            )
            for site in known.sites_of(study.id)
        ]
        items.append(
            StudyOut(
                code=study.code,
                short_title=study.short_title,
                title=study.title,
                allocation=study.allocation,
                target_enrolment=study.target_enrolment,
                sites=sites,
            )
        )
    return StudyList(items=items)
