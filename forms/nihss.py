"""NIH Stroke Scale (15 items, NINDS wording) and ASPECTS / pc-ASPECTS."""

from __future__ import annotations

from ecrf.instruments.nihss import (
    ASPECTS_ITEMS,
    NIHSS_ITEMS,
    SCORE_NAMES,
    UNTESTABLE,
    total_of,
    untestable_codes,
)
from forms.base import CrfForm, Warning
from forms.fields import field_for


# -- NIHSS (clinical.md §5.1) ----------------------------------------------------------------
class NihssForm(CrfForm):
    item_1a = field_for(NIHSS_ITEMS["item_1a"])
    item_1b = field_for(NIHSS_ITEMS["item_1b"])
    item_1c = field_for(NIHSS_ITEMS["item_1c"])
    item_2 = field_for(NIHSS_ITEMS["item_2"])
    item_3 = field_for(NIHSS_ITEMS["item_3"])
    item_4 = field_for(NIHSS_ITEMS["item_4"])
    item_5a = field_for(NIHSS_ITEMS["item_5a"])
    item_5a_untestable = field_for(NIHSS_ITEMS["item_5a_untestable"])
    item_5b = field_for(NIHSS_ITEMS["item_5b"])
    item_5b_untestable = field_for(NIHSS_ITEMS["item_5b_untestable"])
    item_6a = field_for(NIHSS_ITEMS["item_6a"])
    item_6a_untestable = field_for(NIHSS_ITEMS["item_6a_untestable"])
    item_6b = field_for(NIHSS_ITEMS["item_6b"])
    item_6b_untestable = field_for(NIHSS_ITEMS["item_6b_untestable"])
    item_7 = field_for(NIHSS_ITEMS["item_7"])
    item_7_untestable = field_for(NIHSS_ITEMS["item_7_untestable"])
    item_8 = field_for(NIHSS_ITEMS["item_8"])
    item_9 = field_for(NIHSS_ITEMS["item_9"])
    item_10 = field_for(NIHSS_ITEMS["item_10"])
    item_10_untestable = field_for(NIHSS_ITEMS["item_10_untestable"])
    item_11 = field_for(NIHSS_ITEMS["item_11"])
    # The NINDS form asks to explain each UN ("Amputation or joint fusion, explain:"); one
    # shared explanation keeps the form short.
    untestable_explanation = field_for(NIHSS_ITEMS["untestable_explanation"])

    def check(self) -> None:
        """An untestable item has no score, a testable one needs one; untestable items need an explanation, and only they.

        These are rules for completing only: a draft keeps a score and an untestable tick side by side, so that
        ticking an item untestable (or giving it a missing-data code) never loses the rest of the form.
        """
        if not self.completing:
            return
        for code in UNTESTABLE:
            name = f"item_{code}"
            untestable = bool(self.value(f"{name}_untestable"))
            if untestable and self.value(name) is not None:
                self.fail(
                    name, f"{self[name].label.text}: leave the score empty when the item is marked untestable (choose \u201cclear\u201d, or untick Untestable)."
                )
            else:
                self.require_if(not untestable, name, "unless the item is marked untestable")
        any_untestable = bool(untestable_codes(self.value))
        self.require_if(any_untestable, "untestable_explanation", "when an item is marked untestable")
        if not any_untestable and (self.value("untestable_explanation") or "").strip():
            label = self.untestable_explanation.label.text
            self.fail("untestable_explanation", f"{label}: leave empty when no item is marked untestable.")

    def warnings(self) -> list[Warning]:
        """Coma with items the NINDS instructions score automatically scored otherwise; at day 0, a total the eligibility rules exclude."""
        found = []
        # NINDS instructions (not in clinical.md): a patient in coma (1a = 3) scores 2 on item 8 and 3 on item 9.
        sensory, language = self.value("item_8"), self.value("item_9")
        if self.value("item_1a") == 3 and (sensory not in (None, 2) or language not in (None, 3)):
            found.append(
                Warning(
                    "nihss_coma",
                    "item_9",
                    "1a. Level of consciousness is 3 (coma); the NINDS instructions then score 8. Sensory as 2 and 9. Best language as 3: confirm items 8 and 9.",
                )
            )
        return found + self.eligibility_warnings("nihss", total_of(self.value), "item_11", "NIHSS total")


# -- ASPECTS (clinical.md §5.2) and pc-ASPECTS (§5.3) ------------------------------------------


class AspectsForm(CrfForm):
    circulation = field_for(ASPECTS_ITEMS["circulation"])
    score = field_for(ASPECTS_ITEMS["score"])

    def warnings(self) -> list[Warning]:
        """At day 0, a score the eligibility rules exclude (one rule covers ASPECTS and pc-ASPECTS)."""
        name = SCORE_NAMES.get(self.value("circulation"), "ASPECTS / pc-ASPECTS")
        return self.eligibility_warnings("aspects", self.value("score"), "score", name)
