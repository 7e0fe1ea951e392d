"""Villalta post-thrombotic syndrome scale, for the affected leg."""
from __future__ import annotations

from ecrf.scales import VILLALTA_ITEMS, villalta_total
from forms.base import CrfForm, Warning
from forms.fields import choice, integer, yes_no

SCORING = "0 none, 1 mild, 2 moderate, 3 severe"


def _item(label: str):
    return integer(label, 0, 3, description=SCORING)


class VillaltaForm(CrfForm):
    leg = choice("Affected leg", [("right", "Right"), ("left", "Left")])
    # Symptoms, rated by the patient
    pain = _item("Pain")
    cramps = _item("Cramps")
    heaviness = _item("Heaviness")
    paresthesia = _item("Paresthesia")
    pruritus = _item("Pruritus")
    # Signs, rated by the clinician
    pretibial_edema = _item("Pretibial edema")
    skin_induration = _item("Skin induration")
    hyperpigmentation = _item("Hyperpigmentation")
    redness = _item("Redness")
    venous_ectasia = _item("Venous ectasia")
    calf_compression_pain = _item("Pain on calf compression")
    ulcer = yes_no("Venous ulcer present")

    def warnings(self) -> list[Warning]:
        """At day 0, a total contradicting the protocol's eligibility (DEFIANCE enrols Villalta > 9), to be confirmed."""
        items = {name: self.value(name) for name in VILLALTA_ITEMS}
        if any(value is None for value in items.values()):
            return []
        return self.eligibility_warnings("villalta_total", villalta_total(items), VILLALTA_ITEMS[-1], "Villalta total")
