"""Every subject ID shown in the worklist's flags and queries, and on a form's page, links to the subject."""

from __future__ import annotations

from datetime import date

from ecrf.auth.models import Role
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.extensions import db
from ecrf.queries.services import raise_query
from ecrf.safety.models import Flag


def test_the_worklists_flags_and_queries_link_each_subject_id_to_the_subject(make_site, make_user, make_subject, login):
    site = make_site("SH01", ["defier"])
    coordinator = make_user("c@example.org", [("defier", site, Role.COORDINATOR)])
    monitor = make_user("m@example.org", [("defier", site, Role.MONITOR)])
    flagged, queried = make_subject("defier", site, date(2026, 1, 10)), make_subject("defier", site, date(2026, 1, 10))
    db.session.add(  # a safety signal as the flag rules raise them (the worklist lists overdue visits apart)
        Flag(key=f"test:{flagged.id}", kind="abi_drop", safety=True, study_id=flagged.study_id, site_id=site.id, subject_id=flagged.id, message="ABI decrease")
    )
    entry = CrfEntry(subject_id=queried.id, visit_id=queried.visits[0].id, instrument="abi", status=EntryStatus.COMPLETE)
    db.session.add(entry)
    db.session.flush()
    raise_query(entry, "pt_right", "Source says 120?", monitor)
    db.session.commit()
    page = login(coordinator).get("/").get_data(as_text=True)
    flags, queries = page.split('id="flags"')[1].split("</table>")[0], page.split('id="queries"')[1].split("</table>")[0]
    assert f'<a href="/subjects/{flagged.subject_code}">{flagged.subject_code}</a>' in flags
    assert f'<a href="/subjects/{queried.subject_code}">{queried.subject_code}</a>' in queries


def test_a_forms_page_links_its_subject(make_site, make_user, make_subject, login):
    site = make_site("SH01", ["defier"])
    coordinator = make_user("c@example.org", [("defier", site, Role.COORDINATOR)])
    subject = make_subject("defier", site, date(2026, 1, 10))
    page = login(coordinator).get(f"/subjects/{subject.subject_code}/visits/m1/forms/abi").get_data(as_text=True)
    assert f'<a href="/subjects/{subject.subject_code}">{subject.subject_code}</a> · 1 month' in page
