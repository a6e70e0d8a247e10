"""Triple filtering as pure functions: each filter catches its planted fault and points at the exact span."""

import pytest

from distillation.filters import FilterContext, VideoFacts, critique_filter
from distillation.tests.factories import cot_text

CODES = ("VA1", "VA2", "VF1", "VP1")
LABELS = {"criteria": {"VA1": 1, "VA2": 1, "VF1": 0, "VP1": -1}, "dimensions": {"VA": 1, "VF": 0, "VP": -1}}
MOVING = VideoFacts(duration_seconds=1.0, width=160, height=96, fps=24.0, checklist={"camera_moves": True})
STATIC = VideoFacts(
    duration_seconds=1.0, width=160, height=96, fps=24.0, checklist={"camera_moves": False, "has_text": False}
)


def context(**overrides) -> FilterContext:
    values = {"labels": LABELS, "facts": {"A": MOVING, "B": STATIC}, "criteria_codes": CODES}
    values.update(overrides)
    return FilterContext(**values)


def clean() -> str:
    return cot_text(LABELS["criteria"], LABELS["dimensions"])


def only(result, name):
    return [r for r in result.all_rejections() if r.filter == name]


def test_a_clean_critique_passes_all_three_filters():
    result = critique_filter(text=clean(), context=context())
    assert result.passed, result.all_rejections()
    assert result.consistency == 1.0
    assert result.parsed_verdicts() == LABELS


@pytest.mark.parametrize(
    "planted",
    ["the expert", "ground truth", "rating", "was given", "as provided", "hidden", "the annotators", "consensus"],
)
def test_leakage_catches_words_tied_to_the_label(planted):
    text = clean().replace("A: The frame", f"A: Judging by {planted} here, the frame", 1)
    result = critique_filter(text=text, context=context())
    leaks = only(result, "leakage")
    assert [r.reason for r in leaks] == ["label_reference"]
    assert leaks[0].text.lower() == planted.lower() or planted.lower() in leaks[0].text.lower()
    assert text[leaks[0].start : leaks[0].end] == leaks[0].text
    assert not result.passed


def test_leakage_catches_a_reference_to_the_instructions():
    text = clean().replace("B: The frame shows uneven", "B: Following these instructions, the frame shows uneven", 1)
    leaks = only(critique_filter(text=text, context=context()), "leakage")
    assert [(r.reason, r.text) for r in leaks] == [("instruction_reference", "these instructions")]


def test_leakage_catches_a_signed_verdict_in_the_prose_but_not_the_verdict_slots():
    text = clean().replace("hold together across the shot.", "hold together, a clear +1 here.", 1)
    leaks = only(critique_filter(text=text, context=context()), "leakage")
    assert [(r.reason, r.text) for r in leaks] == [("label_number", "+1")]


def test_leakage_catches_a_score_like_number_for_scored_items_only():
    text = clean().replace("ordinary choices.", "ordinary choices worth 0.73 overall.", 1)
    scored = only(critique_filter(text=text, context=context(score=0.73)), "leakage")
    assert [(r.reason, r.text) for r in scored] == [("label_number", "0.73")]
    assert only(critique_filter(text=text, context=context()), "leakage") == []


def test_leakage_catches_backward_reasoning_that_opens_with_the_conclusion():
    text = clean().replace("VA2 Criterion: A: The frame", "VA2 Criterion: A: Video A is clearly better, and the frame")
    leaks = only(critique_filter(text=text, context=context()), "leakage")
    assert [(r.reason, r.text) for r in leaks] == [("backward_reasoning", "Video A is clearly better")]
    assert "VA2" in leaks[0].message


def test_leakage_catches_reasoning_towards_a_known_verdict():
    text = clean().replace("ordinary choices.", "ordinary choices, to match the final verdict.", 1)
    leaks = only(critique_filter(text=text, context=context()), "leakage")
    assert [(r.reason, r.text) for r in leaks] == [("backward_reasoning", "to match the final verdict")]


def test_alignment_rejects_a_dimension_verdict_that_disagrees_and_points_at_it():
    text = clean().replace("VF: 0", "VF: -1")
    result = critique_filter(text=text, context=context())
    mismatches = only(result, "alignment")
    assert [(r.reason, r.text) for r in mismatches] == [("dimension_mismatch", "VF: -1")]
    assert text[mismatches[0].start : mismatches[0].end] == "VF: -1"
    assert result.parsed is not None and not result.passed


def test_alignment_by_criteria_share_points_at_each_disagreeing_verdict():
    criteria = dict(LABELS["criteria"], VA2=-1)
    text = cot_text(criteria, LABELS["dimensions"])
    strict = critique_filter(text=text, context=context(alignment_mode="criteria_share", min_criteria_share=0.8))
    mismatches = only(strict, "alignment")
    assert [(r.reason, r.text) for r in mismatches] == [("criterion_mismatch", "Verdict: -1")]
    va2_block = text.index("VA2")
    assert va2_block < mismatches[0].start < text.index("VF1")
    lenient = critique_filter(text=text, context=context(alignment_mode="criteria_share", min_criteria_share=0.75))
    assert lenient.passed
    assert critique_filter(text=text, context=context()).passed  # dimensions-only mode


def test_unparseable_output_is_recorded_as_an_alignment_failure_not_an_exception():
    result = critique_filter(text="Sure! Video A looks nicer overall.", context=context())
    assert result.parsed is None and "no <answer>" in result.parse_error
    assert [r.reason for r in only(result, "alignment")] == ["unparseable"]
    assert not result.passed


def test_factual_catches_a_static_camera_claim_the_checklist_contradicts():
    # Neither video is static according to the experts here, so this is a plain contradiction.
    text = clean().replace("VA1 Criterion: A: The frame", "VA1 Criterion: A: A static camera frames", 1)
    both_moving = context(facts={"A": MOVING, "B": MOVING})
    facts = only(critique_filter(text=text, context=both_moving), "factual")
    assert [(r.reason, r.text) for r in facts] == [("checklist_contradiction", "static camera")]


def test_factual_reports_a_swapped_description_when_the_claim_fits_the_other_video():
    text = clean().replace("VA1 Criterion: A: The frame", "VA1 Criterion: A: A static camera frames", 1)
    facts = only(critique_filter(text=text, context=context()), "factual")
    assert [(r.reason, r.text) for r in facts] == [("ab_swapped", "static camera")]


def test_factual_catches_the_other_video_described_inside_an_analysis():
    text = clean().replace("A: The frame shows sound", "A: Video B holds a steady horizon and the frame shows sound")
    facts = only(critique_filter(text=text, context=context()), "factual")
    assert [(r.reason, r.text) for r in facts] == [("ab_identity", "Video B")]
    comparative = clean().replace("A: The frame shows sound", "A: Compared with Video B the frame shows sound")
    assert only(critique_filter(text=comparative, context=context()), "factual") == []


@pytest.mark.parametrize(
    ("claim", "evidence"),
    [("This 10-second clip shows", "10-second clip"), ("Shot in crisp 1080p, it shows", "1080p"),
     ("At 60 fps it shows", "60 fps"), ("A vertical video that shows", "vertical video")],
)  # fmt: skip
def test_factual_catches_claims_the_metadata_contradicts(claim, evidence):
    text = clean().replace("B: The frame shows uneven", f"B: {claim} uneven", 1)
    facts = only(critique_filter(text=text, context=context()), "factual")
    assert [(r.reason, r.text) for r in facts] == [("metadata_contradiction", evidence)]


def test_factual_accepts_claims_that_match_the_facts():
    text = clean().replace("B: The frame shows uneven", "B: A static camera with no on-screen text shows uneven", 1)
    text = text.replace("A: The frame shows deliberate", "A: The camera pans across a 1-second clip with deliberate")
    assert only(critique_filter(text=text, context=context()), "factual") == []


def test_text_mentioned_on_a_video_without_letters_is_a_contradiction():
    text = clean().replace("B: The frame shows uneven", "B: The subtitles show uneven", 1)
    facts = only(critique_filter(text=text, context=context()), "factual")
    assert [(r.reason, r.text) for r in facts] == [("checklist_contradiction", "subtitles")]
