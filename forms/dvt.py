"""DEFIANCE DVT forms: presentation and treatment at baseline, and anticoagulation status at each visit.

The inclusion criteria (proximal DVT; symptom onset within 12 weeks of enrolment)
are from ecrf/protocols/defiance.yaml. An onset date beyond the protocol's limit is a
true date that contradicts eligibility: it is kept, with a warning to confirm.
"""
from __future__ import annotations

from forms.base import CrfForm, Warning
from forms.fields import choice, date_field, text, tick, yes_no

LEGS = [("right", "Right"), ("left", "Left")]
ANTICOAGULANTS = [
    ("apixaban", "Apixaban"), ("rivaroxaban", "Rivaroxaban"), ("dabigatran", "Dabigatran"), ("edoxaban", "Edoxaban"),
    ("warfarin", "Warfarin"), ("lmwh", "Low-molecular-weight heparin"), ("ufh", "Unfractionated heparin"), ("other", "Other"),
]
#: (field, label) of the venous segments with thrombus, central to distal (tick all that apply).
SEGMENTS = [
    ("thrombus_ivc", "Thrombus: inferior vena cava"), ("thrombus_common_iliac", "Thrombus: common iliac vein"),
    ("thrombus_external_iliac", "Thrombus: external iliac vein"), ("thrombus_common_femoral", "Thrombus: common femoral vein"),
    ("thrombus_femoral", "Thrombus: femoral vein"), ("thrombus_popliteal", "Thrombus: popliteal vein"), ("thrombus_calf", "Thrombus: calf veins"),
]
#: The inclusion criterion: "involving at least the common femoral, external iliac, or common iliac veins".
PROXIMAL_SEGMENTS = ("thrombus_common_iliac", "thrombus_external_iliac", "thrombus_common_femoral")

class ProcedureDvtForm(CrfForm):
    affected_leg = choice("Affected leg", LEGS)
    # Thrombus segments: tick all that apply.
    thrombus_ivc = tick(SEGMENTS[0][1], description=(
        "Tick all that apply; at least one of common iliac, external iliac or common femoral. "
        "Thrombus extending more than 2 cm into the IVC excludes the subject"
    ))
    thrombus_common_iliac = tick(SEGMENTS[1][1])
    thrombus_external_iliac = tick(SEGMENTS[2][1])
    thrombus_common_femoral = tick(SEGMENTS[3][1])
    thrombus_femoral = tick(SEGMENTS[4][1])
    thrombus_popliteal = tick(SEGMENTS[5][1])
    thrombus_calf = tick(SEGMENTS[6][1])
    symptom_onset_date = date_field("Symptom onset date")
    anticoagulant = choice("Anticoagulant at baseline", ANTICOAGULANTS)
    anticoagulant_other = text("Anticoagulant: specify other", 100, is_required=False)
    anticoagulant_start_date = date_field("Anticoagulant start date")
    thrombectomy_performed = yes_no("ClotTriever thrombectomy performed")
    thrombectomy_date = date_field("Thrombectomy date", is_required=False)

    def check(self) -> None:
        """Proximal DVT, onset not after day 0, anticoagulant started by day 0, thrombectomy date."""
        if self.completing and not any(self.value(name) for name in PROXIMAL_SEGMENTS):
            self.fail(SEGMENTS[0][0], (
                "Thrombus segments: tick at least one of common iliac, external iliac or common femoral vein; "
                "the inclusion criterion requires a DVT involving at least one of them."
            ))
        onset = self.value("symptom_onset_date")
        if onset is not None and onset > self.context.index_date:
            self.fail("symptom_onset_date", f"Symptom onset date: must not be after day 0 ({self.context.index_date.isoformat()}).")
        self.other_specified("anticoagulant", "anticoagulant_other")
        started = self.value("anticoagulant_start_date")
        if started is not None and started > self.context.index_date:
            self.fail("anticoagulant_start_date", (
                f"Anticoagulant start date: must not be after day 0 ({self.context.index_date.isoformat()}); "
                "record the anticoagulant taken at baseline."
            ))
        performed = self.value("thrombectomy_performed")
        self.require_if(performed is True, "thrombectomy_date", "when a thrombectomy was performed")
        self.leave_empty(performed is False, "thrombectomy_date", "when no thrombectomy was performed")
        self.check_date_in_study("thrombectomy_date")

    def warnings(self) -> list[Warning]:
        """IVC thrombus (exclusion if it extends > 2 cm); anticoagulant started before the symptoms; an onset
        further before day 0 than the protocol's inclusion rule allows."""
        found = []
        if self.value("thrombus_ivc"):
            found.append(Warning("ivc_thrombus", "thrombus_ivc", (
                "Inferior vena cava: thrombus extending more than 2 cm into the IVC from the common iliac vein "
                "excludes the subject (clot in transit); confirm it extends 2 cm or less."
            )))
        onset, started = self.value("symptom_onset_date"), self.value("anticoagulant_start_date")
        if onset is not None and started is not None and started < onset:
            found.append(Warning("anticoagulant_before_onset", "anticoagulant_start_date", (
                "Anticoagulant start date: before the symptom onset date; confirm (e.g. anticoagulation already taken for another reason)."
            )))
        if onset is not None and onset <= self.context.index_date:
            found += self.eligibility_warnings("symptom_onset_days", (self.context.index_date - onset).days, "symptom_onset_date",
                                               "Days from symptom onset to day 0")
        return found


class AnticoagulationForm(CrfForm):
    anticoagulated = yes_no("Currently anticoagulated")
    agent = choice("Anticoagulant", ANTICOAGULANTS, is_required=False)
    agent_other = text("Anticoagulant: specify other", 100, is_required=False)
    # "Since the last visit" has no meaning at baseline: these are asked at follow-up visits only.
    changed = yes_no("Anticoagulation changed since the last visit", is_required=False,
                     description="Started, stopped, switched to another agent or dose changed; not asked at baseline")
    change_reason = text("Reason for the change", 200, is_required=False)
    bleeding = yes_no("Bleeding since the last visit", is_required=False,
                      description="Any bleeding, also to be recorded as an adverse event; not asked at baseline")

    def check(self) -> None:
        """Agent when anticoagulated; change and bleeding questions at follow-up only; a reason for a change."""
        anticoagulated = self.value("anticoagulated")
        self.require_if(anticoagulated is True, "agent", "when the subject is anticoagulated")
        self.leave_empty(anticoagulated is False, "agent", "when the subject is not anticoagulated")
        self.other_specified("agent", "agent_other")
        baseline = self.context.is_baseline
        for name in ("changed", "bleeding"):
            self.require_if(not baseline, name, "at follow-up visits")
            self.leave_empty(baseline, name, "at baseline (there is no previous visit)")
        changed = self.value("changed")
        self.require_if(changed is True, "change_reason", "when anticoagulation changed")
        self.leave_empty(changed is not True, "change_reason", "unless anticoagulation changed")
