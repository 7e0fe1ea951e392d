"""Study set-up: bringing the protocol files into the database (the version in force, its arms and visits)."""

from __future__ import annotations

from sqlalchemy import select, update

from ecrf.extensions import db
from ecrf.protocols import Protocol, canonical_json, forget_versions_in_force, protocol_digest
from ecrf.studies.models import Arm, ProtocolVersion, Study, StudySite, VisitDefinition
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit


class ProtocolChangeRefused(Exception):
    """A protocol change would remove something subjects already use."""


def sync_protocol(protocol: Protocol) -> tuple[Study, bool]:
    """Load one protocol: store it as the study's version in force and create or update the study, arms and
    visit definitions from it; returns (study, changed).

    Labels, order and windows of visit definitions are updated; windows already
    computed for enrolled subjects are kept (a protocol amendment does not move
    existing visits). Removing an arm or a visit that subjects use is refused (the
    caller rolls back: nothing of the change is kept).
    """
    study = db.session.scalar(select(Study).where(Study.code == protocol.code))
    digest = protocol_digest(protocol)
    if study is not None and study.protocol_sha256 == digest:
        _store_version(study, protocol, digest)  # a study loaded before versions were stored gets its version
        return study, False
    if study is None:
        study = Study(code=protocol.code)
        db.session.add(study)
    study.short_title = protocol.short_title
    study.title = protocol.title
    study.registry_id = protocol.registry_id
    study.allocation = protocol.allocation.method.value
    study.subject_prefix = protocol.subject_prefix
    study.target_enrolment = protocol.target_enrolment
    study.protocol_sha256 = digest
    _sync_arms(study, protocol)
    _sync_visits(study, protocol)
    db.session.flush()
    _store_version(study, protocol, digest)
    forget_versions_in_force()
    return study, True


def _store_version(study: Study, protocol: Protocol, digest: str) -> None:
    """Keep the protocol as a version of the study, once per content (a version loaded again is reused)."""
    stored = db.session.scalar(select(ProtocolVersion.id).where(ProtocolVersion.study_id == study.id, ProtocolVersion.sha256 == digest))
    if stored is None:
        db.session.add(ProtocolVersion(study_id=study.id, sha256=digest, document=canonical_json(protocol), file_name=f"{protocol.code}.yaml"))
        db.session.flush()


def _sync_arms(study: Study, protocol: Protocol) -> None:
    existing = {arm.code: arm for arm in study.arms}
    for position, arm_spec in enumerate(protocol.arms):
        arm = existing.pop(arm_spec.code, None)
        if arm is None:
            arm = Arm(code=arm_spec.code)
            study.arms.append(arm)
        arm.label, arm.position = arm_spec.label, position
    for arm in existing.values():
        if db.session.scalar(select(Subject.id).where(Subject.arm_id == arm.id).limit(1)):
            raise ProtocolChangeRefused(f"{protocol.code}: arm '{arm.code}' has subjects and cannot be removed")
        db.session.delete(arm)


def _sync_visits(study: Study, protocol: Protocol) -> None:
    existing = {definition.code: definition for definition in study.visit_definitions}
    for position, spec in enumerate(protocol.visits):
        definition = existing.pop(spec.code, None)
        if definition is None:
            definition = VisitDefinition(code=spec.code)
            study.visit_definitions.append(definition)
        definition.label, definition.position = spec.label, position
        definition.target_day, definition.days_before, definition.days_after = spec.target_day, spec.days_before, spec.days_after
    for definition in existing.values():
        if db.session.scalar(select(Visit.id).where(Visit.definition_id == definition.id).limit(1)):
            raise ProtocolChangeRefused(f"{protocol.code}: visit '{definition.code}' has subject visits and cannot be removed")
        db.session.delete(definition)


def sync_protocols(protocols: dict[str, Protocol]) -> list[tuple[Study, bool]]:
    """Sync every protocol; returns (study, changed) per protocol."""
    return [sync_protocol(protocol) for protocol in protocols.values()]


def take_number(study_site: StudySite, counter: str) -> int:
    """Take the site's next number from one of its counters (last_subject_number, last_screening_number),
    atomically: one UPDATE ... RETURNING, so concurrent takers never get the same number."""
    column = getattr(StudySite, counter)
    number = db.session.execute(
        update(StudySite).where(StudySite.id == study_site.id).values({column: column + 1}).returning(column).execution_options(synchronize_session=False)
    ).scalar_one()
    db.session.expire(study_site, [counter])
    return number


def skip_number(study_site: StudySite, counter: str, number: int) -> None:
    """Count `number` as taken on one of the site's counters (a study subject ID given from outside, by an import):
    the counter rises to it, never falls, in one conditional UPDATE; later numbers taken follow it."""
    column = getattr(StudySite, counter)
    db.session.execute(
        update(StudySite).where(StudySite.id == study_site.id, column < number).values({column: number}).execution_options(synchronize_session=False)
    )
    db.session.expire(study_site, [counter])


def study_site(study: Study, site) -> StudySite | None:
    """The participation of a site in a study."""
    return db.session.scalar(select(StudySite).where(StudySite.study_id == study.id, StudySite.site_id == site.id))
