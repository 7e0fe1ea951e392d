"""Form entries and query answers through the API: read, create, change with If-Match, the page's validation,
Idempotency-Key, races, rights (monitor, blinded assessor, other sites), and the audit trail's way in."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select

from ecrf import scales
from ecrf.api.models import ApiToken
from ecrf.api.tokens import create_token
from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Role
from ecrf.auth.services import PasswordCheck
from ecrf.crfs.input import EntryInput
from ecrf.crfs.items import Kind
from ecrf.crfs.models import CrfEntry
from ecrf.crfs.registry import instrument, registry
from ecrf.crfs.services import lock_entries, save_entry, sign_entries, verify_entry
from ecrf.extensions import db
from ecrf.instruments.abi import AbiData
from ecrf.protocols import protocols
from ecrf.protocols.instruments import INSTRUMENTS as CATALOGUE
from ecrf.queries.models import QueryStatus
from ecrf.queries.services import raise_query
from ecrf.visits.services import record_visit_date
from tests.races import at_once
from tests.test_instruments_generic import EXAMPLES, _first_use

NOW = datetime(2027, 6, 1, 4)  # noon in Shanghai

#: A complete ABI (DEFIER, 3 months): ABI right 0.86, left 0.64.
ABI = {"target_limb": "left", "brachial_right": 140, "brachial_left": 130, "pt_right": 120, "dp_right": 110, "pt_left": 90, "dp_left": 84}
M3_ENTRIES = "/api/v1/subjects/DEF-SH01-0001/visits/m3/entries"


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier", "defiance"])


@pytest.fixture
def people(make_user, site):
    """Site staff and a monitor of SH01 (DEFIER and DEFIANCE)."""

    def member(email: str, role: Role, name: str):
        return make_user(email, [("defier", site, role), ("defiance", site, role)], name=name)

    return {
        "coordinator": member("c@example.org", Role.COORDINATOR, "Chen Coordinator"),
        "investigator": member("i@example.org", Role.INVESTIGATOR, "Ines Investigator"),
        "monitor": member("m@example.org", Role.MONITOR, "Mona Monitor"),
        "data_manager": member("dm@example.org", Role.DATA_MANAGER, "Dana Manager"),
    }


@pytest.fixture
def defier(make_subject, site):
    """DEF-SH01-0001 (DES), its 3-month visit done on 2027-04-01."""
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[2], date(2027, 4, 1))
    db.session.commit()
    return subject


def _abi_entry(subject, user, *, complete: bool = False, missing: dict | None = None) -> CrfEntry:
    """An ABI saved at 3 months through the service, as the page saves it."""
    values = {**ABI, "brachial_right_not_measurable": False, "brachial_left_not_measurable": False}
    values |= {f"{artery}_finding": None for artery in ("pt_right", "dp_right", "pt_left", "dp_left")}
    for name in missing or {}:
        values[name] = None
    entry = save_entry(subject.visits[2], instrument("abi"), EntryInput(values=values, missing=missing or {}, complete=complete, by=user), entry=None)
    db.session.commit()
    return entry


def _entries() -> int:
    return db.session.scalar(select(func.count(CrfEntry.id))) or 0


def _fields(response) -> dict[str | None, str]:
    return {problem["field"]: problem["message"] for problem in response.json["errors"]}


# -- reading -------------------------------------------------------------------------------------------------------


def test_an_entry_reads_with_typed_values_computed_values_missing_codes_status_and_its_etag(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"], missing={"dp_left": {"code": "not_done", "reason": "probe broken"}})
    response = api(people["monitor"]).get(f"/api/v1/entries/{entry.id}")
    assert response.status_code == 200
    body = response.json
    assert (body["instrument"], body["visit_code"], body["subject_code"], body["status"], body["version"]) == (
        "abi",
        "m3",
        "DEF-SH01-0001",
        "draft",
        entry.version,
    )
    assert body["values"]["brachial_right"] == 140 and body["values"]["target_limb"] == "left" and body["values"]["dp_left"] is None
    assert body["values"]["brachial_right_not_measurable"] is False
    assert body["computed"] == {"abi_right": 0.86, "band_right": "abnormal", "abi_left": 0.64, "band_left": "abnormal"}
    assert body["missing"] == {"dp_left": {"code": "not_done", "reason": "probe broken"}}
    assert body["updated_by"] == "Chen Coordinator" and body["verified"] is None and body["signatures"] == [] and body["locked"] is None
    assert response.headers["ETag"] == body["etag"] == f'"entry-{entry.id}-v{entry.version}"'


def test_a_subjects_entries_are_filtered_by_visit_instrument_status_and_change_and_paged_by_cursor(api, people, defier, clock):
    coordinator = people["coordinator"]
    with clock(datetime(2027, 5, 1, 4)):
        abi = _abi_entry(defier, coordinator, complete=True)
    record_visit_date(defier.visits[1], date(2027, 2, 1))
    db.session.commit()
    m1 = save_entry(defier.visits[1], instrument("rutherford"), EntryInput(values={"category": 2}, by=coordinator), entry=None)
    db.session.commit()
    client = api(people["monitor"])
    listed = lambda query="": [(e["visit_code"], e["instrument"]) for e in client.get(f"/api/v1/subjects/DEF-SH01-0001/entries{query}").json["items"]]  # noqa: E731
    assert listed() == [("m3", "abi"), ("m1", "rutherford")]
    assert listed("?visit=m1") == [("m1", "rutherford")]
    assert listed("?instrument=abi") == [("m3", "abi")]
    assert listed("?status=draft") == [("m1", "rutherford")]
    assert listed("?changed_since=2027-05-15T00:00:00Z") == [("m1", "rutherford")]
    first = client.get("/api/v1/subjects/DEF-SH01-0001/entries?limit=1").json
    assert [e["id"] for e in first["items"]] == [abi.id] and first["next_cursor"]
    second = client.get(f"/api/v1/subjects/DEF-SH01-0001/entries?limit=1&cursor={first['next_cursor']}").json
    assert [e["id"] for e in second["items"]] == [m1.id] and second["next_cursor"] is None
    unknown = client.get("/api/v1/subjects/DEF-SH01-0001/entries?visit=m99")
    assert unknown.status_code == 422 and "m1, m3" in _fields(unknown)["visit"].replace("m1, m3", "m1, m3")


def test_a_verification_made_after_the_instant_counts_as_a_change(api, people, defier, clock):
    with clock(datetime(2027, 5, 1, 4)):
        entry = _abi_entry(defier, people["coordinator"], complete=True)
    client = api(people["monitor"])
    assert client.get("/api/v1/subjects/DEF-SH01-0001/entries?changed_since=2027-05-15T00:00:00Z").json["items"] == []
    verify_entry(entry, people["monitor"])
    db.session.commit()
    [changed] = client.get("/api/v1/subjects/DEF-SH01-0001/entries?changed_since=2027-05-15T00:00:00Z").json["items"]
    assert changed["verified"]["by"] == "Mona Monitor" and changed["state"] == "source-verified"


def test_the_entry_list_takes_the_same_number_of_queries_whatever_the_number_of_entries(api, people, defier, count_queries):
    coordinator, investigator = people["coordinator"], people["investigator"]
    record_visit_date(defier.visits[0], date(2027, 1, 1))
    record_visit_date(defier.visits[1], date(2027, 2, 1))
    db.session.commit()
    client = api(people["monitor"])

    def signed_rutherford(visit) -> None:
        entry = save_entry(visit, instrument("rutherford"), EntryInput(values={"category": 2}, complete=True, by=coordinator), entry=None)
        sign_entries([(entry, instrument("rutherford"))], investigator, PasswordCheck(ok=True))
        db.session.commit()

    def statements() -> int:
        db.session.expire_all()
        with count_queries() as seen:
            assert client.get("/api/v1/subjects/DEF-SH01-0001/entries").status_code == 200
        return len(seen)

    signed_rutherford(defier.visits[0])
    _abi_entry(defier, coordinator)
    statements()  # (the token's first use is noted: one more statement, once)
    with_2 = statements()
    signed_rutherford(defier.visits[1])
    signed_rutherford(defier.visits[2])
    assert statements() == with_2  # (one query per instrument's table, not per entry: the same two tables here)


@pytest.mark.parametrize("query", ["?status=bogus", "?limit=0", "?changed_since=yesterday", "?visit=m99", "?cursor=nonsense"])
def test_another_sites_subject_has_no_entries_to_list_whatever_the_filters_say(api, people, defier, make_site, make_user, query):
    other = make_site("HZ01", ["defier"])
    client = api(make_user("hz@example.org", [("defier", other, Role.COORDINATOR)]))
    assert client.get(f"/api/v1/subjects/DEF-SH01-0001/entries{query}").status_code == 404


def test_changed_since_without_an_offset_is_refused_naming_the_field(api, people, defier):
    refused = api(people["monitor"]).get("/api/v1/subjects/DEF-SH01-0001/entries?changed_since=2027-05-15T00:00:00")
    assert refused.status_code == 422 and "changed_since" in _fields(refused)


# -- creating ------------------------------------------------------------------------------------------------------


def test_a_new_entry_is_201_with_its_computed_values_etag_and_location(api, people, defier):
    response = api(people["coordinator"]).post(M3_ENTRIES, json={"instrument": "abi", "values": ABI, "complete": True})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "complete" and body["computed"]["abi_right"] == 0.86 and body["computed"]["abi_left"] == 0.64
    assert response.headers["ETag"] == body["etag"] and response.headers["Location"] == f"/api/v1/entries/{body['id']}"
    data = db.session.get(AbiData, body["id"])
    assert (data.abi_right, data.abi_left, data.pt_left) == (Decimal("0.86"), Decimal("0.64"), 90)
    assert api(people["monitor"]).get(response.headers["Location"]).json == body


def test_a_new_villalta_gets_its_total_and_class_from_the_scale(api, people, make_subject, site):
    subject = make_subject("defiance", site, date(2027, 5, 1))
    record_visit_date(subject.visits[1], date(2027, 5, 31))
    db.session.commit()
    items = {name: 2 for name in scales.VILLALTA_ITEMS}
    response = api(people["coordinator"]).post(
        f"/api/v1/subjects/{subject.subject_code}/visits/d30/entries",
        json={"instrument": "villalta", "values": {"leg": "left", **items, "ulcer": False}, "complete": True},
    )
    assert response.status_code == 201, response.json
    total = scales.villalta_total(items)
    assert response.json["computed"] == {"total": total, "severity": scales.villalta_severity(total, False)}


def test_bad_values_are_refused_422_naming_each_field_and_what_it_takes_and_nothing_is_saved(api, people, defier):
    client = api(people["coordinator"])
    response = client.post(M3_ENTRIES, json={"instrument": "abi", "values": {**ABI, "brachial_right": "140", "target_limb": "up", "total": 3}})
    assert response.status_code == 422
    fields = _fields(response)
    assert "a JSON integer" in fields["values.brachial_right"] and "a whole number from 50 to 300 mmHg" in fields["values.brachial_right"]
    assert '"right" (Right), "left" (Left)' in fields["values.target_limb"]
    assert "has no entered item 'total'" in fields["values.total"]
    out_of_range = client.post(M3_ENTRIES, json={"instrument": "abi", "values": {**ABI, "brachial_right": 400}, "complete": True})
    assert _fields(out_of_range) == {"values.brachial_right": "Brachial systolic, right arm (mmHg): enter a whole number from 50 to 300 mmHg."}
    computed = client.post(M3_ENTRIES, json={"instrument": "abi", "values": {**ABI, "abi_right": 1}})
    assert "computed" in _fields(computed)["values.abi_right"]
    duplex = client.post(
        M3_ENTRIES, json={"instrument": "duplex", "values": {"exam_date": "1 April 2027", "side": "left", "occluded": "no", "psv_proximal": 9999.5}}
    )
    fields = _fields(duplex)
    assert "YYYY-MM-DD" in fields["values.exam_date"] and "true or false" in fields["values.occluded"]
    missing = client.post(M3_ENTRIES, json={"instrument": "abi", "values": ABI, "missing": {"pt_right": {"code": "forgotten"}}})
    assert "not_done" in _fields(missing)["missing.pt_right.code"]
    both = client.post(M3_ENTRIES, json={"instrument": "abi", "values": ABI, "missing": {"pt_right": {"code": "not_done", "reason": "no probe"}}})
    assert "not both" in _fields(both)["values.pt_right"]
    assert _entries() == 0


def test_a_decimal_sent_as_a_json_number_with_more_digits_than_a_float_keeps_is_refused_not_rounded(api, people, defier):
    client = api(people["coordinator"])
    body = '{"instrument": "duplex", "values": {"side": "left", "psv_proximal": 100.00000000000000000001}}'
    response = client.post(M3_ENTRIES, data=body, content_type="application/json")
    assert response.status_code == 422, response.json
    assert _fields(response) == {
        "values.psv_proximal": 'values.psv_proximal: 100.00000000000000000001 has more digits than a JSON number keeps; send it as a string ("100.00000000000000000001") to keep every digit.'
    }
    assert _entries() == 0
    exact = client.post(M3_ENTRIES, data=body.replace("100.00000000000000000001", "100.5"), content_type="application/json")
    assert exact.status_code == 201 and exact.json["values"]["psv_proximal"] == 100.5


@pytest.mark.parametrize("sent", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:00:00-05:00"])
def test_an_instant_of_a_year_outside_the_rule_is_refused_422_before_any_zone_arithmetic(api, people, defier, sent):
    event = {"instrument": "adverse_events", "values": {"ae_term": "Groin haematoma", "onset_date": "2027-03", "aware_at": sent}}
    response = api(people["coordinator"]).post(M3_ENTRIES, json=event)
    assert response.status_code == 422 and "1900" in _fields(response)["values.aware_at"]
    assert _entries() == 0


def test_an_instant_with_a_fraction_of_a_second_is_refused_422_not_cut(api, people, defier):
    """The page keeps instants to the second at most; the API (as the ODM import) names a finer one, never drops part of it."""
    client = api(people["coordinator"])
    event = {"instrument": "adverse_events", "values": {"ae_term": "Groin haematoma", "onset_date": "2027-03", "aware_at": "2027-04-01T10:30:15.5+08:00"}}
    response = client.post(M3_ENTRIES, json=event)
    assert response.status_code == 422
    assert "fractions of a second are not kept" in _fields(response)["values.aware_at"]
    assert _entries() == 0
    event["values"]["aware_at"] = "2027-04-01T10:30:15.000+08:00"
    saved = client.post(M3_ENTRIES, json=event)
    assert saved.status_code == 201, saved.json
    assert saved.json["values"]["aware_at"] == "2027-04-01T02:30:15Z"


def test_a_form_the_visit_does_not_have_is_refused_naming_the_visits_forms(api, people, defier):
    response = api(people["coordinator"]).post(M3_ENTRIES, json={"instrument": "villalta", "values": {}})
    assert response.status_code == 422 and "duplex, abi, rutherford, adverse_events, endpoint_events" in _fields(response)["instrument"]


def test_completing_before_the_visit_has_a_date_is_refused_as_on_the_page(api, people, defier):
    client = api(people["coordinator"])
    url = "/api/v1/subjects/DEF-SH01-0001/visits/m6/entries"
    refused = client.post(url, json={"instrument": "abi", "values": ABI, "complete": True})
    assert refused.status_code == 422 and "Record the visit date before completing this form" in _fields(refused)[None]
    assert _entries() == 0
    assert client.post(url, json={"instrument": "abi", "values": ABI}).status_code == 201


def test_a_warning_is_confirmed_by_its_code_before_completing(api, people, defier):
    client = api(people["coordinator"])
    high = {"instrument": "abi", "values": {**ABI, "pt_right": 200}, "complete": True}
    refused = client.post(M3_ENTRIES, json=high)
    assert refused.status_code == 422
    assert (
        "ABI right 1.43 is above 1.40" in _fields(refused)["values.dp_right"]
        and "'abi_right_high' in confirmed_warnings" in _fields(refused)["values.dp_right"]
    )
    assert _entries() == 0
    confirmed = client.post(M3_ENTRIES, json={**high, "confirmed_warnings": ["abi_right_high"]})
    assert confirmed.status_code == 201 and confirmed.json["confirmed_warnings"] == ["abi_right_high"]


def test_a_single_form_already_entered_is_not_created_again(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"])
    response = api(people["investigator"]).post(M3_ENTRIES, json={"instrument": "abi", "values": ABI})
    assert response.status_code == 409 and f"PATCH /api/v1/entries/{entry.id}" in _fields(response)["instrument"]
    assert _entries() == 1


def test_a_create_repeated_with_its_idempotency_key_makes_one_entry(api, people, defier):
    client = api(people["coordinator"])
    event = {"instrument": "adverse_events", "values": {"ae_term": "Groin haematoma", "onset_date": "2027-03"}}
    first = client.post(M3_ENTRIES, json=event, headers={"Idempotency-Key": "ae-1"})
    again = client.post(M3_ENTRIES, json=event, headers={"Idempotency-Key": "ae-1"})
    assert (first.status_code, again.status_code) == (201, 201) and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"] and again.headers["Location"] == first.headers["Location"]
    assert _entries() == 1
    other = client.post(M3_ENTRIES, json=event, headers={"Idempotency-Key": "ae-2"})
    assert other.status_code == 201 and other.json["sequence"] == 2 and _entries() == 2


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_the_example_of_each_instrument_is_entered_as_complete_through_the_api(code, make_site, make_user, make_subject, api, clock):
    site = make_site("SH02", list(protocols()), "Asia/Shanghai")
    user = make_user("c2@example.org", [(study, site, Role.COORDINATOR) for study in protocols()])
    study, visit_code, arm = _first_use(code)
    with clock(datetime(2026, 1, 1, 4)):
        subject = make_subject(study, site, date(2026, 1, 1), arm=arm or protocols()[study].arms[0].code)
    visit = next(v for v in subject.visits if v.definition.code == visit_code)
    if visit.visit_date is None:
        record_visit_date(visit, visit.target_date)
    db.session.commit()
    items = registry()[code].items
    values = {name: _as_json(items[name].kind, raw) for name, raw in EXAMPLES[code].items() if raw != ""}
    with clock(datetime(2027, 6, 1, 4)):
        response = api(user).post(
            f"/api/v1/subjects/{subject.subject_code}/visits/{visit_code}/entries", json={"instrument": code, "values": values, "complete": True}
        )
    assert response.status_code == 201, response.json
    assert {name: response.json["values"][name] for name in values} == {name: _read_back(items[name].kind, value) for name, value in values.items()}


def _as_json(kind: Kind, raw: str):
    """A posted example value as a client of the API sends it."""
    if kind in (Kind.INTEGER, Kind.GRADED):
        return int(raw)
    if kind is Kind.DECIMAL:
        return float(raw)
    if kind in (Kind.YES_NO, Kind.TICK):
        return raw in ("True", "y")
    return raw


def _read_back(kind: Kind, sent):
    """How the API gives a value back: instants in UTC (sent in the site's local time, Shanghai)."""
    if kind is Kind.DATETIME:
        return datetime.fromisoformat(sent).replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return sent


# -- changing ------------------------------------------------------------------------------------------------------


def test_a_change_with_the_current_etag_merges_the_items_sent_and_gives_a_new_etag(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"])
    client = api(people["coordinator"])
    etag, version = client.get(f"/api/v1/entries/{entry.id}").headers["ETag"], entry.version
    response = client.patch(
        f"/api/v1/entries/{entry.id}",
        json={"values": {"pt_left": 95}, "missing": {"dp_left": {"code": "not_done", "reason": "ulcer"}}},
        headers={"If-Match": etag},
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["version"] > version and response.headers["ETag"] == body["etag"] != etag
    assert body["values"]["pt_left"] == 95 and body["values"]["dp_left"] is None and body["values"]["pt_right"] == 120
    assert body["missing"] == {"dp_left": {"code": "not_done", "reason": "ulcer"}} and body["computed"]["abi_left"] == 0.68
    assert body["status"] == "draft"
    uncoded = client.patch(f"/api/v1/entries/{entry.id}", json={"missing": {"dp_left": None}}, headers={"If-Match": body["etag"]})
    assert uncoded.status_code == 200 and uncoded.json["missing"] == {} and uncoded.json["values"]["dp_left"] is None
    recoded = client.patch(
        f"/api/v1/entries/{entry.id}", json={"missing": {"dp_left": {"code": "not_done", "reason": "ulcer"}}}, headers={"If-Match": uncoded.json["etag"]}
    )
    cleared = client.patch(f"/api/v1/entries/{entry.id}", json={"values": {"dp_left": 84}, "complete": True}, headers={"If-Match": recoded.json["etag"]})
    assert cleared.status_code == 200 and cleared.json["missing"] == {} and cleared.json["status"] == "complete"


def test_a_change_without_if_match_is_refused_428(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"])
    client = api(people["coordinator"])
    response = client.patch(f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 95}})
    assert response.status_code == 428 and "If-Match" in _fields(response)
    assert client.patch(f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 95}}, headers={"If-Match": "*"}).status_code == 428
    db.session.expire_all()
    assert db.session.get(AbiData, entry.id).pt_left == 90


def test_a_change_over_an_older_etag_is_refused_412_naming_who_saved_and_nothing_changes(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"])
    coordinator, investigator = api(people["coordinator"]), api(people["investigator"])
    old = coordinator.get(f"/api/v1/entries/{entry.id}").headers["ETag"]
    assert investigator.patch(f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 91}}, headers={"If-Match": old}).status_code == 200
    stale = coordinator.patch(f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 99}}, headers={"If-Match": old})
    assert stale.status_code == 412
    message = stale.json["errors"][0]["message"]
    assert "last saved by Ines Investigator" in message and "saved as 91, you entered 99" in message
    db.session.expire_all()
    assert db.session.get(AbiData, entry.id).pt_left == 91 and f'"entry-{entry.id}-v{db.session.get(CrfEntry, entry.id).version}"' != old


def test_an_if_match_that_is_no_etag_of_the_entry_is_refused_412_saying_so_not_that_the_form_changed(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"])
    client = api(people["coordinator"])
    other = client.post(M3_ENTRIES, json={"instrument": "adverse_events", "values": {"ae_term": "Groin haematoma", "onset_date": "2027-03"}})
    for tag in ("nonsense", f'W/"entry-{entry.id}-v{entry.version}"', other.headers["ETag"]):
        refused = client.patch(f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 95}}, headers={"If-Match": tag})
        assert refused.status_code == 412 and _fields(refused) == {
            "If-Match": f"If-Match: not an ETag of entry {entry.id} (weak tags are not accepted); read the entry (GET /api/v1/entries/{entry.id}) for its ETag."
        }, tag
    db.session.expire_all()
    assert db.session.get(AbiData, entry.id).pt_left == 90


def test_changing_a_complete_entry_needs_a_reason_and_drops_its_verification(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"], complete=True)
    verify_entry(entry, people["monitor"])
    db.session.commit()
    client = api(people["coordinator"])
    etag = client.get(f"/api/v1/entries/{entry.id}").json["etag"]
    refused = client.patch(f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 92}}, headers={"If-Match": etag})
    assert refused.status_code == 422 and "Reason for change: required" in _fields(refused)["reason_for_change"]
    changed = client.patch(
        f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 92}, "reason_for_change": "transcription error"}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200 and changed.json["status"] == "complete" and changed.json["verified"] is None
    reasons = db.session.scalars(
        select(AuditEvent.reason).where(AuditEvent.object_type == "abi_data", AuditEvent.field == "pt_left", AuditEvent.action == "update")
    )
    assert "transcription error" in list(reasons)


def test_a_locked_entry_is_not_changed(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"], complete=True)
    verify_entry(entry, people["monitor"])
    sign_entries([(entry, instrument("abi"))], people["investigator"], PasswordCheck(ok=True))
    lock_entries([entry], people["data_manager"])
    db.session.commit()
    client = api(people["coordinator"])
    read = client.get(f"/api/v1/entries/{entry.id}").json
    assert read["status"] == "locked" and read["locked"]["by"] == "Dana Manager" and read["signatures"][0]["holds"] is True
    response = client.patch(f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 92}, "reason_for_change": "typo"}, headers={"If-Match": read["etag"]})
    assert response.status_code == 422 and "This form is locked" in _fields(response)[None]


@pytest.mark.commits
def test_two_changes_sent_at_once_with_the_same_etag_one_is_saved_the_other_412(live_server, make_site, make_user, make_subject):
    site = make_site("SH01", ["defier"])
    users = [make_user(f"{name}@example.org", [("defier", site, Role.COORDINATOR)], name=name.title()) for name in ("ann", "bob")]
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[2], date(2027, 4, 1))
    db.session.commit()
    entry = _abi_entry(subject, users[0])
    secrets = [create_token(user, "race", 30)[1] for user in users]
    db.session.commit()
    url = f"{live_server}/api/v1/entries/{entry.id}"

    def change(secret: str, etag: str, value: int):
        return lambda: requests.patch(url, json={"values": {"pt_left": value}}, headers={"Authorization": f"Bearer {secret}", "If-Match": etag}, timeout=60)

    for round_ in range(3):  # a race the code leaves open shows up in one of them
        db.session.expire_all()
        etag = f'"entry-{entry.id}-v{db.session.get(CrfEntry, entry.id).version}"'
        responses = at_once([change(secrets[0], etag, 100 + round_), change(secrets[1], etag, 110 + round_)])
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200, 412], [response.text for response in responses]
        winner, loser = sorted(responses, key=lambda response: response.status_code)
        assert "Nothing of yours was saved" in loser.json()["errors"][0]["message"]
        db.session.expire_all()
        assert db.session.get(AbiData, entry.id).pt_left == winner.json()["values"]["pt_left"]
        assert db.session.get(CrfEntry, entry.id).version == winner.json()["version"]


# -- rights and the audit trail ------------------------------------------------------------------------------------


def test_a_read_only_token_may_read_entries_but_not_write_them(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"])
    client = api(people["coordinator"], read_only=True)
    assert client.get(f"/api/v1/entries/{entry.id}").status_code == 200
    assert client.post(M3_ENTRIES, json={"instrument": "adverse_events", "values": {"ae_term": "Pain"}}).status_code == 403
    assert client.patch(f"/api/v1/entries/{entry.id}", json={"values": {}}, headers={"If-Match": f'"entry-{entry.id}-v{entry.version}"'}).status_code == 403
    assert _entries() == 1


def test_a_monitor_reads_entries_but_may_not_write_them(api, people, defier):
    entry = _abi_entry(defier, people["coordinator"])
    client = api(people["monitor"])
    assert client.post(M3_ENTRIES, json={"instrument": "adverse_events", "values": {"ae_term": "Pain"}}).status_code == 403
    assert (
        client.patch(f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 1}}, headers={"If-Match": f'"entry-{entry.id}-v{entry.version}"'}).status_code
        == 403
    )
    assert _entries() == 1


def test_another_sites_entries_are_not_found(api, people, defier, make_site, make_user):
    entry = _abi_entry(defier, people["coordinator"])
    other = make_site("HZ01", ["defier"])
    client = api(make_user("hz@example.org", [("defier", other, Role.COORDINATOR)]))
    assert client.get(f"/api/v1/entries/{entry.id}").status_code == 404
    assert client.get("/api/v1/subjects/DEF-SH01-0001/entries").status_code == 404
    assert client.post(M3_ENTRIES, json={"instrument": "abi", "values": ABI}).status_code == 404
    assert (
        client.patch(f"/api/v1/entries/{entry.id}", json={"values": {"pt_left": 1}}, headers={"If-Match": f'"entry-{entry.id}-v{entry.version}"'}).status_code
        == 404
    )


def test_api_writes_are_audited_as_the_tokens_user_by_way_of_the_token(api, people, defier):
    mark = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    response = api(people["coordinator"], name="core lab upload").post(M3_ENTRIES, json={"instrument": "abi", "values": ABI})
    assert response.status_code == 201
    written = select(AuditEvent.user_email, AuditEvent.via).where(AuditEvent.id > mark, AuditEvent.object_type == "abi_data")
    rows = db.session.execute(written.where(AuditEvent.object_id == str(response.json["id"]))).all()
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "core lab upload"))
    assert rows and set(rows) == {("c@example.org", f"API token core lab upload ({token.prefix}…)")}


def test_the_blinded_assessor_reads_and_enters_only_the_assessor_forms(make_site, make_user, make_subject, api):
    site = make_site("BJ01", ["angel-icas"])
    coordinator = make_user("c@example.org", [("angel-icas", site, Role.COORDINATOR)])
    assessor = make_user("assessor@example.org", [("angel-icas", site, Role.BLINDED_ASSESSOR)])
    subject = make_subject("angel-icas", site, date(2027, 3, 1), arm="stent")
    for visit in subject.visits:
        record_visit_date(visit, visit.target_date)
    db.session.commit()
    staff = api(coordinator)
    code = subject.subject_code
    procedure = staff.post(f"/api/v1/subjects/{code}/visits/baseline/entries", json={"instrument": "procedure_stroke", "values": {"rescue_treatment": "stent"}})
    assert procedure.status_code == 201, procedure.json
    blinded = api(assessor)
    assert blinded.get(f"/api/v1/entries/{procedure.json['id']}").status_code == 404
    assert blinded.post(f"/api/v1/subjects/{code}/visits/baseline/entries", json={"instrument": "procedure_stroke", "values": {}}).status_code == 404
    hidden = blinded.post(f"/api/v1/subjects/{code}/visits/d90/entries", json={"instrument": "adverse_events", "values": {}})
    assert hidden.status_code == 404  # a form of the visit they may not see, as its entries
    refused = blinded.post(f"/api/v1/subjects/{code}/visits/d90/entries", json={"instrument": "no_such_form", "values": {}})
    assert refused.status_code == 422 and _fields(refused)["instrument"].endswith("you may enter: mrs.")
    mrs = blinded.post(
        f"/api/v1/subjects/{code}/visits/d90/entries",
        json={"instrument": "mrs", "values": {"score": 2, "method": "telephone", "assessor_blinded": True}, "complete": True},
    )
    assert mrs.status_code == 201, mrs.json
    listed = blinded.get(f"/api/v1/subjects/{code}/entries")
    assert [e["instrument"] for e in listed.json["items"]] == ["mrs"]
    assert "stent" not in listed.get_data(as_text=True) and "arm" not in listed.json["items"][0]


# -- queries -------------------------------------------------------------------------------------------------------


@pytest.fixture
def query(people, defier):
    entry = _abi_entry(defier, people["coordinator"], complete=True)
    raised = raise_query(entry, "pt_right", "Source says 125?", people["monitor"])
    db.session.commit()
    return raised


def test_site_staff_answer_a_query_and_get_its_thread(api, people, query):
    response = api(people["coordinator"]).post(f"/api/v1/queries/{query.id}/answer", json={"text": "Source checked: 120 is right."})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "answered" and body["field"] == "pt_right" and body["field_label"] == "Posterior tibial, right (mmHg)"
    assert [(m["kind"], m["author"]) for m in body["messages"]] == [("raise", "Mona Monitor"), ("answer", "Chen Coordinator")]
    assert api(people["monitor"]).get(f"/api/v1/queries/{query.id}").json == body
    db.session.expire_all()
    assert db.session.get(type(query), query.id).status is QueryStatus.ANSWERED
    again = api(people["coordinator"]).post(f"/api/v1/queries/{query.id}/answer", json={"text": "Again."})
    assert again.status_code == 422 and "cannot be answered" in again.json["errors"][0]["message"]


def test_an_answer_needs_text(api, people, query):
    response = api(people["coordinator"]).post(f"/api/v1/queries/{query.id}/answer", json={"text": "  "})
    assert response.status_code == 422 and _fields(response)["text"].startswith("Text: required")


def test_a_monitor_may_not_answer_a_query_and_another_site_does_not_find_it(api, people, query, make_site, make_user):
    assert api(people["monitor"]).post(f"/api/v1/queries/{query.id}/answer", json={"text": "Fine."}).status_code == 403
    other = make_site("HZ01", ["defier"])
    outsider = api(make_user("hz@example.org", [("defier", other, Role.COORDINATOR)]))
    assert outsider.post(f"/api/v1/queries/{query.id}/answer", json={"text": "Fine."}).status_code == 404
    assert outsider.get(f"/api/v1/queries/{query.id}").status_code == 404
    db.session.expire_all()
    assert db.session.get(type(query), query.id).status is QueryStatus.OPEN


# -- the document --------------------------------------------------------------------------------------------------


def test_the_document_describes_each_instruments_items_from_their_declaration(client):
    document = client.get("/api/v1/openapi.json").json
    assert {"/api/v1/entries/{entry_id}", "/api/v1/subjects/{subject_code}/visits/{visit_code}/entries", "/api/v1/queries/{query_id}/answer"} <= set(
        document["paths"]
    )
    schemas = document["components"]["schemas"]
    [abi_values] = [schema for name, schema in schemas.items() if name.startswith("EntryCreate.") and name.endswith(".AbiValues")]
    brachial = abi_values["properties"]["brachial_right"]
    assert (brachial["minimum"], brachial["maximum"], brachial["x-unit"]) == (50, 300, "mmHg")
    assert abi_values["properties"]["target_limb"]["enum"] == ["right", "left", None]
    assert set(abi_values["properties"]) == set(instrument("abi").items.entered_names())
    creates = [name for name in schemas if name.startswith("EntryCreate.") and name.endswith("EntryCreate")]
    assert len(creates) == len(CATALOGUE)
