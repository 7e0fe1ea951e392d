"""Plausible synthetic values for every instrument, for the demo (`ecrf.demo`): what a site would enter.

Pure functions of a `Case` (where the entry is made) and a seeded `random.Random`: no database. Each subject
gets a `Profile` drawn once (target limb, lesion, ABI course, stroke severity, Villalta course...), so that
its visits tell one story: the ABI rises after the procedure, a few target lesions restenose later (ABI
falls, Rutherford worsens, the duplex shows it, a re-intervention follows), most DVT legs recover and a few
develop a post-thrombotic syndrome. Baseline values meet the protocol's eligibility rules.

Ranges and code lists come from the instruments' item declarations (`instrument(code).items`); `checked`
refuses any value outside them. The cross-field rules of the forms are kept by construction (and
`tests/test_demo.py` re-validates every entered value through its form). Everything here is invented.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ecrf.crfs.items import Item, Kind
from ecrf.crfs.models import MissingCode
from ecrf.crfs.registry import instrument
from ecrf.instruments.abi import leg_abis
from ecrf.instruments.peripheral import parc_success
from ecrf.scales import VILLALTA_ITEMS


@dataclass(frozen=True)
class Case:
    """Where an entry is made: the subject's study, arm and dates, and the visit."""

    study: str
    arm: str | None
    visit_code: str
    target_day: int
    visit_date: date
    #: The visit date lies in the visit's stored window.
    in_window: bool
    index_date: date
    #: The index instant, where the protocol has one (ANGEL-ICAS randomization).
    index_at: datetime | None
    consent_date: date
    timezone: str
    #: The date of the subject's previous dated visit (the consent date for the first).
    previous_date: date
    now: datetime
    #: Hours the protocol allows from awareness of a serious adverse event to its report.
    report_hours: int
    profile: Profile

    @property
    def baseline(self) -> bool:
        """The day-0 visit."""
        return self.target_day == 0

    def local(self, day: date, hour: int, minute: int = 0) -> datetime:
        """A site-local time on `day`, as an aware UTC instant (to the minute, as a browser enters it)."""
        return datetime.combine(day, time(hour, minute), ZoneInfo(self.timezone)).astimezone(UTC)

    def not_after_now(self, moment: datetime, earliest: datetime) -> datetime:
        """`moment`, or a minute-rounded instant just before now when it would lie in the future (never before `earliest`)."""
        latest = (self.now - timedelta(minutes=5)).replace(second=0, microsecond=0)
        return max(min(moment, latest), earliest)


@dataclass
class Profile:
    """A subject's traits, drawn once, that its visits share."""

    limb: str
    segment: str
    brachial: int
    abi_before: Decimal
    abi_after: Decimal
    other_leg_abi: Decimal
    rutherford_before: int
    #: The category the procedure brings the limb to (kept while the lesion stays open: any worsening is flagged).
    rutherford_after: int
    #: Target day of the first follow-up at which the target lesion has restenosed (None: it stays open).
    restenosis_from: int | None
    occlusion_site: str
    nihss_before: int
    villalta_before: int
    #: Severe post-thrombotic syndrome from the 90-day visit on.
    pts: bool
    anticoagulant: str
    #: AEs already given to this subject, so that a term is not repeated.
    terms: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Generated:
    """One entry's values (every entered item, None where left empty), missing-data codes and confirmed warnings."""

    values: dict[str, object]
    missing: dict[str, dict[str, str]] = field(default_factory=dict)
    confirmed_warnings: list[str] = field(default_factory=list)


def draw_profile(study: str, follow_ups: list[int], rng: random.Random) -> Profile:
    """A subject's traits (only those of its study's instruments are ever used); `follow_ups`: the target days of
    its visits after day 0."""
    below_knee = study == "leg-deb" and rng.random() < 0.4
    segments = ["anterior_tibial", "posterior_tibial", "tibioperoneal_trunk"] if below_knee else ["sfa_proximal", "sfa_mid", "sfa_distal", "popliteal_p1"]
    abi_before = _d2(rng.uniform(0.45, 0.78))
    rutherford_before = rng.choice([2, 3, 3, 3, 4, 5])
    return Profile(
        limb=rng.choice(["right", "left"]),
        segment=rng.choice(segments),
        brachial=rng.randint(118, 165),
        abi_before=abi_before,
        abi_after=_d2(min(1.15, float(abi_before) + rng.uniform(0.25, 0.42))),
        other_leg_abi=_d2(rng.uniform(0.92, 1.15)),
        rutherford_before=rutherford_before,
        rutherford_after=rng.choice([0, 1, 1]) if rutherford_before <= 3 else rng.choice([1, 2, 2, 3]),
        restenosis_from=rng.choice(follow_ups) if follow_ups and rng.random() < 0.18 else None,
        occlusion_site=rng.choices(["ica", "mca_m1", "va_v4", "basilar"], weights=[3, 5, 1, 1])[0],
        nihss_before=rng.randint(7, 20),
        villalta_before=rng.randint(10, 18),
        pts=rng.random() < 0.12,
        anticoagulant=rng.choices(["rivaroxaban", "apixaban", "lmwh", "edoxaban", "warfarin"], weights=[4, 4, 2, 1, 1])[0],
    )


def _d2(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))


def _item(code: str, name: str) -> Item:
    return instrument(code).items[name]


def _pick(code: str, name: str, rng: random.Random, weights: list[float] | None = None) -> object:
    """One code of the item's code list."""
    codes = [value for value, _ in _item(code, name).codes]
    return rng.choices(codes, weights=weights)[0] if weights else rng.choice(codes)


def _restenosed(case: Case) -> bool:
    return case.profile.restenosis_from is not None and not case.baseline and case.target_day >= case.profile.restenosis_from


def _day_between(first: date, last: date, rng: random.Random) -> date:
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


# -- peripheral ------------------------------------------------------------------------------------


def medical_history(case: Case, rng: random.Random) -> list[Generated]:
    """Risk factors in the proportions of a peripheral-artery population; a diabetes treatment only with diabetes."""
    diabetes = rng.random() < 0.42
    return [
        Generated(
            {
                "diabetes": diabetes,
                "diabetes_treatment": _pick("medical_history", "diabetes_treatment", rng, [1, 5, 3]) if diabetes else None,
                "hypertension": rng.random() < 0.75,
                "hyperlipidaemia": rng.random() < 0.6,
                "smoking": _pick("medical_history", "smoking", rng, [3, 5, 2]),
                "chronic_kidney_disease": rng.random() < 0.15,
                "coronary_artery_disease": rng.random() < 0.35,
                "prior_stroke": rng.random() < 0.08,
                "prior_amputation_target_limb": rng.random() < 0.03,
            }
        )
    ]


def lesion_peripheral(case: Case, rng: random.Random) -> list[Generated]:
    """The target lesion: within the protocol's length and stenosis limits; an occlusion is 100 %."""
    profile = case.profile
    occluded = rng.random() < 0.25
    below_knee = profile.segment in ("anterior_tibial", "posterior_tibial", "tibioperoneal_trunk")
    return [
        Generated(
            {
                "side": profile.limb,
                "segment": profile.segment,
                "lesion_length_mm": rng.randint(30, 120) if below_knee else rng.randint(40, 260),
                "occluded": occluded,
                "stenosis_pct": 100 if occluded else rng.randint(60, 95),
                "calcification": _pick("lesion_peripheral", "calcification", rng, [2, 2, 3, 3, 1]),
                "in_stent_restenosis": case.study == "defier" or rng.random() < 0.1,
                "reference_diameter_mm": Decimal(str(round(rng.uniform(2.5, 3.5) if below_knee else rng.uniform(4.5, 6.0), 1))),
            }
        )
    ]


def procedure_peripheral(case: Case, rng: random.Random) -> list[Generated]:
    """The index procedure on day 0 with the arm's device; technical success as PARC judges it."""
    des = case.arm == "des"
    provisional = not des and rng.random() < 0.12
    values: dict[str, object] = {
        "procedure_date": case.index_date,
        "device_predilatation": True,
        "device_dcb": not des,
        "device_des": des,
        "device_bms": provisional,
        "device_atherectomy": rng.random() < 0.1,
        "device_other": False,
        "device_other_specify": None,
        "provisional_stent": provisional,
        "provisional_stent_reason": "flow_limiting_dissection" if provisional else None,
        "provisional_stent_reason_other": None,
        "residual_stenosis_pct": rng.randint(5, 25),
        "flow_limiting_dissection": False,
    }
    values["technical_success"] = parc_success(values.get)  # the investigator's judgement agrees with PARC
    return [Generated(values)]


def abi(case: Case, rng: random.Random, *, after_procedure: bool = False) -> list[Generated]:
    """Brachial and ankle pressures giving the leg's ABI on the subject's course (before, after, patent or restenosed)."""
    profile = case.profile
    if after_procedure:
        target = profile.abi_after
    elif case.baseline:
        target = profile.abi_before
    elif _restenosed(case):
        target = profile.abi_after - _d2(rng.uniform(0.2, 0.32))
    else:
        target = profile.abi_after - _d2(rng.uniform(-0.03, 0.06))
    brachial = profile.brachial + rng.randint(-4, 4)
    brachial_other = brachial - rng.randint(0, 10)
    other = profile.other_leg_abi + _d2(rng.uniform(-0.03, 0.03))
    values: dict[str, object] = {"target_limb": profile.limb}
    values |= (
        {"brachial_right": brachial, "brachial_left": brachial_other} if rng.random() < 0.5 else {"brachial_right": brachial_other, "brachial_left": brachial}
    )
    values |= {"brachial_right_not_measurable": False, "brachial_left_not_measurable": False}
    for side in ("right", "left"):
        leg_abi = target if side == profile.limb else other
        best = max(1, round(float(leg_abi) * brachial))
        second = max(1, best - rng.randint(2, 18))
        pt, dp = (best, second) if rng.random() < 0.6 else (second, best)
        values |= {f"pt_{side}": pt, f"pt_{side}_finding": None, f"dp_{side}": dp, f"dp_{side}_finding": None}
    assert all(value is not None and value <= Decimal("1.40") for value in leg_abis(values.get).values())  # no warning to confirm
    return [Generated(values)]


def abi_post(case: Case, rng: random.Random) -> list[Generated]:
    """The ABI after the index procedure."""
    return abi(case, rng, after_procedure=True)


def rutherford(case: Case, rng: random.Random) -> list[Generated]:
    """The category before the procedure, where the procedure brought it, or back up once the lesion restenoses."""
    profile = case.profile
    if case.baseline:
        category = profile.rutherford_before
    elif _restenosed(case):
        category = min(6, profile.rutherford_before + rng.choice([0, 0, 1]))
    else:
        category = profile.rutherford_after
    return [Generated({"limb": profile.limb, "category": category})]


def duplex(case: Case, rng: random.Random) -> list[Generated]:
    """The exam on the visit day: PSV ratio below 2 while patent, above 2.4 (or occluded) once restenosed."""
    profile = case.profile
    restenosed = _restenosed(case)
    occluded = restenosed and rng.random() < 0.25
    proximal = Decimal(str(round(rng.uniform(55, 110), 1)))
    ratio = rng.uniform(2.6, 4.2) if restenosed else rng.uniform(0.9, 1.8)
    values: dict[str, object] = {
        "exam_date": case.visit_date,
        "side": profile.limb,
        "segment": profile.segment,
        "occluded": occluded,
        "psv_lesion": None if occluded else Decimal(str(round(float(proximal) * ratio, 1))),
        "psv_proximal": None if occluded else proximal,
    }
    return [Generated(values, confirmed_warnings=[] if case.in_window else ["exam_date_outside_window"])]


def stent_fracture(case: Case, rng: random.Random) -> list[Generated]:
    """The x-ray on the visit day; a fracture now and then."""
    fracture = rng.random() < 0.08
    values = {"xray_date": case.visit_date, "fracture": fracture, "fracture_type": rng.choice(["I", "II"]) if fracture else None}
    return [Generated(values, confirmed_warnings=[] if case.in_window else ["xray_date_outside_window"])]


# -- adverse and endpoint events -------------------------------------------------------------------

#: (term, share of serious ones, relationship to the procedure when related) by kind of study.
AE_TERMS = {
    "peripheral": [
        ("Groin haematoma", 0.2, "probable"),
        ("Access-site pseudoaneurysm", 0.5, "causal"),
        ("Contrast-induced acute kidney injury", 0.4, "possible"),
        ("Pneumonia", 0.7, "not_related"),
        ("Urinary tract infection", 0.2, "not_related"),
        ("Wound infection of the foot", 0.4, "not_related"),
        ("Claudication recurrence", 0.1, "possible"),
        ("Atrial fibrillation", 0.5, "not_related"),
        ("Fall with wrist fracture", 0.6, "not_related"),
    ],
    "coronary": [
        ("Access-site haematoma (radial)", 0.1, "probable"),
        ("Chest pain, non-cardiac", 0.3, "not_related"),
        ("Contrast-induced acute kidney injury", 0.4, "possible"),
        ("Atrial fibrillation", 0.5, "not_related"),
        ("Heart failure decompensation", 0.8, "not_related"),
        ("Gastrointestinal bleeding", 0.7, "not_related"),
    ],
    "stroke": [
        ("Aspiration pneumonia", 0.8, "not_related"),
        ("Urinary tract infection", 0.3, "not_related"),
        ("Post-stroke depression", 0.2, "not_related"),
        ("Groin haematoma", 0.2, "probable"),
        ("Deep vein thrombosis of the calf", 0.4, "not_related"),
        ("Seizure", 0.6, "not_related"),
    ],
    "venous": [
        ("Access-site bleeding (popliteal)", 0.2, "probable"),
        ("Minor haemoptysis", 0.3, "not_related"),
        ("Menorrhagia on anticoagulation", 0.2, "not_related"),
        ("Pulmonary embolism", 0.9, "possible"),
        ("Leg pain after thrombectomy", 0.1, "probable"),
        ("Epistaxis", 0.1, "not_related"),
    ],
}
STUDY_KIND = {"defier": "peripheral", "leg-deb": "peripheral", "precise-cal": "coronary", "angel-icas": "stroke", "defiance": "venous"}
#: Studies with a drug-coated device or a study drug: the others code the relationship to the drug not applicable.
WITH_DRUG = ("defier", "leg-deb", "precise-cal")


def adverse_events(case: Case, rng: random.Random) -> list[Generated]:
    """Now and then an event since the previous visit (none when the visit is only days old: its report would lie ahead)."""
    if case.visit_date > case.now.date() - timedelta(days=3) or rng.random() > (0.35 if case.baseline else 0.22):
        return []
    terms = [t for t in AE_TERMS[STUDY_KIND[case.study]] if t[0] not in case.profile.terms]
    if not terms:
        return []
    term, serious_share, related = rng.choice(terms)
    case.profile.terms.add(term)
    start = max(case.previous_date, case.consent_date)
    onset = _day_between(start, case.visit_date - timedelta(days=1) if case.visit_date > start else start, rng)
    serious = rng.random() < serious_share
    ongoing = rng.random() < 0.25
    end = None if ongoing else _day_between(onset, case.visit_date, rng)
    criteria = {name: False for name in ("sae_death", "sae_life_threatening", "sae_disability", "sae_congenital_anomaly", "sae_intervention")}
    hospitalised = serious and rng.random() < 0.8
    criteria |= {"sae_hospitalisation": hospitalised, "sae_medically_important": serious and not hospitalised}
    if serious and rng.random() < 0.15:
        criteria["sae_life_threatening"] = True
    aware = case.local(min(onset + timedelta(days=rng.choice([0, 0, 1])), case.visit_date), rng.randint(8, 18), rng.choice([0, 15, 30, 45]))
    aware = case.not_after_now(aware, case.local(onset, 0))
    late = serious and rng.random() < 0.08
    reported = None
    if serious:
        reported = case.not_after_now(aware + timedelta(hours=rng.randint(30, 60) if late else rng.randint(2, 20), minutes=rng.choice([0, 10, 20])), aware)
        late = reported - aware > timedelta(hours=case.report_hours)
    values: dict[str, object] = {
        "ae_term": term,
        "onset_date": onset.isoformat()[:7] if rng.random() < 0.08 and not serious else onset.isoformat(),
        "ongoing": ongoing,
        "end_date": None if end is None else end.isoformat(),
        "serious": serious,
        **criteria,
        "severity": rng.choice(["moderate", "severe"]) if serious else rng.choice(["mild", "mild", "moderate"]),
        "relation_device": "not_related" if related == "not_related" else rng.choice(["not_related", "possible"]),
        "relation_procedure": related if rng.random() < 0.7 else "not_related",
        "relation_drug": rng.choice(["not_related", "not_related", "possible"]) if case.study in WITH_DRUG else None,
        "outcome": rng.choice(["recovering", "not_recovered"]) if ongoing else rng.choice(["recovered", "recovered", "recovered_with_sequelae"]),
        "action_taken": "hospitalisation" if hospitalised else rng.choice(["none", "medication", "medication", "procedure"]),
        "action_other": None,
        "aware_at": aware,
        "reported_at": reported,
    }
    missing = (
        {} if case.study in WITH_DRUG else {"relation_drug": {"code": MissingCode.NOT_APPLICABLE.value, "reason": "No drug-coated device and no study drug"}}
    )
    return [Generated(values, missing, ["sae_reported_late"] if late else [])]


def endpoint_events(case: Case, rng: random.Random) -> list[Generated]:
    """A clinically driven re-intervention where a peripheral target lesion restenosed (at the first visit that shows it);
    now and then another event in the other studies."""
    profile = case.profile
    base: dict[str, object] = {name: None for name in instrument("endpoint_events").items.entered_names()}
    if STUDY_KIND[case.study] == "peripheral":
        if case.target_day != profile.restenosis_from:
            return []
        return [
            Generated(
                base
                | {
                    "event_type": "revascularization",
                    "event_date": case.visit_date,
                    "revasc_vessel": "target_lesion",
                    "revasc_clinically_driven": True,
                    "revasc_method": "endovascular" if rng.random() < 0.85 else "surgical",
                    "adjudication_note": "Synthetic demo: restenosis on duplex with recurrent claudication.",
                }
            )
        ]
    if rng.random() > 0.04:
        return []
    if case.study == "precise-cal":
        event = {"event_type": "revascularization", "revasc_vessel": "target_lesion", "revasc_clinically_driven": True, "revasc_method": "endovascular"}
    elif case.study == "angel-icas":
        event = {"event_type": "stroke", "stroke_type": "ischaemic", "stroke_disabling": False}
    else:
        event = {"event_type": "revascularization", "revasc_vessel": "target_vessel", "revasc_clinically_driven": True, "revasc_method": "endovascular"}
    return [Generated(base | event | {"event_date": _day_between(case.previous_date + timedelta(days=1), case.visit_date, rng)})]


# -- stroke ---------------------------------------------------------------------------------------------


def _nihss_items(total: int, rng: random.Random) -> dict[str, object]:
    """NIHSS item scores adding up to `total` (as far as the items' maxima allow), never coma (1a at most 1)."""
    items = instrument("nihss").items
    scored = [item.name for item in items.entered if item.kind is Kind.GRADED]
    maxima = {name: max(int(str(code)) for code, _ in items[name].codes) for name in scored} | {"item_1a": 1}
    heavy = ("item_4", "item_5a", "item_5b", "item_6a", "item_6b", "item_9", "item_10", "item_11")  # face, limbs, language, speech, neglect
    weights = {name: 3 if name in heavy else 1 for name in scored}
    scores = dict.fromkeys(scored, 0)
    for _ in range(total):
        open_ = [name for name in scored if scores[name] < maxima[name]]
        if not open_:
            break
        chosen = rng.choices(open_, weights=[weights[name] for name in open_])[0]
        scores[chosen] += 1
    ticks = {item.name: False for item in items.entered if item.kind is Kind.TICK}
    return {**scores, **ticks, "untestable_explanation": None}


def nihss(case: Case, rng: random.Random) -> list[Generated]:
    """The day-0 NIHSS (within eligibility), improving at 48 hours and day 7."""
    before = case.profile.nihss_before
    total = before if case.baseline else max(0, round(before * (rng.uniform(0.4, 0.85) if case.visit_code == "h48" else rng.uniform(0.1, 0.6))))
    return [Generated(_nihss_items(total, rng))]


def aspects(case: Case, rng: random.Random) -> list[Generated]:
    """ASPECTS, or pc-ASPECTS for a posterior occlusion, within eligibility."""
    posterior = case.profile.occlusion_site in ("va_v4", "basilar")
    return [Generated({"circulation": "posterior" if posterior else "anterior", "score": rng.randint(6, 10)})]


def mrs(case: Case, rng: random.Random) -> list[Generated]:
    """The pre-stroke mRS at day 0 (0-1); the blinded day-90 outcome."""
    if case.baseline:  # the pre-stroke mRS: no outcome questions
        return [Generated({"score": rng.choice([0, 0, 0, 1])})]
    score = rng.choices(range(0, 7), weights=[8, 14, 14, 12, 8, 4, 0])[0]
    return [Generated({"score": score, "method": rng.choice(["in_person", "in_person", "telephone"]), "assessor_blinded": True})]


def procedure_stroke(case: Case, rng: random.Random) -> list[Generated]:
    """Last known well hours before randomization, a residual stenosis past the gate, the arm's rescue treatment."""
    randomized = case.index_at or case.local(case.index_date, 12)
    last_known_well = (randomized - timedelta(hours=rng.randint(3, 20), minutes=rng.choice([0, 15, 30, 45]))).replace(second=0, microsecond=0)
    rescue = case.arm if case.arm in ("balloon", "stent") else "balloon"
    return [
        Generated(
            {
                "last_known_well": last_known_well,
                "occlusion_site": case.profile.occlusion_site,
                "residual_stenosis_pct": rng.randint(50, 90),
                "rescue_treatment": rescue,
                "rescue_not_performed_reason": None,
                "reperfusion_etici": rng.choices(["2a", "2b", "2c", "3"], weights=[1, 4, 3, 3])[0],
            }
        )
    ]


def imaging_ich(case: Case, rng: random.Random) -> list[Generated]:
    """The 48-hour scan: a small asymptomatic haemorrhage now and then, rarely a symptomatic one."""
    randomized = case.index_at or case.local(case.index_date, 12)
    moment = (randomized + timedelta(hours=rng.randint(18, 40), minutes=rng.choice([0, 20, 40]))).replace(second=0, microsecond=0)
    moment = case.not_after_now(moment, randomized.replace(second=0, microsecond=0) + timedelta(minutes=1))
    roll = rng.random()
    values: dict[str, object] = {"imaging_datetime": moment, "modality": rng.choice(["ct", "ct", "mri"]), "ich_present": roll < 0.15}
    if roll < 0.03:
        values |= {"heidelberg_class": "3a", "symptomatic": True, "nihss_increase": rng.randint(4, 8)}
    elif roll < 0.15:
        values |= {"heidelberg_class": rng.choice(["1a", "1b", "1c"]), "symptomatic": False, "nihss_increase": rng.randint(0, 2)}
    else:
        values |= {"heidelberg_class": None, "symptomatic": None, "nihss_increase": None}
    return [Generated(values)]


# -- DVT --------------------------------------------------------------------------------------------------


def procedure_dvt(case: Case, rng: random.Random) -> list[Generated]:
    """A proximal DVT of the subject's leg within the protocol's weeks, anticoagulated from onset; thrombectomy in its arm."""
    profile = case.profile
    onset = case.index_date - timedelta(days=rng.randint(3, 45))
    performed = case.arm == "clottriever"
    values: dict[str, object] = {
        "affected_leg": profile.limb,
        "thrombus_ivc": False,
        "thrombus_common_iliac": rng.random() < 0.5,
        "thrombus_external_iliac": rng.random() < 0.7,
        "thrombus_common_femoral": True,
        "thrombus_femoral": rng.random() < 0.7,
        "thrombus_popliteal": rng.random() < 0.4,
        "thrombus_calf": rng.random() < 0.2,
        "symptom_onset_date": onset,
        "anticoagulant": profile.anticoagulant,
        "anticoagulant_other": None,
        "anticoagulant_start_date": min(onset + timedelta(days=rng.randint(0, 3)), case.index_date),
        "thrombectomy_performed": performed,
        "thrombectomy_date": case.index_date if performed else None,
    }
    return [Generated(values)]


def _villalta_items(total: int, rng: random.Random) -> dict[str, object]:
    """Villalta item scores (0-3 each, from the item declarations) adding up to `total`."""
    items = instrument("villalta").items
    scores = dict.fromkeys(VILLALTA_ITEMS, 0)
    for _ in range(total):
        open_ = [name for name in VILLALTA_ITEMS if scores[name] < int(items[name].high or 3)]
        if not open_:
            break
        scores[rng.choice(open_)] += 1
    return dict(scores)


def villalta(case: Case, rng: random.Random) -> list[Generated]:
    """A Villalta total over 9 at day 0, falling after; a severe post-thrombotic syndrome from day 90 for a few."""
    profile = case.profile
    if case.baseline:
        total = profile.villalta_before
    elif profile.pts and case.target_day >= 90:
        total = rng.randint(15, 20)
    else:
        total = max(0, round(profile.villalta_before * {30: rng.uniform(0.35, 0.7), 90: rng.uniform(0.15, 0.5)}.get(case.target_day, rng.uniform(0.05, 0.4))))
    return [Generated({"leg": profile.limb, **_villalta_items(total, rng), "ulcer": False})]


def anticoagulation(case: Case, rng: random.Random) -> list[Generated]:
    """The day-0 agent (LMWH switched to apixaban at day 30); stopped by some at 6 months."""
    profile = case.profile
    if case.baseline:
        return [
            Generated({"anticoagulated": True, "agent": profile.anticoagulant, "agent_other": None, "changed": None, "change_reason": None, "bleeding": None})
        ]
    anticoagulated = case.target_day < 180 or rng.random() < 0.6
    changed = anticoagulated and profile.anticoagulant == "lmwh" and case.target_day == 30
    agent = ("apixaban" if changed else profile.anticoagulant) if anticoagulated else None
    if changed:
        profile.anticoagulant = "apixaban"
    values: dict[str, object] = {
        "anticoagulated": anticoagulated,
        "agent": agent,
        "agent_other": None,
        "changed": changed if anticoagulated else rng.random() < 0.5,
        "change_reason": "Switched from injections to an oral anticoagulant" if changed else None,
        "bleeding": rng.random() < 0.05,
    }
    if not anticoagulated and values["changed"]:
        values["change_reason"] = "Anticoagulation stopped after the planned course"
    return [Generated(values)]


# -- coronary -------------------------------------------------------------------------------------------


def procedure_coronary(case: Case, rng: random.Random) -> list[Generated]:
    """The target vessel, one calcium modification technique, a QFR past the gate, the arm's device."""
    technique = rng.choices(["modification_ra", "modification_ivl", "modification_elca"], weights=[5, 4, 1])[0]
    dcb = case.arm != "des"
    bailout = dcb and rng.random() < 0.1
    values: dict[str, object] = {
        "target_vessel": rng.choices(["lad", "lcx", "rca"], weights=[5, 2, 3])[0],
        "target_vessel_other": None,
        "reference_diameter_mm": Decimal(str(round(rng.uniform(2.5, 3.75), 2))),
        "modification_ra": technique == "modification_ra",
        "modification_ivl": technique == "modification_ivl",
        "modification_elca": technique == "modification_elca",
        "qfr_post_modification": Decimal(str(round(rng.uniform(0.84, 0.97), 2))),
        "device": "dcb" if dcb else "des",
        "bailout_stent": bailout if dcb else None,
        "bailout_reason": "flow_limiting_dissection" if bailout else None,
        "bailout_reason_other": None,
    }
    return [Generated(values)]


def perioperative_events(case: Case, rng: random.Random) -> list[Generated]:
    """Troponin (always) and CK-MB (half) around the PCI; now and then a rise past the protocol's MI multiple."""
    start = case.index_at or case.local(case.index_date, 9)
    values: dict[str, object] = {"side_branch_loss": rng.random() < 0.04, "perforation": rng.random() < 0.01, "no_reflow": rng.random() < 0.02}
    for prefix, unit, uln, pre, peak in (("ctn", "ng/L", 14, (3, 12), (10, 50)), ("ckmb", "ng/mL", 5, (1, 4), (2, 9))):
        measured = prefix == "ctn" or rng.random() < 0.5
        high = rng.random() < 0.06  # a marker rise well above the protocol's multiple: a periprocedural MI to judge
        peak_at = case.not_after_now(start + timedelta(hours=rng.randint(8, 24)), start.replace(second=0, microsecond=0))
        values |= {
            f"{prefix}_measured": measured,
            f"{prefix}_unit": unit if measured else None,
            f"{prefix}_uln": Decimal(uln).quantize(Decimal("0.001")) if measured else None,
            f"{prefix}_pre": Decimal(rng.randint(*pre)).quantize(Decimal("0.001")) if measured else None,
            f"{prefix}_peak": Decimal(rng.randint(*peak) * (12 if high else 1)).quantize(Decimal("0.001")) if measured else None,
            f"{prefix}_peak_at": peak_at if measured else None,
        }
    return [Generated(values)]


def qfr(case: Case, rng: random.Random) -> list[Generated]:
    """The 12-month QFR on the visit day; restenosis where it is at or below 0.80."""
    value = Decimal(str(round(rng.uniform(0.78, 0.97), 2)))
    return [Generated({"angiography_date": case.visit_date, "qfr_target_vessel": value, "restenosis": value <= Decimal("0.80")})]


#: instrument code -> generator; an empty list: nothing to report (repeating instruments only).
GENERATORS: dict[str, Callable[[Case, random.Random], list[Generated]]] = {
    "abi": abi,
    "abi_post": abi_post,
    "adverse_events": adverse_events,
    "anticoagulation": anticoagulation,
    "aspects": aspects,
    "duplex": duplex,
    "endpoint_events": endpoint_events,
    "imaging_ich": imaging_ich,
    "lesion_peripheral": lesion_peripheral,
    "medical_history": medical_history,
    "mrs": mrs,
    "nihss": nihss,
    "perioperative_events": perioperative_events,
    "procedure_coronary": procedure_coronary,
    "procedure_dvt": procedure_dvt,
    "procedure_peripheral": procedure_peripheral,
    "procedure_stroke": procedure_stroke,
    "qfr": qfr,
    "rutherford": rutherford,
    "stent_fracture": stent_fracture,
    "villalta": villalta,
}


def generate(code: str, case: Case, rng: random.Random) -> list[Generated]:
    """Synthetic entries of an instrument at a visit, each value checked against its item's declaration."""
    found = GENERATORS[code](case, rng)
    for generated in found:
        checked(code, generated.values)
    return found


def checked(code: str, values: dict[str, object]) -> None:
    """Refuse a value outside its item's range, code list or kind (ValueError naming it)."""
    declared = instrument(code).items
    for name, value in values.items():
        item = declared[name]
        if item.derived:
            raise ValueError(f"{code}.{name}: a derived item is computed, not entered")
        if value is None:
            continue
        kind = item.kind
        ok = {
            Kind.INTEGER: lambda v, i=item: isinstance(v, int) and not isinstance(v, bool) and int(i.low) <= v <= int(i.high),  # type: ignore[arg-type]
            Kind.DECIMAL: lambda v, i=item: (
                isinstance(v, Decimal) and Decimal(str(i.low)) <= v <= Decimal(str(i.high)) and -int(v.as_tuple().exponent) <= (i.places or 0)
            ),
            Kind.CHOICE: lambda v, i=item: v in [c for c, _ in i.codes],
            Kind.GRADED: lambda v, i=item: v in [c for c, _ in i.codes],
            Kind.YES_NO: lambda v, i=item: isinstance(v, bool),
            Kind.TICK: lambda v, i=item: isinstance(v, bool),
            Kind.DATE: lambda v, i=item: isinstance(v, date) and not isinstance(v, datetime),
            Kind.DATETIME: lambda v, i=item: isinstance(v, datetime) and v.tzinfo is not None and v.second == 0,
            Kind.PARTIAL_DATE: lambda v, i=item: isinstance(v, str) and len(v) in (4, 7, 10),
            Kind.TEXT: lambda v, i=item: isinstance(v, str) and len(v) <= (i.max_length or i.length or 200),
        }[kind](value)
        if not ok:
            raise ValueError(f"{code}.{name}: {value!r} is not {kind.value} within its declaration")
