"""Protocol files: the five studies load, and broken files are refused with file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ecrf.protocols import ProtocolError, load_protocol, load_protocols
from ecrf.protocols.schema import AllocationMethod

PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "ecrf" / "protocols"


def test_the_five_studies_load_with_the_visit_codes_and_windows_of_trials_md():
    protocols = load_protocols(PROTOCOL_DIR)
    assert set(protocols) == {"defier", "angel-icas", "leg-deb", "defiance", "precise-cal"}
    windows = {code: [(v.code, v.target_day, v.days_before, v.days_after) for v in p.visits] for code, p in protocols.items()}
    assert windows["defier"] == [("baseline", 0, 0, 0), ("m1", 30, 7, 7), ("m3", 90, 14, 14), ("m6", 180, 30, 30), ("m12", 365, 30, 30), ("m24", 730, 60, 60)]
    assert windows["angel-icas"] == [("baseline", 0, 0, 0), ("h48", 2, 1, 1), ("d7", 7, 2, 2), ("d90", 90, 7, 7)]
    assert windows["leg-deb"] == [("baseline", 0, 0, 0), ("m6", 180, 30, 30)]
    assert windows["defiance"] == [("baseline", 0, 0, 0), ("d30", 30, 7, 7), ("d90", 90, 14, 14), ("m6", 180, 30, 30)]
    assert windows["precise-cal"] == [("baseline", 0, 0, 0), ("m1", 30, 7, 7), ("m6", 180, 30, 30), ("m12", 365, 30, 30)]


def test_allocation_arms_and_index_follow_each_design():
    p = load_protocols(PROTOCOL_DIR)
    assert p["defier"].allocation.method is AllocationMethod.CHOSEN and [a.code for a in p["defier"].arms] == ["dcb", "des"]
    assert p["leg-deb"].allocation.method is AllocationMethod.SINGLE_ARM and len(p["leg-deb"].arms) == 1
    for code in ("angel-icas", "defiance", "precise-cal"):
        allocation = p[code].allocation
        assert allocation.method is AllocationMethod.RANDOMIZED
        assert sorted(allocation.ratio.values()) == [1, 1]
        assert all(size % 2 == 0 for size in allocation.block_sizes)
    assert p["angel-icas"].index.event == "randomization" and p["angel-icas"].index.with_time
    assert p["defier"].visit("m12").instruments_for("des")[-1] == "stent_fracture"
    assert "stent_fracture" not in p["defier"].visit("m12").instruments_for("dcb")


@pytest.mark.parametrize(
    ("study", "part", "code", "observed", "expected"),
    [
        ("defiance", "inclusion", None, {"villalta_total": 9}, False),
        ("defiance", "inclusion", None, {"villalta_total": 10}, True),
        ("angel-icas", "inclusion", None, {"nihss": 6}, True),
        ("angel-icas", "inclusion", None, {"nihss": 5}, False),
        ("precise-cal", "inclusion", None, {"qfr_post_modification": "0.80"}, False),
        ("precise-cal", "inclusion", None, {"qfr_post_modification": "0.81"}, True),
        ("precise-cal", "inclusion", None, {"vessel_diameter_mm": "2.25"}, True),
        ("precise-cal", "inclusion", None, {"vessel_diameter_mm": "4.01"}, False),
        ("defier", "inclusion", None, {"lesion_length_mm": 300}, True),
        ("defier", "inclusion", None, {"lesion_length_mm": 301}, False),
        ("angel-icas", "exclusion", None, {"creatinine_umol_l": 221}, True),
        ("angel-icas", "exclusion", None, {"gfr_ml_min": 30}, False),
    ],
)
def test_numeric_criteria_are_machine_checkable(study, part, code, observed, expected):
    protocol = load_protocols(PROTOCOL_DIR)[study]
    ((field, value),) = observed.items()
    matching = [c for c in getattr(protocol.eligibility, part) if any(r.field == field for r in c.rules)]
    assert matching, f"{study} has no {part} rule on {field}"
    rule_results = [rule.holds(value) for c in matching for rule in c.rules if rule.field == field]
    assert any(rule_results) is expected


def _write(tmp_path: Path, name: str, data: dict | str) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def defier_data() -> dict:
    return yaml.safe_load((PROTOCOL_DIR / "defier.yaml").read_text())


def _refusal(tmp_path, data, name="defier.yaml") -> str:
    with pytest.raises(ProtocolError) as caught:
        load_protocol(_write(tmp_path, name, data))
    return str(caught.value)


def test_an_unknown_key_is_refused_naming_file_and_key(tmp_path, defier_data):
    defier_data["visits"][1]["window"] = 7
    assert _refusal(tmp_path, defier_data) == "defier.yaml: visits.1.window: unknown key"


def test_a_visit_code_used_twice_is_refused(tmp_path, defier_data):
    defier_data["visits"][2]["code"] = "m1"
    message = _refusal(tmp_path, defier_data)
    assert message.startswith("defier.yaml: visits.m1: duplicate visit code")


def test_a_window_reaching_the_next_visits_target_is_refused(tmp_path, defier_data):
    defier_data["visits"][1]["days_after"] = 60  # m1 (day 30) window would end on day 90 = m3's target
    message = _refusal(tmp_path, defier_data)
    assert "defier.yaml: visits.m1.days_after: the window ends on day 90, not before the next visit m3's target day 90" in message


def test_an_arm_missing_from_the_ratio_is_refused(tmp_path):
    data = yaml.safe_load((PROTOCOL_DIR / "defiance.yaml").read_text())
    data["allocation"]["ratio"] = {"clottriever": 1}
    message = _refusal(tmp_path, data, "defiance.yaml")
    assert "defiance.yaml: allocation.ratio: must name every arm exactly; arm missing from the ratio: anticoagulation" in message


def test_arm_instruments_for_a_missing_arm_are_refused(tmp_path, defier_data):
    defier_data["visits"][4]["arm_instruments"] = {"bms": ["stent_fracture"]}
    assert "defier.yaml: visits.m12.arm_instruments: no such arm 'bms'; arms are dcb, des" in _refusal(tmp_path, defier_data)


def test_a_study_without_arms_is_refused(tmp_path, defier_data):
    defier_data["arms"] = []
    assert _refusal(tmp_path, defier_data).startswith("defier.yaml: arms: List should have at least 1 item")


def test_an_unknown_instrument_is_refused(tmp_path, defier_data):
    defier_data["visits"][0]["instruments"].append("abi_typo")
    assert "defier.yaml: visits.0.instruments: unknown instrument abi_typo; allowed:" in _refusal(tmp_path, defier_data)


def test_block_sizes_must_fit_the_ratio(tmp_path):
    data = yaml.safe_load((PROTOCOL_DIR / "defiance.yaml").read_text())
    data["allocation"]["block_sizes"] = [2, 3]
    assert "defiance.yaml: allocation: block_sizes: 3 is not a multiple of the ratio's sum 2" in _refusal(tmp_path, data, "defiance.yaml")


def test_a_key_written_twice_in_the_yaml_is_refused(tmp_path):
    text = (PROTOCOL_DIR / "defier.yaml").read_text() + "\ntarget_enrolment: 600\n"
    assert "defier.yaml: cannot be read: " in _refusal(tmp_path, text) and "duplicate key 'target_enrolment'" in _refusal(tmp_path, text)


def test_a_file_named_differently_from_its_code_is_refused(tmp_path, defier_data):
    assert _refusal(tmp_path, defier_data, "other.yaml") == "other.yaml: code: 'defier' does not match the file name 'other'"


def test_a_wrong_type_names_the_key(tmp_path, defier_data):
    defier_data["visits"][1]["target_day"] = "thirty"
    assert _refusal(tmp_path, defier_data).startswith("defier.yaml: visits.1.target_day: Input should be a valid integer")


REPOSITORY = PROTOCOL_DIR.parent.parent


def test_protocol_files_name_their_sources_relative_to_the_repository_never_by_a_machine_path():
    for path in sorted(PROTOCOL_DIR.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert "/work/" not in text and "/home/" not in text, f"{path.name} names a source by a machine path"
        source = load_protocol(path).source
        assert source.startswith("../shared/seeds/"), f"{path.name}: source {source!r}"
        if (REPOSITORY / "../shared/seeds").is_dir():
            assert (REPOSITORY / source).is_file(), f"{path.name}: {source} does not exist relative to the repository"


def test_code_comments_never_name_a_machine_path():
    for path in sorted(REPOSITORY.glob("*.py")) + sorted((REPOSITORY / "ecrf").rglob("*.py")) + sorted((REPOSITORY / "forms").rglob("*.py")):
        assert "/work/shared" not in path.read_text(encoding="utf-8"), f"{path.relative_to(REPOSITORY)} names a machine path"


def test_a_source_given_as_a_machine_path_is_refused(tmp_path, defier_data):
    defier_data["source"] = "/srv/trials/seeds/defier.txt"
    assert _refusal(tmp_path, defier_data).startswith("defier.yaml: source: '/srv/trials/seeds/defier.txt' is a machine path")


def test_a_criterion_may_apply_only_unless_another_answer_holds(tmp_path):
    data = yaml.safe_load((PROTOCOL_DIR / "defiance.yaml").read_text())
    renal = next(c for c in load_protocols(PROTOCOL_DIR)["defiance"].eligibility.exclusion if c.code == "renal_impairment")
    assert renal.unless is not None and renal.unless.field == "on_dialysis" and renal.unless.holds(1)
    criterion = next(c for c in data["eligibility"]["exclusion"] if c["code"] == "renal_impairment")
    criterion["unless"] = {"field": "on_dialysis_typo", "op": "==", "value": 1}
    assert "eligibility.exclusion.11.unless.field: unknown screening field 'on_dialysis_typo'" in _refusal(tmp_path, data, "defiance.yaml")
    criterion["unless"] = {"field": "gfr_ml_min", "op": ">", "value": 60}
    assert ("defiance.yaml: eligibility.exclusion.11: unless: names gfr_ml_min, a value the criterion's own rule judges; name another answer") in _refusal(
        tmp_path, data, "defiance.yaml"
    )
    ivc = next(c for c in data["eligibility"]["exclusion"] if c["code"] == "ivc_filter")
    criterion["unless"] = {"field": "on_dialysis", "op": "==", "value": 1}
    ivc["unless"] = {"field": "on_dialysis", "op": "==", "value": 1}
    assert ("defiance.yaml: eligibility.exclusion.3: unless: only a criterion with rule or any_of can have it; the investigator judges this one") in _refusal(
        tmp_path, data, "defiance.yaml"
    )
