"""The blinded outcome assessor never receives the arm: not in any page they can reach, not in a worklist."""

from __future__ import annotations

import re
from collections import deque
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from ecrf.auth.models import Role
from ecrf.extensions import db
from ecrf.protocols import protocols
from ecrf.studies.models import Arm
from ecrf.visits.services import record_visit_date
from tests.conftest import post_form

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def trial(make_site, make_user, make_subject, client, login):
    """ANGEL-ICAS at BJ01: two subjects, one per arm, with procedure forms entered by the coordinator
    (their rescue treatment reveals the arm) and the 90-day visit due for the assessor."""
    site = make_site("BJ01", ["angel-icas"])
    coordinator = make_user("c@example.org", [("angel-icas", site, Role.COORDINATOR)])
    assessor = make_user("assessor@example.org", [("angel-icas", site, Role.BLINDED_ASSESSOR)])
    index = date(2027, 3, 1)
    subjects = [make_subject("angel-icas", site, index, arm=arm) for arm in ("balloon", "stent")]
    login(coordinator)
    for subject in subjects:
        for visit in subject.visits[1:3]:
            record_visit_date(visit, visit.target_date)
        db.session.commit()
        post_form(
            client,
            f"/subjects/{subject.subject_code}/visits/baseline/forms/procedure_stroke",
            {
                "last_known_well": "2027-03-01T02:00",
                "occlusion_site": "mca_m1",
                "residual_stenosis_pct": "70",
                "rescue_treatment": subject.arm.code,
                "reperfusion_etici": "2b",
                "action": "complete",
            },
        )
    client.post("/logout", data={"csrf_token": ""})
    client.delete_cookie("session")
    return site, assessor, subjects


def _crawl(client, start: str = "/") -> dict[str, str]:
    """Every page reachable by following links from `start` (GET only), by URL."""
    pages: dict[str, str] = {}
    queue = deque([start])
    while queue and len(pages) < 300:
        url = queue.popleft()
        if url in pages:
            continue
        response = client.get(url)
        assert response.status_code in (200, 302, 403, 404), (url, response.status_code)
        pages[url] = response.get_data(as_text=True)
        for link in re.findall(r'href="(/[^"#]*)"', pages[url]):
            if not link.startswith(("/static/", "/bootstrap/", "/api/v1/docs/assets/", "/logout")) and link not in pages:
                queue.append(link.replace("&amp;", "&"))
    return pages


def _without_study_texts(page: str) -> str:
    """A page without the study's own title and design, which name both treatments."""
    protocol = protocols()["angel-icas"]
    for text in (protocol.title, protocol.design):
        page = page.replace(text, "")
    return page


def test_no_page_the_assessor_can_reach_shows_an_arm(trial, client, login):
    _, assessor, subjects = trial
    login(assessor)
    pages = _crawl(client)
    assert any("/subjects/AIC-BJ01-0001" in url for url in pages) and any(url.endswith("/forms/mrs") for url in pages)
    arm_words = [arm.label for arm in protocols()["angel-icas"].arms] + ["balloon", "stent", "Stenting"]
    for url, page in pages.items():
        visible = _without_study_texts(page)
        for word in arm_words:
            assert not re.search(rf"\b{re.escape(word)}", visible, re.IGNORECASE), f"{url} shows {word!r}"


def test_what_the_assessor_sees_does_not_change_when_the_arms_are_swapped(trial, client, login):
    _, assessor, subjects = trial
    login(assessor)
    before = _crawl(client)
    arms = {arm.code: arm for arm in db.session.scalars(select(Arm).join(Arm.study)) if arm.study.code == "angel-icas"}
    for subject in subjects:
        subject.arm = arms["stent" if subject.arm.code == "balloon" else "balloon"]
    db.session.commit()
    after = _crawl(client)
    strip = lambda page: re.sub(r'name="(csrf_token|form_key)"[^>]*value="[^"]*"', "", page)  # noqa: E731  (fresh per page)
    assert set(before) == set(after)
    for url in before:
        assert strip(before[url]) == strip(after[url]), url


def test_the_assessor_gets_only_the_outcome_forms_and_can_enter_them(trial, client, login):
    _, assessor, subjects = trial
    code = subjects[0].subject_code
    login(assessor)
    assert client.get(f"/subjects/{code}/visits/baseline/forms/procedure_stroke").status_code == 404
    assert client.get(f"/subjects/{code}/visits/d7/forms/nihss").status_code == 404
    d90 = client.get(f"/subjects/{code}/visits/d90").get_data(as_text=True)
    assert re.findall(r'data-instrument="(\w+)"', d90) == ["mrs"] and "Save visit date" in d90
    assert "Save visit date" not in client.get(f"/subjects/{code}/visits/d7").get_data(as_text=True)
    post_form(client, f"/subjects/{code}/visits/d90", {"visit_date": "2027-05-30"})
    response = post_form(
        client,
        f"/subjects/{code}/visits/d90/forms/mrs",
        {"score": "2", "method": "telephone", "assessor_blinded": "True", "action": "complete"},
        follow_redirects=True,
    )
    assert "mRS saved as complete" in response.get_data(as_text=True) or "saved as complete" in response.get_data(as_text=True)


def test_the_assessors_worklist_lists_only_outcome_visits(trial, client, login, clock):
    _, assessor, subjects = trial
    with clock(datetime(2027, 5, 26, 4, tzinfo=UTC)):  # d90 windows open on 2027-05-23
        login(assessor)
        page = client.get("/").get_data(as_text=True)
    listed = re.findall(r'/visits/(\w+)">', page)
    assert listed and set(listed) == {"d90"}
