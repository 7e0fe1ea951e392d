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

from flask import abort
from flask_login import current_user
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from ecrf.access import Action, can, grants, study_site_or_404
from ecrf.api.spec import ApiError
from ecrf.errors import InvalidInput
from ecrf.partial_dates import YEAR_MAX, YEAR_MIN
from ecrf.studies.models import Site, Study

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


def _in_years(value: date) -> date:
    """Years outside 1900 to 2100 are typing slips, as the forms say (and keep date arithmetic in range)."""
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        raise ValueError(f"the year must be between {YEAR_MIN} and {YEAR_MAX}")
    return value


#: A calendar date, written YYYY-MM-DD (bodies are read strictly: a number or a date-time is refused).
IsoDate = Annotated[date, AfterValidator(_in_years), Field(examples=["2027-03-01"])]
#: An instant with its offset from UTC (ISO 8601), e.g. for `changed_since`.
Instant = Annotated[AwareDatetime, AfterValidator(_in_years), Field(examples=["2027-03-01T00:00:00Z"])]
#: A local time of day, written HH:MM or HH:MM:SS.
IsoTime = Annotated[time, Field(examples=["09:30"])]
#: A site's code in a list's filter (`site: SiteCode = None`).
SiteCode = Annotated[str | None, Field(max_length=12, description="only this site (its code, e.g. SH01); one of your sites in the study")]


def checked_first(check: Callable[..., object]) -> Callable[[F], F]:
    """Run `check` with the route's path arguments before the request is validated: it aborts with 404 for an
    object the user may not see and 403 for an action their role does not allow, whatever the body says."""

    def decorate(view: F) -> F:
        @wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            check(**kwargs)
            return view(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def list_sites(study: Study, action: Action, site_code: str | None) -> list[Site]:
    """The sites of `study` a list covers: the user's sites there where their role allows `action`, or the one
    site asked for. A site the user is not in is refused (422, field `site`); one where they may not do `action`
    (or no such site at all) is 403."""
    known = grants(current_user)
    mine = known.sites_of(study.id)
    allowed = [site for site in mine if can(current_user, action, study.id, site.id)]
    if site_code is None:
        if not allowed:
            abort(403)
        return allowed
    site = next((site for site in mine if site.code == site_code), None)
    if site is None:
        codes = ", ".join(site.code for site in mine)
        raise ApiError.one(422, f"site: {site_code!r} is not one of your sites in {study.short_title}; yours: {codes}.", "site")
    if site not in allowed:
        abort(403)
    return [site]


@contextmanager
def body_fields(names: Mapping[str, str]) -> Iterator[None]:
    """Inside the block, a service's refusal names the body's fields: `names` maps a service's field name to the
    body field it comes from, where they differ."""
    try:
        yield
    except InvalidInput as error:
        raise InvalidInput([(names.get(field, field) if field else field, message) for field, message in error.problems]) from error


def study_visible(study_code: str) -> None:
    """404 unless the user is a member of the study (a check for `checked_first` on a study's lists)."""
    study_site_or_404(current_user, study_code)
