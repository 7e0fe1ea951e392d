"""Races fired at a running server: what a double click, a second user or a password-guessing script does.

Each race prepares what it needs (a site of its own, users, subjects) through the services, fires
real HTTP requests at the server from several threads at the same instant, then checks in the
database what came of it. It returns the problems it found: an empty list is a pass.

    python -m tests.races --base-url http://127.0.0.1:8000     # against a server on the same database

run from the project folder with the server's environment (ECRF_DATABASE_URL ...): CI runs it against
gunicorn on PostgreSQL. The test suite runs the same races against its live server (tests/test_races.py).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from tests.web import WebUser

PASSWORD = "race-password-7f3!q"
ABI = {"target_limb": "left", "brachial_right": "140", "brachial_left": "130", "pt_right": "120", "dp_right": "110", "pt_left": "90", "dp_left": "84"}
#: The same values as the API takes them (JSON numbers).
API_ABI = {name: value if name == "target_limb" else int(value) for name, value in ABI.items()}


def at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls in threads released together; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@dataclass
class Cast:
    """A site of the race's own with two site-staff users and a DEFIER subject whose 3-month visit is dated."""

    site_code: str
    coordinator: str
    investigator: str
    subject_code: str

    def form_url(self, code: str, visit: str = "m3") -> str:
        return f"/subjects/{self.subject_code}/visits/{visit}/forms/{code}"


def prepare() -> Cast:
    """Create the race's site, users and subject (needs an app context on the server's database)."""
    from ecrf.auth.models import Membership, Role, User
    from ecrf.clock import site_today
    from ecrf.extensions import db
    from ecrf.protocols import protocol_for
    from ecrf.randomization.models import RandomizationSlot
    from ecrf.randomization.services import generate
    from ecrf.studies.models import Site, Study, StudySite
    from ecrf.subjects.services import enrol_subject
    from ecrf.visits.services import record_visit_date

    tag = secrets.token_hex(3).upper()
    site = Site(code=f"RC{tag}", name=f"Race site {tag} (synthetic)", timezone="Europe/Berlin", country="DE")
    db.session.add(site)
    db.session.flush()
    studies = {study.code: study for study in db.session.scalars(select(Study).where(Study.code.in_(["defier", "defiance"])))}
    for study in studies.values():
        db.session.add(StudySite(study_id=study.id, site_id=site.id))
    emails = []
    for role in (Role.COORDINATOR, Role.INVESTIGATOR):
        user = User(email=f"race-{tag.lower()}-{role.value}@example.org", full_name=f"Race {role.label.title()} {tag}")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.flush()
        db.session.add_all(Membership(user_id=user.id, study_id=study.id, site_id=site.id, role=role) for study in studies.values())
        emails.append(user.email)
    defiance = studies["defiance"]
    arms = {arm.code: arm.id for arm in defiance.arms}
    db.session.add_all(
        RandomizationSlot(
            study_id=defiance.id,
            stratum=slot.stratum,
            sequence=slot.sequence,
            block=slot.block,
            block_size=slot.block_size,
            arm_id=arms[slot.arm],
            source="race set-up",
        )
        for slot in generate(protocol_for("defiance"), [site.code], seed=7, per_stratum=8)
    )
    db.session.flush()
    today = site_today(site)
    subject = enrol_subject(studies["defier"], site, index_date=today - timedelta(days=95), consent_date=today - timedelta(days=95), arm_code="des")
    record_visit_date(subject.visits[2], today - timedelta(days=2))
    db.session.commit()
    return Cast(site.code, emails[0], emails[1], subject.subject_code)


def _status(response) -> int | str:
    return response if isinstance(response, Exception) else response.status_code


def race_double_enrolment(base: str) -> list[str]:
    """Two site-staff users enrol one eligible screened patient at the same instant (DEFIANCE, randomized)."""
    from ecrf.clock import now_utc, site_today
    from ecrf.extensions import db
    from ecrf.protocols import protocol_for
    from ecrf.randomization.models import RandomizationSlot
    from ecrf.screening.eligibility import eligible_example, values_from_numbers
    from ecrf.screening.models import ScreeningRecord
    from ecrf.screening.services import save_screening
    from ecrf.studies.models import Site, Study
    from ecrf.subjects.models import Subject

    cast = prepare()
    site = db.session.scalar(select(Site).where(Site.code == cast.site_code))
    study = db.session.scalar(select(Study).where(Study.code == "defiance"))
    numbers, answers = eligible_example(protocol_for("defiance"))
    day = site_today(site)
    record = save_screening(
        study, site, screening_date=day, values=values_from_numbers(numbers, screening_date=day, at=now_utc()), answers=answers, strata={}, by=None
    )
    db.session.commit()
    url = f"/screening/{record.screening_number}/enrol"
    people = [WebUser(base, cast.coordinator, PASSWORD), WebUser(base, cast.investigator, PASSWORD)]
    forms = [person.hidden_fields(url) for person in people]
    responses = at_once([lambda p=p, h=h: p.post(url, {"consent_date": day.isoformat()}, hidden=h) for p, h in zip(people, forms, strict=False)])
    db.session.expire_all()
    problems = []
    subjects = db.session.scalar(select(func.count(Subject.id)).where(Subject.site_id == site.id, Subject.study_id == study.id))
    slots = db.session.scalar(select(func.count(RandomizationSlot.id)).where(RandomizationSlot.stratum == site.code, RandomizationSlot.subject_id.is_not(None)))
    if subjects != 1 or slots != 1:
        problems.append(f"double enrolment: {subjects} subjects and {slots} randomization slots used for one screened patient")
    statuses = sorted(str(_status(r)) for r in responses)
    if statuses != ["200", "302"]:
        problems.append(f"double enrolment: answers {statuses}, expected one enrolment (302) and one refusal (200)")
    loser = next((r for r in responses if not isinstance(r, Exception) and r.status_code == 200), None)
    enrolled = db.session.get(ScreeningRecord, record.id)
    if loser is not None and enrolled.subject is not None and f"already enrolled as {enrolled.subject.subject_code}" not in loser.text:
        problems.append("double enrolment: the second user is not told the patient is already enrolled")
    return problems


def race_double_click_new_entry(base: str) -> list[str]:
    """One user sends the same new adverse event form twice at once (a double click), then once more (the back button)."""
    from ecrf.crfs.models import CrfEntry
    from ecrf.extensions import db

    cast = prepare()
    person = WebUser(base, cast.coordinator, PASSWORD)
    url = cast.form_url("adverse_events") + "/new"
    hidden = person.hidden_fields(url)
    data = {"ae_term": "Race headache", "action": "draft"}
    responses = at_once([lambda: person.post(url, data, hidden=hidden), lambda: person.post(url, data, hidden=hidden)])
    responses.append(person.post(url, data, hidden=hidden))
    db.session.expire_all()
    problems = []
    entries = db.session.scalar(
        select(func.count(CrfEntry.id)).where(CrfEntry.instrument == "adverse_events", CrfEntry.subject.has(subject_code=cast.subject_code))
    )
    if entries != 1:
        problems.append(f"resubmit: {entries} adverse events created by one form sent three times")
    statuses = [_status(r) for r in responses]
    if statuses != [302, 302, 302]:
        problems.append(f"resubmit: answers {statuses}, expected every post to show the one saved entry (302)")
    elif len({r.headers["Location"] for r in responses}) != 1:
        problems.append("resubmit: the repeated posts are not sent to the first post's entry")
    return problems


def race_first_save(base: str) -> list[str]:
    """Two users open the same not-yet-started form and save it at the same instant."""
    from ecrf.crfs.models import CrfEntry
    from ecrf.extensions import db
    from ecrf.instruments.abi import AbiData

    cast = prepare()
    url = cast.form_url("abi")
    people = [WebUser(base, cast.coordinator, PASSWORD), WebUser(base, cast.investigator, PASSWORD)]
    forms = [person.hidden_fields(url) for person in people]
    values = [{**ABI, "pt_left": "91", "action": "draft"}, {**ABI, "pt_left": "92", "action": "draft"}]
    responses = at_once([lambda p=p, h=h, v=v: p.post(url, v, hidden=h) for p, h, v in zip(people, forms, values, strict=False)])
    return _one_saved_one_refused("first save", cast, responses, values, CrfEntry, AbiData, db)


def race_simultaneous_save(base: str) -> list[str]:
    """Two users open a saved form at the same version and save it at the same instant."""
    from ecrf.crfs.models import CrfEntry
    from ecrf.extensions import db
    from ecrf.instruments.abi import AbiData

    cast = prepare()
    url = cast.form_url("abi")
    first = WebUser(base, cast.coordinator, PASSWORD)
    first.submit(url, {**ABI, "action": "draft"})
    people = [first, WebUser(base, cast.investigator, PASSWORD)]
    forms = [person.hidden_fields(url) for person in people]
    values = [{**ABI, "pt_left": "93", "action": "draft"}, {**ABI, "pt_left": "94", "action": "draft"}]
    responses = at_once([lambda p=p, h=h, v=v: p.post(url, v, hidden=h) for p, h, v in zip(people, forms, values, strict=False)])
    return _one_saved_one_refused("simultaneous save", cast, responses, values, CrfEntry, AbiData, db)


def _one_saved_one_refused(name: str, cast: Cast, responses: list, values: list[dict], CrfEntry, AbiData, db) -> list[str]:
    statuses = [_status(r) for r in responses]
    if sorted(map(str, statuses)) != ["200", "302"]:
        return [f"{name}: answers {statuses}, expected one save (302) and one conflict page (200)"]
    winner, loser = (0, 1) if statuses[0] == 302 else (1, 0)
    problems = []
    page = responses[loser].text
    if "This form changed after you opened it" not in page or f'value="{values[loser]["pt_left"]}"' not in page:
        problems.append(f"{name}: the second save is not refused with the conflict message and the typed values kept")
    db.session.expire_all()
    entry = db.session.scalar(select(CrfEntry).where(CrfEntry.instrument == "abi", CrfEntry.subject.has(subject_code=cast.subject_code)))
    stored = db.session.get(AbiData, entry.id).pt_left if entry else None
    if stored != int(values[winner]["pt_left"]):
        problems.append(f"{name}: stored posterior tibial left is {stored}, not the value of the save that succeeded ({values[winner]['pt_left']})")
    return problems


def race_password_guessing(base: str) -> list[str]:
    """As many wrong passwords as lock an account, all at the same instant: each counts, so the account locks
    (a count read and written without a lock loses some, and the account stays open)."""
    from flask import current_app

    from ecrf.audit.models import AuditEvent
    from ecrf.auth.models import User
    from ecrf.clock import now_utc
    from ecrf.extensions import db

    cast = prepare()
    mark = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    attempts = current_app.config["ECRF_MAX_FAILED_LOGINS"]
    people = [WebUser(base) for _ in range(attempts)]
    forms = [person.hidden_fields("/login") for person in people]
    responses = at_once(
        [lambda p=p, h=h: p.post("/login", {"email": cast.coordinator, "password": "wrong password!"}, hidden=h) for p, h in zip(people, forms, strict=False)]
    )
    problems = []
    if any(_status(r) != 200 for r in responses):
        problems.append(f"lockout: wrong passwords answered {sorted({str(_status(r)) for r in responses})}, expected the log-in page (200)")
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == cast.coordinator))
    if user.locked_until is None or user.locked_until <= now_utc():
        problems.append(f"lockout: {attempts} wrong passwords at once did not lock the account")
    locks = db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.id > mark, AuditEvent.action == "account_locked", AuditEvent.object_id == str(user.id))
    )
    if locks != 1:
        problems.append(f"lockout: {locks} locks recorded for {attempts} wrong passwords, expected 1")
    if WebUser(base).submit("/login", {"email": cast.coordinator, "password": PASSWORD}).status_code == 302:
        problems.append("lockout: the right password logs in right after the lock")
    return problems


def _tokens(cast: Cast) -> dict[str, str]:
    """An API token for each of the race's two users, by email."""
    from ecrf.api.tokens import create_token
    from ecrf.auth.models import User
    from ecrf.extensions import db

    secrets_by_email = {}
    for email in (cast.coordinator, cast.investigator):
        user = db.session.scalar(select(User).where(User.email == email))
        secrets_by_email[email] = create_token(user, "race", 1)[1]
    db.session.commit()
    return secrets_by_email


def race_api_repeated_create(base: str) -> list[str]:
    """A program sends one new form twice at once with the same Idempotency-Key (a retry after a timeout), then
    once more: one entry, and every answer is the first one's."""
    import requests

    from ecrf.crfs.models import CrfEntry
    from ecrf.extensions import db

    cast = prepare()
    token = _tokens(cast)[cast.coordinator]
    url = f"{base}/api/v1/subjects/{cast.subject_code}/visits/m3/entries"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)}
    body = {"instrument": "abi", "values": API_ABI}
    send = lambda: requests.post(url, json=body, headers=headers, timeout=30)  # noqa: E731
    responses = at_once([send, send])
    responses.append(send())
    db.session.expire_all()
    problems = []
    entries = db.session.scalar(select(func.count(CrfEntry.id)).where(CrfEntry.instrument == "abi", CrfEntry.subject.has(subject_code=cast.subject_code)))
    if entries != 1:
        problems.append(f"API repeated create: {entries} entries made by one request sent three times with one key")
    statuses = [_status(r) for r in responses]
    if statuses != [201, 201, 201]:
        problems.append(f"API repeated create: answers {statuses}, expected the first answer (201) three times")
    elif len({r.json()["id"] for r in responses}) != 1:
        problems.append("API repeated create: the repeats do not answer with the first request's entry")
    return problems


def race_api_simultaneous_change(base: str) -> list[str]:
    """Two programs change one entry at the same instant with the ETag they both read: one is taken, the other is
    refused (412) and nothing of it is stored."""
    import requests

    from ecrf.crfs.models import CrfEntry
    from ecrf.extensions import db
    from ecrf.instruments.abi import AbiData

    cast = prepare()
    tokens = _tokens(cast)
    auth = [{"Authorization": f"Bearer {tokens[email]}"} for email in (cast.coordinator, cast.investigator)]
    created = requests.post(
        f"{base}/api/v1/subjects/{cast.subject_code}/visits/m3/entries", json={"instrument": "abi", "values": API_ABI}, headers=auth[0], timeout=30
    )
    if created.status_code != 201:
        return [f"API simultaneous change: the entry could not be made ({created.status_code}: {created.text[:200]})"]
    url, etag = f"{base}{created.headers['Location']}", created.headers["ETag"]
    values = [95, 96]
    responses = at_once(
        [
            lambda h=h, v=v: requests.patch(url, json={"values": {"pt_left": v}}, headers={**h, "If-Match": etag}, timeout=30)
            for h, v in zip(auth, values, strict=True)
        ]
    )
    statuses = [_status(r) for r in responses]
    if sorted(map(str, statuses)) != ["200", "412"]:
        return [f"API simultaneous change: answers {statuses}, expected one change (200) and one refusal (412)"]
    winner = statuses.index(200)
    db.session.expire_all()
    entry = db.session.scalar(select(CrfEntry).where(CrfEntry.instrument == "abi", CrfEntry.subject.has(subject_code=cast.subject_code)))
    stored = db.session.get(AbiData, entry.id).pt_left if entry else None
    if stored != values[winner]:
        return [f"API simultaneous change: stored posterior tibial left is {stored}, not the accepted change's {values[winner]}"]
    return []


RACES = [
    race_double_enrolment,
    race_double_click_new_entry,
    race_first_save,
    race_simultaneous_save,
    race_password_guessing,
    race_api_repeated_create,
    race_api_simultaneous_change,
]


def main(argv: list[str] | None = None) -> int:
    """Fire every race at the server; print each one's outcome; exit 1 if any found a problem."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", required=True, help="the running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--rounds", type=int, default=3, help="times each race is fired")
    args = parser.parse_args(argv)
    from ecrf import create_app

    failed = False
    with create_app().app_context():
        for race in RACES:
            for round_ in range(1, args.rounds + 1):
                problems = race(args.base_url)
                print(f"{'FAIL' if problems else 'ok  '} {race.__name__} (round {round_})" + "".join(f"\n     {p}" for p in problems))
                failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
