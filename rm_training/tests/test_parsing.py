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
    ],
)
def test_garbage_raises_a_parse_error_and_nothing_else(garbage):
    for style in ("cot", "base"):
        with pytest.raises(AnswerParseError):
            parse_answer(garbage, style)


def test_format_answer_round_trips():
    text = "Video A wins. " + format_answer({"VA": 1, "VF": -1, "VP": 0})
    assert parse_base_answer(text).dimensions == {"VA": 1, "VF": -1, "VP": 0}
