"""Finding a subject by study subject ID from the navigation: straight to it, or a list; only the user's sites."""

from __future__ import annotations

from datetime import date

from ecrf.auth.models import Role
from ecrf.subjects.services import SEARCH_LIMIT


def _people(make_site, make_user, make_subject):
    home, foreign = make_site("SH01", ["defier"]), make_site("HZ01", ["defier"])
    subjects = [make_subject("defier", home, date(2026, 1, 10)) for _ in range(3)]
    make_subject("defier", foreign, date(2026, 1, 10))
    return make_user("c@example.org", [("defier", home, Role.COORDINATOR)]), subjects


def test_every_page_offers_the_subject_search_in_the_navigation(make_site, make_user, make_subject, login):
    user, _ = _people(make_site, make_user, make_subject)
    page = login(user).get("/").get_data(as_text=True)
    assert 'action="/subjects/search"' in page and 'name="q"' in page and "Find a subject by ID" in page


def test_an_exact_id_goes_straight_to_the_subject_whatever_the_case_and_spaces(make_site, make_user, make_subject, login):
    user, subjects = _people(make_site, make_user, make_subject)
    response = login(user).get("/subjects/search", query_string={"q": f"  {subjects[1].subject_code.lower()} "})
    assert response.status_code == 302 and response.location == f"/subjects/{subjects[1].subject_code}"


def test_part_of_an_id_lists_the_matching_subjects_of_the_users_sites_only(make_site, make_user, make_subject, login):
    user, subjects = _people(make_site, make_user, make_subject)
    page = login(user).get("/subjects/search", query_string={"q": "0001"}).get_data(as_text=True)
    assert subjects[0].subject_code in page and "DEF-HZ01-0001" not in page
    listed = login(user).get("/subjects/search", query_string={"q": "DEF"}).get_data(as_text=True)
    assert all(subject.subject_code in listed for subject in subjects) and "3 subjects at your sites" in listed


def test_another_sites_subject_is_not_found_as_if_it_did_not_exist(make_site, make_user, make_subject, login):
    user, _ = _people(make_site, make_user, make_subject)
    page = login(user).get("/subjects/search", query_string={"q": "DEF-HZ01-0001"}).get_data(as_text=True)
    assert "No subject at your sites has “DEF-HZ01-0001” in its ID." in page


def test_wildcards_are_taken_as_text_and_a_too_long_text_is_refused_naming_the_field(make_site, make_user, make_subject, login):
    user, _ = _people(make_site, make_user, make_subject)
    client = login(user)
    assert "No subject at your sites" in client.get("/subjects/search", query_string={"q": "%"}).get_data(as_text=True)
    assert "No subject at your sites" in client.get("/subjects/search", query_string={"q": "DEF_SH01"}).get_data(as_text=True)
    too_long = client.get("/subjects/search", query_string={"q": "X" * 40})
    assert too_long.status_code == 400
    page = too_long.get_data(as_text=True)
    assert "Subject ID: at most 32 characters (you gave 40)." in page and 'value="' + "X" * 40 + '"' in page


def test_a_long_list_says_how_many_and_shows_the_first(make_site, make_user, make_subject, login):
    site = make_site("SH01", ["defier"])
    for _ in range(SEARCH_LIMIT + 2):
        make_subject("defier", site, date(2026, 1, 10))
    user = make_user("c@example.org", [("defier", site, Role.COORDINATOR)])
    page = login(user).get("/subjects/search", query_string={"q": "DEF-SH01"}).get_data(as_text=True)
    assert f"{SEARCH_LIMIT + 2} subjects at your sites" in page and f"the first {SEARCH_LIMIT} are listed" in page
