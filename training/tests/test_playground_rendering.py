"""How the playground lays out a judgement: a critique per criterion, verdict words in canonical terms, the experts'
labels beside them, unreadable answers shown verbatim."""

from rm_training.judging import OrderAnswer, PairJudgement
from rm_training.parsing import parse_cot_answer
from training.judging import ExpertLabels
from training.playground import _answer_text, _criteria_rows, _verdict_rows

COT = (
    "<think>\n"
    "VA1 Shot composition: A: balanced thirds. B: subject cut off. Verdict: 1\n"
    "VF1 Clarity and sharpness: A: soft focus. B: crisp edges. Verdict: -1\n"
    "</think>\n<answer>VA: 1, VF: -1, VP: 0</answer>"
)
EXPERTS = ExpertLabels(dimensions={"VA": "A", "VF": "tie", "VP": "B"}, criteria={"VA1": 1, "VF1": 0}, n_raters=3)


def _judgement(swapped_verdicts: dict[str, int]) -> PairJudgement:
    parsed = parse_cot_answer(COT)
    original = OrderAnswer(verdicts=parsed.dimensions, criteria=tuple(parsed.criteria.values()), text=COT)
    swapped = OrderAnswer(verdicts=swapped_verdicts, text="gibberish", parse_error="no <answer>...</answer> block")
    return PairJudgement(recipe="aesrm-cot", original=original, swapped=swapped)


def test_the_critique_is_one_row_per_criterion_beside_the_experts_verdict():
    rows = _criteria_rows(_judgement({"VA": 0, "VF": 0, "VP": 0}).original, EXPERTS)
    assert rows == [
        ["VA1 Shot composition", "A better", "balanced thirds.", "subject cut off.", "A better"],
        ["VF1 Clarity and sharpness", "B better", "soft focus.", "crisp edges.", "comparable"],
    ]


def test_dimension_rows_show_both_orders_flag_position_bias_and_the_experts():
    rows = _verdict_rows(_judgement({"VA": 1, "VF": 0, "VP": 0}), EXPERTS)
    assert rows[0][:5] == ["VA Visual aesthetics", "A better", "A better", "yes", "A better"]
    assert rows[1][:5] == ["VF Visual fidelity", "B better", "comparable", "no (position bias)", "comparable"]
    assert rows[2][4] == "B better" and rows[2][5] is None  # no reward head: no reward columns


def test_an_unreadable_answer_is_shown_verbatim_with_the_reason():
    text = _answer_text(_judgement({"VA": 0, "VF": 0, "VP": 0}))
    assert "--- A shown first\n<think>" in text
    assert "--- B shown first  [unreadable: no <answer>...</answer> block; counted as comparable]\ngibberish" in text


def test_a_model_without_a_critique_still_lists_the_experts_criteria():
    judgement = PairJudgement(recipe="descore", original=OrderAnswer(verdicts={"VA": 1}),
                              swapped=OrderAnswer(verdicts={"VA": 1}))
    assert _criteria_rows(judgement.original, EXPERTS)[0] == ["VA1 Shot composition", "—", "", "", "A better"]
    assert _criteria_rows(judgement.original, None) == []


def test_a_checklist_model_shows_one_row_per_checklist_dimension_and_the_overall_reward():
    """Rewards A: Quality 1.5, Dynamic 0.2, overall 1.7; B: Quality 0.5, Dynamic 0.2, overall 0.7. Margins +1, 0, +1:
    A better in Quality and overall, comparable in Dynamic; checklist dimensions have no experts' label."""
    rewards_a, rewards_b = {"Quality": 1.5, "Dynamic": 0.2, "overall": 1.7}, {"Quality": 0.5, "Dynamic": 0.2,
                                                                               "overall": 0.7}
    answer = OrderAnswer(verdicts={"Quality": 1, "Dynamic": 0, "overall": 1},
                         margins={"Quality": 1.0, "Dynamic": 0.0, "overall": 1.0})
    judgement = PairJudgement(recipe="checklist-vlm", original=answer, swapped=answer, rewards_a=rewards_a,
                              rewards_b=rewards_b)
    assert _verdict_rows(judgement, None) == [
        ["Quality", "A better", "A better", "yes", "—", 1.5, 0.5],
        ["Dynamic", "comparable", "comparable", "yes", "—", 0.2, 0.2],
        ["Overall (total reward)", "A better", "A better", "yes", "—", 1.7, 0.7],
    ]
