import math

import pytest
import torch

from rm_training.rewards import (
    consistency_reward,
    cot_process_reward,
    dimension_accuracy_reward,
    format_reward,
    parse_score,
    rapo_absolute_error_reward,
    rapo_rank_reward,
    rapo_reward,
)

COT = """<think>
VA1 Shot composition: A: centred subject. B: tilted horizon. Verdict: 1
VF1 Clarity and sharpness: A: soft. B: crisp. Verdict: -1
VP1 Physical plausibility: A: fine. B: fine. Verdict: 0
</think>
<answer>VA: 1, VF: -1, VP: 0</answer>"""


def test_rank_reward_matches_hand_values_for_two_items():
    """N = 2, K = 1 so both variances are 0; gamma = 0.04 -> scale sqrt(0.04) = 0.2.
    Item 1: o = 0.7, mu_2 = 0.5, p = Phi(0.2 / 0.2) = Phi(1) = 0.841345; s_1 = 0.9 >= 0.1 -> p_c = 1;
    reward = sqrt(0.841345) = 0.917249.
    Item 2: o = 0.5, mu_1 = 0.7, p = Phi(-1) = 0.158655; p_c = 0 -> sqrt(1 - 0.158655) = 0.917249."""
    reward = rapo_rank_reward(torch.tensor([[0.7], [0.5]]), torch.tensor([0.9, 0.1]), gamma=0.04)
    assert reward.flatten().tolist() == pytest.approx([0.917249, 0.917249], abs=1e-6)


def test_rank_reward_uses_the_spread_of_the_samples():
    """Item 1 samples [0.6, 0.8]: mean 0.7, variance 0.01. Item 2 samples [0.5, 0.5]: variance 0.
    gamma = 0 -> scale sqrt(0.01) = 0.1. Item 1 (s_1 > s_2, p_c = 1), sample 0.6:
    Phi((0.6 - 0.5) / 0.1) = Phi(1) -> sqrt(0.841345) = 0.917249; sample 0.8: Phi(3) = 0.998650
    -> 0.999325. Item 2 (p_c = 0) both samples 0.5: Phi((0.5 - 0.7) / 0.1) = Phi(-2) = 0.022750
    -> sqrt(0.977250) = 0.988559."""
    reward = rapo_rank_reward(torch.tensor([[0.6, 0.8], [0.5, 0.5]]), torch.tensor([0.8, 0.2]), gamma=0.0)
    assert reward[0].tolist() == pytest.approx([0.917249, 0.999325], abs=1e-6)
    assert reward[1].tolist() == pytest.approx([0.988559, 0.988559], abs=1e-6)


def test_rank_reward_needs_two_items():
    with pytest.raises(ValueError, match="at least two"):
        rapo_rank_reward(torch.tensor([[0.5]]), torch.tensor([0.5]))


def test_absolute_error_reward_is_a_gaussian_of_the_error():
    """|0.6 - 0.5| / 0.1 = 1 -> exp(-0.5) = 0.606531 (+ eps 1e-4 = 0.606631);
    exact prediction -> 1 + 1e-4; error 0.3 -> exp(-4.5) = 0.011109 + 1e-4 = 0.011209."""
    reward = rapo_absolute_error_reward(torch.tensor([0.6, 0.5, 0.2]), torch.tensor(0.5), sigma=0.1)
    assert reward.tolist() == pytest.approx([0.606631, 1.0001, 0.011209], abs=1e-6)


def test_rapo_reward_is_rank_plus_absolute():
    predicted = torch.tensor([[0.7], [0.5]])
    target = torch.tensor([0.9, 0.1])
    expected = rapo_rank_reward(predicted, target) + rapo_absolute_error_reward(predicted, target[:, None])
    assert torch.allclose(rapo_reward(predicted, target), expected)


def test_format_reward_accepts_only_well_formed_answers():
    assert format_reward(COT, "cot") == 1.0
    assert format_reward("Video A is better. <answer>VA: 1, VF: 0, VP: -1</answer>", "base") == 1.0
    assert format_reward("<answer>VA: 2, VF: 0, VP: -1</answer>", "base") == 0.0
    assert format_reward(None, "cot") == 0.0


def test_dimension_accuracy_reward_counts_matching_dimensions():
    """Answer VA 1, VF -1, VP 0 against labels A, B, A: two of three right -> 2/3."""
    labels = {"VA": "A", "VF": "B", "VP": "A"}
    assert dimension_accuracy_reward(COT, labels, "cot") == pytest.approx(2 / 3)
    assert dimension_accuracy_reward(COT, {"VA": 1, "VF": -1, "VP": 0}, "cot") == 1.0
    assert dimension_accuracy_reward("garbage", labels, "cot") == 0.0


def test_cot_process_reward_is_the_share_of_consistent_criteria():
    """CoT verdicts VA1 = 1, VF1 = -1, VP1 = 0. Labels VA1 = 1 (match), VF1 = 1 (miss),
    VP1 = 0 (match), VA2 = 0 (absent from the CoT: miss) -> 2/4 = 0.5."""
    criteria = {"VA1": 1, "VF1": 1, "VP1": 0, "VA2": 0}
    assert cot_process_reward(COT, criteria) == 0.5
    assert cot_process_reward("<think>", criteria) == 0.0


def test_parse_score_reads_a_scalar_answer():
    assert parse_score("looks fine <answer>0.62</answer>") == pytest.approx(0.62)
    assert parse_score("<answer>nan</answer>") is None
    assert parse_score("no answer") is None
    assert math.isclose(parse_score("<answer> 1 </answer>"), 1.0)


def test_rank_reward_ignores_samples_without_a_score():
    """Item 1 samples [0.7, (invalid)], item 2 [0.5, 0.5], gamma 0.04. Only the valid 0.7 counts, so
    item 1 has mean 0.7 and variance 0 -> the same numbers as the two-item hand example above:
    0.917249 for valid samples, 0 for the invalid one. Item 3 has no valid sample: it is nobody's
    partner and gets 0 everywhere."""
    predicted = torch.tensor([[0.7, 123.0], [0.5, 0.5], [0.0, 0.0]])
    valid = torch.tensor([[True, False], [True, True], [False, False]])
    reward = rapo_rank_reward(predicted, torch.tensor([0.9, 0.1, 0.5]), gamma=0.04, valid=valid)
    assert reward.flatten().tolist() == pytest.approx([0.917249, 0.0, 0.917249, 0.917249, 0.0, 0.0], abs=1e-6)
    total = rapo_reward(predicted, torch.tensor([0.9, 0.1, 0.5]), valid=valid)
    assert total[0, 1].item() == 0.0 and total[2].tolist() == [0.0, 0.0]


def _cot(criteria: str, answer: str, severe: str = "") -> str:
    return f"<think>\n{criteria}\n{severe}</think>\n<answer>{answer}</answer>"


VA_FOR_A = "VA1 Shot composition: A: centred. B: tilted. Verdict: 1\nVA2 Colour: A: muddy. B: clean. Verdict: 0"
VF_FOR_B = "VF1 Clarity: A: soft. B: crisp. Verdict: -1"
VP_FOR_A = "VP1 Physical plausibility: A: fine. B: floating cup. Verdict: 1"
ALL_CRITERIA = "\n".join([VA_FOR_A, VF_FOR_B, VP_FOR_A])


def test_consistency_reward_is_1_when_every_dimension_follows_its_criteria():
    """VA criteria (1, 0) -> 1, VF (-1) -> -1, VP (1) -> 1; the answer says 1, -1, 1: 3/3."""
    assert consistency_reward(_cot(ALL_CRITERIA, "VA: 1, VF: -1, VP: 1")) == 1.0


def test_consistency_reward_counts_dimensions_that_contradict_their_criteria():
    """Same criteria; the answer says VA -1 (criteria imply 1) and VP 0 (imply 1): only VF agrees -> 1/3.
    An unparsable answer earns 0; a Base answer (no criteria) is not a CoT answer."""
    assert consistency_reward(_cot(ALL_CRITERIA, "VA: -1, VF: -1, VP: 0")) == pytest.approx(1 / 3)
    assert consistency_reward("<think>VA1</think><answer>VA: 1, VF: 1, VP: 1</answer>") == 0.0
    assert consistency_reward("Video A wins. <answer>VA: 1, VF: 1, VP: 1</answer>") == 0.0


def test_consistency_reward_lets_a_stated_severe_violation_decide_its_dimension():
    """VP's criterion favours A, but the answer flags a severe violation on A in VP: VP must be -1.
    Answer VP -1 -> 3/3; answer VP 1 (the criteria's majority, ignoring the flag) -> 2/3. Flags on both videos
    cancel, so VP follows its criterion (1) again."""
    severe_on_a = "Severe: A: VP; B: none\n"
    assert consistency_reward(_cot(ALL_CRITERIA, "VA: 1, VF: -1, VP: -1", severe_on_a)) == 1.0
    assert consistency_reward(_cot(ALL_CRITERIA, "VA: 1, VF: -1, VP: 1", severe_on_a)) == pytest.approx(2 / 3)
    both = "Severe: A: VP; B: VP\n"
    assert consistency_reward(_cot(ALL_CRITERIA, "VA: 1, VF: -1, VP: 1", both)) == 1.0


def test_consistency_reward_groups_criteria_by_the_manifests_rubric():
    """With a rubric that puts VP1 under VF: VF criteria (-1, 1) -> 0 and VP has none -> 0. The answer
    1, 0, 0 then agrees everywhere; by the codes' letters it would not (VF -1, VP 1) -> 1/3."""
    rubric = {"VA": ["VA1", "VA2"], "VF": ["VF1", "VP1"], "VP": []}
    text = _cot(ALL_CRITERIA, "VA: 1, VF: 0, VP: 0")
    assert consistency_reward(text, rubric) == 1.0
    assert consistency_reward(text) == pytest.approx(1 / 3)


def test_accuracy_reward_honours_the_rows_severe_flags():
    """Labels A, B, A but Video A has a severe violation in VP, so VP's label is B (-1). The answer
    1, -1, 0 gets VA and VF right: 2/3 either way for VP 0; the answer 1, -1, -1 is fully right only with
    the flags applied (3/3, against 2/3 without them)."""
    labels = {"VA": "A", "VF": "B", "VP": "A"}
    severe = {"A": {"VP": True}, "B": {}}
    right = "Fine. <answer>VA: 1, VF: -1, VP: -1</answer>"
    assert dimension_accuracy_reward(right, labels, "base", severe) == 1.0
    assert dimension_accuracy_reward(right, labels, "base") == pytest.approx(2 / 3)
    assert dimension_accuracy_reward("Fine. <answer>VA: 1, VF: -1, VP: 0</answer>", labels, "base", severe) == (
        pytest.approx(2 / 3)
    )
