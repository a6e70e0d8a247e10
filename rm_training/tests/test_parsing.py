import pytest

from rm_training.parsing import (
    AnswerParseError,
    format_answer,
    parse_answer,
    parse_base_answer,
    parse_cot_answer,
)

COT = """<think>
VA1 Shot composition: A: subject on the thirds line. B: cramped head room. Verdict: 1
VF1 Clarity and sharpness: A: slightly soft.
The background smears. B: crisp throughout. Verdict: -1
</think>
<answer>VA: 1, VF: -1, VP: 0</answer>
"""


def test_cot_answer_yields_dimensions_and_criteria():
    parsed = parse_cot_answer(COT, criteria=["VA1", "VF1"])
    assert parsed.dimensions == {"VA": 1, "VF": -1, "VP": 0}
    assert parsed.labels() == {"VA": "A", "VF": "B", "VP": "tie"}
    assert parsed.criteria["VA1"].name == "Shot composition"
    assert parsed.criteria["VA1"].text_a == "subject on the thirds line."
    assert parsed.criteria["VF1"].text_a == "slightly soft.\nThe background smears."
    assert parsed.criteria["VF1"].verdict == -1


def test_cot_answer_missing_an_expected_criterion_is_rejected():
    with pytest.raises(AnswerParseError, match="missing criteria: VP1"):
        parse_cot_answer(COT, criteria=["VA1", "VF1", "VP1"])


def test_cot_answer_with_a_repeated_criterion_is_rejected():
    text = COT.replace("VF1 Clarity", "VA1 Clarity")
    with pytest.raises(AnswerParseError, match="appears twice"):
        parse_cot_answer(text)


def test_cot_answer_with_a_verdict_outside_the_scale_is_rejected():
    with pytest.raises(AnswerParseError, match="VA1"):
        parse_cot_answer(COT.replace("Verdict: 1", "Verdict: 2"))


def test_cot_answer_without_think_block_is_rejected():
    with pytest.raises(AnswerParseError, match="<think>"):
        parse_cot_answer("<answer>VA: 1, VF: -1, VP: 0</answer>")


def test_base_answer_needs_a_sentence_and_one_answer_block():
    parsed = parse_base_answer(
        "Video A outperforms Video B in visual aesthetics. <answer>VA: 1, VF: 0, VP: 0</answer>"
    )
    assert parsed.dimensions == {"VA": 1, "VF": 0, "VP": 0}
    with pytest.raises(AnswerParseError, match="sentence"):
        parse_base_answer("<answer>VA: 1, VF: 0, VP: 0</answer>")
    with pytest.raises(AnswerParseError, match="exactly one"):
        parse_base_answer("x <answer>VA: 1, VF: 0, VP: 0</answer><answer>VA: 1, VF: 0, VP: 0</answer>")
    with pytest.raises(AnswerParseError, match="after </answer>"):
        parse_base_answer("x <answer>VA: 1, VF: 0, VP: 0</answer> and more")
    with pytest.raises(AnswerParseError, match="answer body"):
        parse_base_answer("x <answer>VF: 1, VA: 0, VP: 0</answer>")


@pytest.mark.parametrize(
    "garbage",
    [
        None, 42, b"<answer>", "", "<think></think><answer></answer>",
        "<think>\nVA1\n</think><answer>VA: 1, VF: 1, VP: 1</answer>",
        "\x00\uffff<answer>VA: 1, VF: 1, VP: 1", "<answer>" * 1000, "VA1 x: A: B: Verdict: 1",
        "<answer>Video A outperforms Video B.</answer>",
        "<answer>Video A outperforms Video A in visual aesthetics, visual fidelity and visual plausibility.</answer>",
        "<answer>Video A outperforms Video B in visual aesthetics and the two are comparable in visual "
        "aesthetics, visual fidelity and visual plausibility.</answer>",
        "<think>\nVA1 x: A: a. B: b. Verdict: 1\nSevere: A: XX; B: none\n</think><answer>VA: 1, VF: 1, VP: 1</answer>",
        "<think>\nVA1 x: 1. Requirement and standard: r 2. Video A: a 3. Video B: b 4. Score: 7\n</think>"
        "<answer>VA: 1, VF: 1, VP: 1</answer>",
        # thousands of markers and no score: read part by part, this fails at once (no backtracking)
        "<think>\nVA1 x: Requirement: " + "Video A: x Video B: y " * 2000
        + "\n</think><answer>VA: 1, VF: 1, VP: 1</answer>",
    ],
)
def test_garbage_raises_a_parse_error_and_nothing_else(garbage):
    for style in ("cot", "base"):
        with pytest.raises(AnswerParseError):
            parse_answer(garbage, style)


def test_format_answer_round_trips():
    text = "Video A wins. " + format_answer({"VA": 1, "VF": -1, "VP": 0})
    assert parse_base_answer(text).dimensions == {"VA": 1, "VF": -1, "VP": 0}


PAPER_COT = """<think>
VA1 Shot composition:
1. Requirement and standard: the prompt asks for a portrait; rule of thirds, head room.
2. Video A: subject on the thirds line.
3. Video B: cramped head room.
4. Score (A relative to B): 1, A frames the subject as the standard asks.
VF1 Clarity and sharpness:
1. Requirement and standard: a crisp close-up; no unintended blur.
2. Video A: slightly soft.
The background smears.
3. Video B: crisp throughout.
4. Score (A relative to B): -1 - B is sharper.
</think>
<answer>Video A outperforms Video B in visual aesthetics, while it underperforms Video B in visual fidelity, while the \
two are comparable in visual plausibility.</answer>"""


def test_the_seeds_cot_template_parses_to_the_same_verdicts_as_ours():
    ours, paper = parse_cot_answer(COT, criteria=["VA1", "VF1"]), parse_cot_answer(PAPER_COT, criteria=["VA1", "VF1"])
    assert paper.dimensions == ours.dimensions == {"VA": 1, "VF": -1, "VP": 0}
    assert {code: j.verdict for code, j in paper.criteria.items()} == {"VA1": 1, "VF1": -1}
    assert paper.criteria["VF1"].text_a == ours.criteria["VF1"].text_a == "slightly soft.\nThe background smears."
    assert paper.criteria["VF1"].text_b == "crisp throughout."
    assert paper.criteria["VA1"].requirement == "the prompt asks for a portrait; rule of thirds, head room."
    assert paper.criteria["VA1"].justification == "A frames the subject as the standard asks."
    assert paper.criteria["VF1"].justification == "B is sharper."


@pytest.mark.parametrize(
    ("sentence", "verdicts"),
    [
        ("Video A underperforms Video B in visual aesthetics, while the two are comparable in visual fidelity "
         "and visual plausibility.", {"VA": -1, "VF": 0, "VP": 0}),
        ("Video A outperforms Video B in visual aesthetics and visual fidelity, while it underperforms Video B in "
         "visual plausibility.", {"VA": 1, "VF": 1, "VP": -1}),
        ("Video B outperforms Video A in all three dimensions.", {"VA": -1, "VF": -1, "VP": -1}),
        ("The two are comparable in all three dimensions.", {"VA": 0, "VF": 0, "VP": 0}),
    ],
)
def test_the_seeds_base_answer_parses_to_the_same_verdicts_as_ours(sentence, verdicts):
    """The seed's Base form puts the sentence inside <answer>; ours follows it with the verdicts."""
    paper = parse_base_answer(f"<answer>{sentence}</answer>")
    ours = parse_base_answer(f"{sentence} {format_answer(verdicts)}")
    assert paper.dimensions == ours.dimensions == verdicts
    assert paper.preamble == sentence


@pytest.mark.parametrize(
    "sentence",
    [
        "Video A outperforms Video B in visual aesthetics.",  # VF and VP unnamed
        "In visual aesthetics Video A outperforms Video B in visual fidelity and visual plausibility.",
        "Video A outperforms Video B in visual aesthetics, visual fidelity and visual aesthetics.",
        "Video B underperforms Video B in all three dimensions.",
    ],
)
def test_a_base_sentence_that_does_not_name_each_dimension_once_after_a_comparison_is_rejected(sentence):
    with pytest.raises(AnswerParseError, match="neither"):
        parse_base_answer(f"<answer>{sentence}</answer>")


def test_a_cot_answer_states_severe_violations_on_its_last_think_line():
    text = COT.replace("</think>", "Severe: A: VP, VF; B: none\n</think>")
    assert parse_cot_answer(text).severe == {"A": {"VP": True, "VF": True}, "B": {}}
    assert parse_cot_answer(COT).severe == {"A": {}, "B": {}}
    moved = COT.replace("<think>\n", "<think>\nSevere: A: none; B: VA\n")
    with pytest.raises(AnswerParseError, match="Severe line must close"):
        parse_cot_answer(moved)
    with pytest.raises(AnswerParseError, match="unknown dimension"):
        parse_cot_answer(COT.replace("</think>", "Severe: A: VX; B: none\n</think>"))
