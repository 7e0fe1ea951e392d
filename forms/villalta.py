"""Villalta post-thrombotic syndrome scale, for the affected leg."""

from __future__ import annotations

from ecrf.instruments.villalta import ITEMS, SCORING
from ecrf.scales import VILLALTA_ITEMS, villalta_total
from forms.base import CrfForm, Warning
from forms.fields import field_for, integer


def _item(label: str):
    return integer(label, 0, 3, description=SCORING)


class VillaltaForm(CrfForm):
    leg = field_for(ITEMS["leg"])
    # Symptoms, rated by the patient
    pain = field_for(ITEMS["pain"])
    cramps = field_for(ITEMS["cramps"])
    heaviness = field_for(ITEMS["heaviness"])
    paresthesia = field_for(ITEMS["paresthesia"])
    pruritus = field_for(ITEMS["pruritus"])
    # Signs, rated by the clinician
    pretibial_edema = field_for(ITEMS["pretibial_edema"])
    skin_induration = field_for(ITEMS["skin_induration"])
    hyperpigmentation = field_for(ITEMS["hyperpigmentation"])
    redness = field_for(ITEMS["redness"])
    venous_ectasia = field_for(ITEMS["venous_ectasia"])
    calf_compression_pain = field_for(ITEMS["calf_compression_pain"])
    ulcer = field_for(ITEMS["ulcer"])

    def warnings(self) -> list[Warning]:
        """At day 0, a total contradicting the protocol's eligibility (DEFIANCE enrols Villalta > 9), to be confirmed."""
        items = {name: self.value(name) for name in VILLALTA_ITEMS}
        if any(value is None for value in items.values()):
            return []
        return self.eligibility_warnings("villalta_total", villalta_total(items), VILLALTA_ITEMS[-1], "Villalta total")
