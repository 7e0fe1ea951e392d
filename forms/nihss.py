"""NIH Stroke Scale (15 items, NINDS wording) and ASPECTS / pc-ASPECTS."""
from __future__ import annotations

from ecrf import scales
from forms.base import CrfForm, Warning
from forms.fields import choice, graded, integer, text, tick

# -- NIHSS (clinical.md §5.1) ----------------------------------------------------------------
# Option wording: the NINDS form as encoded in the FHIR CodeSystems cited by clinical.md §5.1
# (KIP-infrastructure/implementation-guide, input/fsh/CodeSystem-NIHSS-*.fsh); for item 9
# options 1 and 2 only the first sentence of the NINDS text is shown.

MOTOR_ARM = [
    (0, "No drift; limb holds 90 (or 45) degrees for full 10 seconds"),
    (1, "Drift; limb holds 90 (or 45) degrees, but drifts down before full 10 seconds; does not hit bed or other support"),
    (2, "Some effort against gravity; limb cannot get to or maintain (if cued) 90 (or 45) degrees, drifts down to bed, but has some effort against gravity"),
    (3, "No effort against gravity; limb falls"),
    (4, "No movement"),
]
MOTOR_LEG = [
    (0, "No drift; leg holds 30-degree position for full 5 seconds"),
    (1, "Drift; leg falls by the end of the 5-second period but does not hit bed"),
    (2, "Some effort against gravity; leg falls to bed by 5 seconds, but has some effort against gravity"),
    (3, "No effort against gravity; leg falls to bed immediately"),
    (4, "No movement"),
]
AMPUTATION = "amputation or joint fusion"
#: Tell the user what to do with an untestable item (scored UN on the NINDS form).
UN_HINT = "If untestable (UN), tick the box below instead of scoring"


def _item(code: str, name: str, grades: list[tuple[int, str]]):
    """One NIHSS item, `item_<code>`; its range and whether it may be untestable come from scales.NIHSS_ITEMS."""
    highest, may_be_untestable = scales.NIHSS_ITEMS[code]
    if [grade for grade, _ in grades] != list(range(highest + 1)):
        raise ValueError(f"NIHSS {code}: the options must be the grades 0 to {highest}")
    # An item that may be untestable is required unless ticked untestable (check()).
    return graded(f"{code}. {name}", grades, is_required=not may_be_untestable, description=UN_HINT if may_be_untestable else "")


def _untestable(code: str, why: str):
    """The "untestable (UN)" tick of an item that may be untestable, `item_<code>_untestable`."""
    return tick(f"{code}. Untestable (UN): {why}")


#: Codes of the items that may be untestable: 5a, 5b, 6a, 6b, 7, 10.
UNTESTABLE = [code for code, (_, may_be_untestable) in scales.NIHSS_ITEMS.items() if may_be_untestable]


class NihssForm(CrfForm):
    item_1a = _item("1a", "Level of consciousness", [
        (0, "Alert; keenly responsive"),
        (1, "Not alert; but arousable by minor stimulation to obey, answer, or respond"),
        (2, "Not alert; requires repeated stimulation to attend, or is obtunded and requires strong or painful stimulation to make movements (not stereotyped)"),
        (3, "Responds only with reflex motor or autonomic effects or totally unresponsive, flaccid, and areflexic"),
    ])
    item_1b = _item("1b", "LOC questions (month, age)", [
        (0, "Answers both questions correctly"), (1, "Answers one question correctly"), (2, "Answers neither question correctly"),
    ])
    item_1c = _item("1c", "LOC commands (open and close eyes, grip and release hand)", [
        (0, "Performs both tasks correctly"), (1, "Performs one task correctly"), (2, "Performs neither task correctly"),
    ])
    item_2 = _item("2", "Best gaze", [
        (0, "Normal"),
        (1, "Partial gaze palsy; gaze is abnormal in one or both eyes, but forced deviation or total gaze paresis is not present"),
        (2, "Forced deviation, or total gaze paresis not overcome by the oculocephalic maneuver"),
    ])
    item_3 = _item("3", "Visual", [
        (0, "No visual loss"), (1, "Partial hemianopia"), (2, "Complete hemianopia"),
        (3, "Bilateral hemianopia (blind including cortical blindness)"),
    ])
    item_4 = _item("4", "Facial palsy", [
        (0, "Normal symmetrical movements"),
        (1, "Minor paralysis (flattened nasolabial fold, asymmetry on smiling)"),
        (2, "Partial paralysis (total or near-total paralysis of lower face)"),
        (3, "Complete paralysis of one or both sides (absence of facial movement in the upper and lower face)"),
    ])
    item_5a = _item("5a", "Motor arm, left", MOTOR_ARM)
    item_5a_untestable = _untestable("5a", AMPUTATION)
    item_5b = _item("5b", "Motor arm, right", MOTOR_ARM)
    item_5b_untestable = _untestable("5b", AMPUTATION)
    item_6a = _item("6a", "Motor leg, left", MOTOR_LEG)
    item_6a_untestable = _untestable("6a", AMPUTATION)
    item_6b = _item("6b", "Motor leg, right", MOTOR_LEG)
    item_6b_untestable = _untestable("6b", AMPUTATION)
    item_7 = _item("7", "Limb ataxia", [(0, "Absent"), (1, "Present in one limb"), (2, "Present in two limbs")])
    item_7_untestable = _untestable("7", AMPUTATION)
    item_8 = _item("8", "Sensory", [
        (0, "Normal; no sensory loss"),
        (1, "Mild-to-moderate sensory loss; patient feels pinprick is less sharp or is dull on the affected side; "
            "or there is a loss of superficial pain with pinprick, but patient is aware of being touched"),
        (2, "Severe to total sensory loss; patient is not aware of being touched in the face, arm, and leg"),
    ])
    item_9 = _item("9", "Best language", [
        (0, "No aphasia; normal"),
        (1, "Mild-to-moderate aphasia; some obvious loss of fluency or facility of comprehension, "
            "without significant limitation on ideas expressed or form of expression"),
        (2, "Severe aphasia; all communication is through fragmentary expression; great need for inference, questioning, and guessing by the listener"),
        (3, "Mute, global aphasia; no usable speech or auditory comprehension"),
    ])
    item_10 = _item("10", "Dysarthria", [
        (0, "Normal"),
        (1, "Mild-to-moderate dysarthria; patient slurs at least some words and, at worst, can be understood with some difficulty"),
        (2, "Severe dysarthria; patient's speech is so slurred as to be unintelligible in the absence of or out of proportion to any dysphasia, or is mute/anarthric"),
    ])
    item_10_untestable = _untestable("10", "intubated or other physical barrier")
    item_11 = _item("11", "Extinction and inattention (formerly neglect)", [
        (0, "No abnormality"),
        (1, "Visual, tactile, auditory, spatial, or personal inattention or extinction to bilateral simultaneous stimulation in one of the sensory modalities"),
        (2, "Profound hemi-inattention or extinction to more than one modality; does not recognize own hand or orients to only one side of space"),
    ])
    # The NINDS form asks to explain each UN ("Amputation or joint fusion, explain:"); one
    # shared explanation keeps the form short.
    untestable_explanation = text("Untestable items: explanation", 200, is_required=False)

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
                self.fail(name, f"{self[name].label.text}: leave the score empty when the item is marked untestable "
                                "(choose \u201cclear\u201d, or untick Untestable).")
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
            found.append(Warning(
                "nihss_coma", "item_9",
                "1a. Level of consciousness is 3 (coma); the NINDS instructions then score 8. Sensory as 2 and 9. Best language as 3: confirm items 8 and 9.",
            ))
        return found + self.eligibility_warnings("nihss", total_of(self.value), "item_11", "NIHSS total")


def untestable_codes(get) -> list[str]:
    """Codes of the items marked untestable, from a value getter (form or data row)."""
    return [code for code in UNTESTABLE if get(f"item_{code}_untestable")]


def total_of(get) -> int | None:
    """NIHSS total from a value getter (form or data row); None while a testable item has no score."""
    marked = set(untestable_codes(get))
    scores = {code: None if code in marked else get(f"item_{code}") for code in scales.NIHSS_ITEMS}
    if any(score is None and code not in marked for code, score in scores.items()):
        return None
    return scales.nihss_total(scores)


# -- ASPECTS (clinical.md §5.2) and pc-ASPECTS (§5.3) ------------------------------------------

CIRCULATIONS = [("anterior", "Anterior circulation (ASPECTS)"), ("posterior", "Posterior circulation (pc-ASPECTS)")]
#: circulation -> name of the score.
SCORE_NAMES = {"anterior": "ASPECTS", "posterior": "pc-ASPECTS"}


class AspectsForm(CrfForm):
    circulation = choice("Circulation of the occlusion", CIRCULATIONS)
    score = integer("Score", 0, 10, description=(
        "10 = no early ischaemic change. ASPECTS: minus 1 for each of the 10 MCA regions affected. "
        "pc-ASPECTS: minus 2 each for midbrain and pons, minus 1 each for left/right thalamus, cerebellum and PCA territory."
    ))

    def warnings(self) -> list[Warning]:
        """At day 0, a score the eligibility rules exclude (one rule covers ASPECTS and pc-ASPECTS)."""
        name = SCORE_NAMES.get(self.value("circulation"), "ASPECTS / pc-ASPECTS")
        return self.eligibility_warnings("aspects", self.value("score"), "score", name)
