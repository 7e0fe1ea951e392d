"""NIHSS and ASPECTS / pc-ASPECTS: typed tables, the NIHSS total, and which ASPECTS score was entered."""

from __future__ import annotations

from ecrf import scales
from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument

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

#: Tell the user what to do with an untestable item (scored UN on the NINDS form).
UN_HINT = "If untestable (UN), tick the box below instead of scoring"

CIRCULATIONS = [("anterior", "Anterior circulation (ASPECTS)"), ("posterior", "Posterior circulation (pc-ASPECTS)")]


NIHSS_ITEMS = items(
    #: Item scores in NINDS order (1a 0-3, 1b 0-2, 1c 0-2, 2 0-2, 3 0-3, 4 0-3, 5a/5b/6a/6b 0-4, 7 0-2, 8 0-2, 9 0-3,
    #: 10 0-2, 11 0-2). An item marked untestable (UN) has no score; only 5a, 5b, 6a, 6b, 7 and 10 may be.
    Item(
        "item_1a",
        "1a. Level of consciousness",
        Kind.GRADED,
        codes=(
            (0, "Alert; keenly responsive"),
            (1, "Not alert; but arousable by minor stimulation to obey, answer, or respond"),
            (
                2,
                "Not alert; requires repeated stimulation to attend, or is obtunded and requires strong or painful stimulation to make movements (not stereotyped)",
            ),
            (3, "Responds only with reflex motor or autonomic effects or totally unresponsive, flaccid, and areflexic"),
        ),
    ),
    Item(
        "item_1b",
        "1b. LOC questions (month, age)",
        Kind.GRADED,
        codes=((0, "Answers both questions correctly"), (1, "Answers one question correctly"), (2, "Answers neither question correctly")),
    ),
    Item(
        "item_1c",
        "1c. LOC commands (open and close eyes, grip and release hand)",
        Kind.GRADED,
        codes=((0, "Performs both tasks correctly"), (1, "Performs one task correctly"), (2, "Performs neither task correctly")),
    ),
    Item(
        "item_2",
        "2. Best gaze",
        Kind.GRADED,
        codes=(
            (0, "Normal"),
            (1, "Partial gaze palsy; gaze is abnormal in one or both eyes, but forced deviation or total gaze paresis is not present"),
            (2, "Forced deviation, or total gaze paresis not overcome by the oculocephalic maneuver"),
        ),
    ),
    Item(
        "item_3",
        "3. Visual",
        Kind.GRADED,
        codes=((0, "No visual loss"), (1, "Partial hemianopia"), (2, "Complete hemianopia"), (3, "Bilateral hemianopia (blind including cortical blindness)")),
    ),
    Item(
        "item_4",
        "4. Facial palsy",
        Kind.GRADED,
        codes=(
            (0, "Normal symmetrical movements"),
            (1, "Minor paralysis (flattened nasolabial fold, asymmetry on smiling)"),
            (2, "Partial paralysis (total or near-total paralysis of lower face)"),
            (3, "Complete paralysis of one or both sides (absence of facial movement in the upper and lower face)"),
        ),
    ),
    Item("item_5a", "5a. Motor arm, left", Kind.GRADED, codes=MOTOR_ARM, required=False, description=UN_HINT),
    Item("item_5a_untestable", "5a. Untestable (UN): amputation or joint fusion", Kind.TICK),
    Item("item_5b", "5b. Motor arm, right", Kind.GRADED, codes=MOTOR_ARM, required=False, description=UN_HINT),
    Item("item_5b_untestable", "5b. Untestable (UN): amputation or joint fusion", Kind.TICK),
    Item("item_6a", "6a. Motor leg, left", Kind.GRADED, codes=MOTOR_LEG, required=False, description=UN_HINT),
    Item("item_6a_untestable", "6a. Untestable (UN): amputation or joint fusion", Kind.TICK),
    Item("item_6b", "6b. Motor leg, right", Kind.GRADED, codes=MOTOR_LEG, required=False, description=UN_HINT),
    Item("item_6b_untestable", "6b. Untestable (UN): amputation or joint fusion", Kind.TICK),
    Item(
        "item_7",
        "7. Limb ataxia",
        Kind.GRADED,
        codes=((0, "Absent"), (1, "Present in one limb"), (2, "Present in two limbs")),
        required=False,
        description=UN_HINT,
    ),
    Item("item_7_untestable", "7. Untestable (UN): amputation or joint fusion", Kind.TICK),
    Item(
        "item_8",
        "8. Sensory",
        Kind.GRADED,
        codes=(
            (0, "Normal; no sensory loss"),
            (
                1,
                "Mild-to-moderate sensory loss; patient feels pinprick is less sharp or is dull on the affected side; or there is a loss of superficial pain with pinprick, but patient is aware of being touched",
            ),
            (2, "Severe to total sensory loss; patient is not aware of being touched in the face, arm, and leg"),
        ),
    ),
    Item(
        "item_9",
        "9. Best language",
        Kind.GRADED,
        codes=(
            (0, "No aphasia; normal"),
            (
                1,
                "Mild-to-moderate aphasia; some obvious loss of fluency or facility of comprehension, without significant limitation on ideas expressed or form of expression",
            ),
            (2, "Severe aphasia; all communication is through fragmentary expression; great need for inference, questioning, and guessing by the listener"),
            (3, "Mute, global aphasia; no usable speech or auditory comprehension"),
        ),
    ),
    Item(
        "item_10",
        "10. Dysarthria",
        Kind.GRADED,
        codes=(
            (0, "Normal"),
            (1, "Mild-to-moderate dysarthria; patient slurs at least some words and, at worst, can be understood with some difficulty"),
            (
                2,
                "Severe dysarthria; patient's speech is so slurred as to be unintelligible in the absence of or out of proportion to any dysphasia, or is mute/anarthric",
            ),
        ),
        required=False,
        description=UN_HINT,
    ),
    Item("item_10_untestable", "10. Untestable (UN): intubated or other physical barrier", Kind.TICK),
    Item(
        "item_11",
        "11. Extinction and inattention (formerly neglect)",
        Kind.GRADED,
        codes=(
            (0, "No abnormality"),
            (
                1,
                "Visual, tactile, auditory, spatial, or personal inattention or extinction to bilateral simultaneous stimulation in one of the sensory modalities",
            ),
            (2, "Profound hemi-inattention or extinction to more than one modality; does not recognize own hand or orients to only one side of space"),
        ),
    ),
    #: Why the items marked untestable could not be tested.
    Item("untestable_explanation", "Untestable items: explanation", Kind.TEXT, max_length=200, required=False),
    #: Computed: sum of the items, 0-42, untestable items counting 0 (scales.nihss_total); None while an item is unanswered.
    Item(
        "total",
        "NIHSS total",
        Kind.INTEGER,
        derived_from=(
            "item_1a",
            "item_1b",
            "item_1c",
            "item_2",
            "item_3",
            "item_4",
            "item_5a",
            "item_5a_untestable",
            "item_5b",
            "item_5b_untestable",
            "item_6a",
            "item_6a_untestable",
            "item_6b",
            "item_6b_untestable",
            "item_7",
            "item_7_untestable",
            "item_8",
            "item_9",
            "item_10",
            "item_10_untestable",
            "item_11",
        ),
    ),
)


class NihssData(CrfData):
    __tablename__ = "nihss_data"

    __items__ = NIHSS_ITEMS


def compute(data: NihssData, context: FormContext) -> None:
    """The NIHSS total, once every item is scored or marked untestable."""
    data.total = total_of(lambda name: getattr(data, name))


def results(data: NihssData) -> list[tuple[str, str]]:
    """The total and how many items were untestable."""
    if data.total is None:
        return [("NIHSS total", "not computable until every item is scored or marked untestable")]
    untestable = untestable_codes(lambda name: getattr(data, name))
    which = f" ({', '.join(untestable)})" if untestable else ""
    return [("NIHSS total", f"{data.total} of 42"), ("Untestable items (counted as 0)", f"{len(untestable)}{which}")]


#: Codes of the items that may be untestable: 5a, 5b, 6a, 6b, 7, 10.
UNTESTABLE = [code for code, (_, may_be_untestable) in scales.NIHSS_ITEMS.items() if may_be_untestable]
for _code, (_highest, _may_be_untestable) in scales.NIHSS_ITEMS.items():
    # Each item's grades and whether it may be untestable (then required only when not ticked untestable) are
    # those of scales.NIHSS_ITEMS.
    _item = NIHSS_ITEMS[f"item_{_code}"]
    if [grade for grade, _ in _item.codes] != list(range(_highest + 1)) or _item.required == _may_be_untestable:
        raise ValueError(f"NIHSS {_code}: the options must be the grades 0 to {_highest}, required unless it may be untestable")


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


#: circulation -> name of the score.
SCORE_NAMES = {"anterior": "ASPECTS", "posterior": "pc-ASPECTS"}


ASPECTS_ITEMS = items(
    #: anterior (the score is ASPECTS) / posterior (the score is pc-ASPECTS).
    Item("circulation", "Circulation of the occlusion", Kind.CHOICE, codes=CIRCULATIONS, length=10),
    #: 0-10; 10 = no early ischaemic change.
    Item(
        "score",
        "Score",
        Kind.INTEGER,
        low=0,
        high=10,
        description="10 = no early ischaemic change. ASPECTS: minus 1 for each of the 10 MCA regions affected. pc-ASPECTS: minus 2 each for midbrain and pons, minus 1 each for left/right thalamus, cerebellum and PCA territory.",
    ),
)


class AspectsData(CrfData):
    __tablename__ = "aspects_data"

    __items__ = ASPECTS_ITEMS


def aspects_results(data: AspectsData) -> list[tuple[str, str]]:
    """The score, named ASPECTS or pc-ASPECTS by the circulation."""
    if data.score is None or data.circulation is None:
        return [("ASPECTS / pc-ASPECTS", "not entered")]
    return [(SCORE_NAMES[data.circulation], f"{data.score} of 10")]


INSTRUMENTS = [
    Instrument("nihss", NihssData, compute=compute, results=results),
    Instrument("aspects", AspectsData, results=aspects_results),
]
