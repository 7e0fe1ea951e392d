"""Raising alerts."""

from __future__ import annotations

from sqlalchemy import select

from ecrf.alerts.models import Alert
from ecrf.auth.models import Role
from ecrf.extensions import db


def raise_alert(kind: str, study, site, message: str, role: Role = Role.DATA_MANAGER) -> Alert:
    """An alert for `role`, once: an open alert of the same kind at the same site is not repeated."""
    existing = db.session.scalar(
        select(Alert).where(
            Alert.kind == kind,
            Alert.study_id == study.id,
            Alert.resolved_at.is_(None),
            Alert.site_id == site.id if site else Alert.site_id.is_(None),
        )
    )
    if existing is not None:
        return existing
    alert = Alert(kind=kind, study_id=study.id, site_id=site.id if site else None, role=role.value, message=message)
    db.session.add(alert)
    db.session.flush()
    return alert
