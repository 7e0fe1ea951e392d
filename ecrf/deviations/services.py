"""Recording protocol deviations, and the study's deviation log."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from ecrf.auth.models import User
from ecrf.deviations.models import ProtocolDeviation
from ecrf.extensions import db
from ecrf.visits.models import Visit


def record_deviation(visit: Visit, kind: str, description: str, reason: str, by: User | None) -> ProtocolDeviation:
    """A deviation at a visit, with the site's reason."""
    subject = visit.subject
    deviation = ProtocolDeviation(
        study_id=subject.study_id,
        site_id=subject.site_id,
        subject_id=subject.id,
        visit_id=visit.id,
        kind=kind,
        description=description,
        reason=reason,
        recorded_by_id=by.id if by else None,
    )
    db.session.add(deviation)
    db.session.flush()
    return deviation


def deviation_log(study_id: int, site_ids: list[int]) -> Sequence[ProtocolDeviation]:
    """A study's deviations at the given sites, newest first."""
    return db.session.scalars(
        select(ProtocolDeviation)
        .where(ProtocolDeviation.study_id == study_id, ProtocolDeviation.site_id.in_(site_ids))
        .order_by(ProtocolDeviation.recorded_at.desc(), ProtocolDeviation.id.desc())
    ).all()


def deviations_of(visit: Visit) -> Sequence[ProtocolDeviation]:
    """The protocol deviations recorded at a visit, oldest first (shown on its page with their reasons)."""
    return db.session.scalars(select(ProtocolDeviation).where(ProtocolDeviation.visit_id == visit.id).order_by(ProtocolDeviation.id)).all()
