"""What a page offers its user (the buttons and forms of verify, sign, lock, unlock, mark missed, enrol, decline,
the steps of a query ...), decided here in Python and only shown by the templates.

Each offer is the access rule (`ecrf.access`, the one place for those) and the object's state (a model property:
`CrfEntry.lockable`, `QueryStatus.next_steps` ...). The routes that act check the same again for themselves
(`ecrf.access.require`, the model's transition methods): an offer is what to show, never a permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from ecrf.access import Action, can, may_record_visit, may_take_query_step
from ecrf.auth.models import User
from ecrf.crfs.models import CrfEntry
from ecrf.queries.models import DataQuery
from ecrf.safety.models import Flag
from ecrf.screening.models import ScreeningRecord
from ecrf.studies.models import Site, Study
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit

if TYPE_CHECKING:
    from ecrf.crfs.services import VisitForm


@dataclass(frozen=True)
class EntryOffers:
    """A form entry's page (crfs/entry.html)."""

    enter: bool  #: edit and save the form (not once it is locked)
    verify: bool  #: mark it source-verified
    lock: bool
    unlock: bool
    raise_query: bool
    history: bool  #: links to the audit trail of the form and its fields


def entry_offers(user: User, subject: Subject, entry: CrfEntry | None) -> EntryOffers:
    """What the page of `entry` (None: a form not started) offers `user`."""

    def may(action: Action) -> bool:
        return can(user, action, subject.study_id, subject.site_id)

    return EntryOffers(
        enter=may(Action.ENTER_DATA) and (entry is None or not entry.locked),
        verify=may(Action.VERIFY) and entry is not None and entry.awaits_verification,
        lock=may(Action.LOCK) and entry is not None and entry.lockable,
        unlock=may(Action.LOCK) and entry is not None and entry.locked,
        raise_query=may(Action.RAISE_QUERY) and entry is not None,
        history=may(Action.VIEW_AUDIT) and entry is not None,
    )


@dataclass(frozen=True)
class VisitOffers:
    """A visit's page (visits/detail.html)."""

    record: bool  #: record or change the visit date
    mark_missed: bool
    enter: bool  #: add entries to repeating forms, or report none
    sign: bool  #: the investigator signs the visit's complete forms
    lock: bool  #: lock the visit's verified and signed forms


def visit_offers(user: User, subject: Subject, visit: Visit, forms: list[VisitForm], today: date) -> VisitOffers:
    """What the page of `visit` (with the forms the user sees, on the site's calendar `today`) offers `user`."""

    def may(action: Action) -> bool:
        return can(user, action, subject.study_id, subject.site_id)

    record = may_record_visit(user, subject, visit)
    return VisitOffers(
        record=record,
        mark_missed=record and visit.may_be_marked_missed(today),
        enter=may(Action.ENTER_DATA),
        sign=may(Action.SIGN) and any(vf.signable for vf in forms),
        lock=may(Action.LOCK) and any(vf.lockable for vf in forms),
    )


@dataclass(frozen=True)
class QueryOffers:
    """A query's thread (queries/thread.html)."""

    answer: bool
    close: bool
    reopen: bool

    @property
    def any(self) -> bool:
        """Whether the page shows the reply form at all."""
        return self.answer or self.close or self.reopen


def query_offers(user: User, query: DataQuery) -> QueryOffers:
    """The steps of `query`'s thread `user` may take now: the step must follow the query's status and be theirs."""

    def offered(step: str) -> bool:
        return step in query.status.next_steps and may_take_query_step(user, query, step)

    return QueryOffers(answer=offered("answer"), close=offered("close"), reopen=offered("reopen"))


@dataclass(frozen=True)
class FlagOffers:
    """A flag's page (safety/flag.html)."""

    decide: bool  #: confirm (report an adverse event) or dismiss a safety signal


def flag_offers(user: User, flag: Flag) -> FlagOffers:
    """What the page of `flag` offers `user`."""
    return FlagOffers(decide=flag.awaits_decision and can(user, Action.DECIDE_FLAG, flag.study_id, flag.site_id))


@dataclass(frozen=True)
class SubjectOffers:
    """A subject's page (subjects/detail.html)."""

    end_participation: bool  #: record a withdrawal, loss to follow-up or death


def subject_offers(user: User, subject: Subject) -> SubjectOffers:
    """What the page of `subject` offers `user`."""
    return SubjectOffers(end_participation=subject.active and can(user, Action.END_PARTICIPATION, subject.study_id, subject.site_id))


@dataclass(frozen=True)
class ScreeningOffers:
    """A screening record's page (screening/form.html).

    As the page has always done, these follow the record's state only: whoever sees a screening record sees its
    buttons, and the routes refuse (403) those who may not enrol (`Action.ENROL`). Hiding them from a monitor or a
    data manager would change what those users see, so it is left to a change of its own.
    """

    enrol: bool  #: enrol (and randomize), or record that the patient declined consent
    reverse_decline: bool
    save: bool  #: change the screening values


def screening_offers(record: ScreeningRecord | None) -> ScreeningOffers:
    """What the page of `record` (None: a new screening) offers."""
    if record is None:
        return ScreeningOffers(enrol=False, reverse_decline=False, save=True)
    return ScreeningOffers(enrol=record.enrollable, reverse_decline=record.declined and record.subject is None, save=not record.decided)


def screening_sites(user: User, study: Study, sites: list[Site]) -> frozenset[int]:
    """Ids of the sites among `sites` where `user` may screen (and enrol) patients for `study`."""
    return frozenset(site.id for site in sites if can(user, Action.ENROL, study.id, site.id))
