"""What the API's resource routes share: access decided before the body is read, the sites a list covers, and a
service's field names given as the body's.

Order of the answers, as in the browser: another site's object (or a study the user is not in) is 404, a role's
missing right 403, and only then is the body judged (422). So `checked_first` runs a route's access check before
spectree validates the request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, time
from functools import wraps
from typing import Annotated, Any, TypeVar

from flask_login import current_user
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from ecrf.access import Action, SiteNotYours, sites_where, study_site_or_404, subject_or_404
from ecrf.api.spec import ApiError
from ecrf.errors import InvalidInput
from ecrf.partial_dates import year_problem
from ecrf.studies.models import Site, Study
from ecrf.subjects.models import Subject

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)
D = TypeVar("D", bound=date)


def in_years(value: D) -> D:
    """A date or date-time's year by the one rule (`ecrf.partial_dates.year_problem`): outside 1900 to 2100 it is a
    typing slip, as the forms say, refused before any arithmetic with it (a zone's offset at year 1 or 9999
    overflows)."""
    problem = year_problem(value.year)
    if problem:
        raise ValueError(problem)
    return value


#: A calendar date, written YYYY-MM-DD (bodies are read strictly: a number or a date-time is refused).
IsoDate = Annotated[date, AfterValidator(in_years), Field(examples=["2027-03-01"])]
#: How an instant is written (in the document's descriptions).
INSTANT_WRITTEN = "ISO 8601 with offset, e.g. 2027-03-01T00:00:00Z"
#: An instant with its offset from UTC (ISO 8601), e.g. for `changed_since`.
Instant = Annotated[AwareDatetime, AfterValidator(in_years), Field(examples=["2027-03-01T00:00:00Z"])]


def changed_since_field(what: str) -> Any:
    """A list's optional `changed_since` filter (an `Instant`), described as `what` "at or after this instant"."""
    return Field(default=None, description=f"{what} at or after this instant ({INSTANT_WRITTEN})")


#: A local time of day, written HH:MM or HH:MM:SS.
IsoTime = Annotated[time, Field(examples=["09:30"])]
#: A site's code in a list's filter (`site: SiteCode = None`).
SiteCode = Annotated[str | None, Field(max_length=12, description="only this site (its code, e.g. SH01); one of your sites in the study")]


def checked_first(check: Callable[..., object], *, gives: str | None = None) -> Callable[[F], F]:
    """Run `check` with the route's path arguments before the request is validated: it aborts with 404 for an
    object the user may not see and 403 for an action their role does not allow, whatever the query string or the
    body says (`ecrf.api.writing.api_write` runs a write's check this way too). `gives`: the view's argument that
    receives what `check` returns (the study, the subject, the visit ...), so that the view does not look it up
    again."""

    def decorate(view: F) -> F:
        @wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            found = check(**kwargs)
            if gives is not None:
                kwargs[gives] = found
            return view(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def list_sites(study: Study, action: Action, site_code: str | None) -> list[Site]:
    """The sites of `study` a list covers, as `ecrf.access.sites_where` decides them (403 where the user's role
    allows `action` at none); a site that is not one of the user's is refused 422 (field `site`)."""
    try:
        return sites_where(current_user, action, study, site_code)
    except SiteNotYours as error:
        codes = ", ".join(site.code for site in error.yours)
        raise ApiError.one(422, f"site: {site_code!r} is not one of your sites in {study.short_title}; yours: {codes}.", "site") from error


@contextmanager
def body_fields(names: Mapping[str, str]) -> Iterator[None]:
    """Inside the block, a service's refusal names the body's fields: `names` maps a service's field name to the
    body field it comes from, where they differ."""
    try:
        yield
    except InvalidInput as error:
        raise InvalidInput([(names.get(field, field) if field else field, message) for field, message in error.problems]) from error


def study_visible(study_code: str) -> Study:
    """The study, if the user is a member of it (else 404): the check of a study's lists (`checked_first`)."""
    study, _ = study_site_or_404(current_user, study_code)
    return study


def subject_visible(subject_code: str) -> Subject:
    """The subject, if the user may see it (else 404): the check of a subject's lists (`checked_first`)."""
    return subject_or_404(current_user, subject_code)
