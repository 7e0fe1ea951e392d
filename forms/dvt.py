"""DEFIANCE DVT forms: presentation and treatment at baseline, and anticoagulation status at each visit.

The inclusion criteria (proximal DVT; symptom onset within 12 weeks of enrolment)
are from ecrf/protocols/defiance.yaml. An onset date beyond the protocol's limit is a
true date that contradicts eligibility: it is kept, with a warning to confirm.
"""

from __future__ import annotations

from ecrf.instruments.dvt import ANTICOAGULATION_ITEMS, PROCEDURE_DVT_ITEMS
from forms.base import CrfForm, Warning
from forms.fields import field_for

#: (field, label) of the venous segments with thrombus, central to distal (tick all that apply).
SEGMENTS = [
    ("thrombus_ivc", "Thrombus: inferior vena cava"),
    ("thrombus_common_iliac", "Thrombus: common iliac vein"),
    ("thrombus_external_iliac", "Thrombus: external iliac vein"),
    ("thrombus_common_femoral", "Thrombus: common femoral vein"),
    ("thrombus_femoral", "Thrombus: femoral vein"),
    ("thrombus_popliteal", "Thrombus: popliteal vein"),
    ("thrombus_calf", "Thrombus: calf veins"),
]
#: The inclusion criterion: "involving at least the common femoral, external iliac, or common iliac veins".
PROXIMAL_SEGMENTS = ("thrombus_common_iliac", "thrombus_external_iliac", "thrombus_common_femoral")


class ProcedureDvtForm(CrfForm):
    affected_leg = field_for(PROCEDURE_DVT_ITEMS["affected_leg"])
    # Thrombus segments: tick all that apply.
    thrombus_ivc = field_for(PROCEDURE_DVT_ITEMS["thrombus_ivc"])
    thrombus_common_iliac = field_for(PROCEDURE_DVT_ITEMS["thrombus_common_iliac"])
    thrombus_external_iliac = field_for(PROCEDURE_DVT_ITEMS["thrombus_external_iliac"])
    thrombus_common_femoral = field_for(PROCEDURE_DVT_ITEMS["thrombus_common_femoral"])
    thrombus_femoral = field_for(PROCEDURE_DVT_ITEMS["thrombus_femoral"])
    thrombus_popliteal = field_for(PROCEDURE_DVT_ITEMS["thrombus_popliteal"])
    thrombus_calf = field_for(PROCEDURE_DVT_ITEMS["thrombus_calf"])
    symptom_onset_date = field_for(PROCEDURE_DVT_ITEMS["symptom_onset_date"])
    anticoagulant = field_for(PROCEDURE_DVT_ITEMS["anticoagulant"])
    anticoagulant_other = field_for(PROCEDURE_DVT_ITEMS["anticoagulant_other"])
    anticoagulant_start_date = field_for(PROCEDURE_DVT_ITEMS["anticoagulant_start_date"])
    thrombectomy_performed = field_for(PROCEDURE_DVT_ITEMS["thrombectomy_performed"])
    thrombectomy_date = field_for(PROCEDURE_DVT_ITEMS["thrombectomy_date"])

    def check(self) -> None:
        """Proximal DVT, onset not after day 0, anticoagulant started by day 0, thrombectomy date."""
        if self.completing and not any(self.value(name) for name in PROXIMAL_SEGMENTS):
            self.fail(
                SEGMENTS[0][0],
                (
                    "Thrombus segments: tick at least one of common iliac, external iliac or common femoral vein; "
                    "the inclusion criterion requires a DVT involving at least one of them."
                ),
            )
        onset = self.value("symptom_onset_date")
        if onset is not None and onset > self.context.index_date:
            self.fail("symptom_onset_date", f"Symptom onset date: must not be after day 0 ({self.context.index_date.isoformat()}).")
        self.other_specified("anticoagulant", "anticoagulant_other")
        started = self.value("anticoagulant_start_date")
        if started is not None and started > self.context.index_date:
            self.fail(
                "anticoagulant_start_date",
                (f"Anticoagulant start date: must not be after day 0 ({self.context.index_date.isoformat()}); record the anticoagulant taken at baseline."),
            )
        performed = self.value("thrombectomy_performed")
        self.require_if(performed is True, "thrombectomy_date", "when a thrombectomy was performed")
        self.leave_empty(performed is False, "thrombectomy_date", "when no thrombectomy was performed")
        self.check_date_in_study("thrombectomy_date")

    def warnings(self) -> list[Warning]:
        """IVC thrombus (exclusion if it extends > 2 cm); anticoagulant started before the symptoms; an onset
        further before day 0 than the protocol's inclusion rule allows."""
        found = []
        if self.value("thrombus_ivc"):
            found.append(
                Warning(
                    "ivc_thrombus",
                    "thrombus_ivc",
                    (
                        "Inferior vena cava: thrombus extending more than 2 cm into the IVC from the common iliac vein "
                        "excludes the subject (clot in transit); confirm it extends 2 cm or less."
                    ),
                )
            )
        onset, started = self.value("symptom_onset_date"), self.value("anticoagulant_start_date")
        if onset is not None and started is not None and started < onset:
            found.append(
                Warning(
                    "anticoagulant_before_onset",
                    "anticoagulant_start_date",
                    ("Anticoagulant start date: before the symptom onset date; confirm (e.g. anticoagulation already taken for another reason)."),
                )
            )
        if onset is not None and onset <= self.context.index_date:
            found += self.eligibility_warnings(
                "symptom_onset_days", (self.context.index_date - onset).days, "symptom_onset_date", "Days from symptom onset to day 0"
            )
        return found


class AnticoagulationForm(CrfForm):
    anticoagulated = field_for(ANTICOAGULATION_ITEMS["anticoagulated"])
    agent = field_for(ANTICOAGULATION_ITEMS["agent"])
    agent_other = field_for(ANTICOAGULATION_ITEMS["agent_other"])
    # "Since the last visit" has no meaning at baseline: these are asked at follow-up visits only.
    changed = field_for(ANTICOAGULATION_ITEMS["changed"])
    change_reason = field_for(ANTICOAGULATION_ITEMS["change_reason"])
    bleeding = field_for(ANTICOAGULATION_ITEMS["bleeding"])

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
