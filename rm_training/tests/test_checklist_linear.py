import numpy as np
import pytest

from rm_training.checklist_linear import (
    ChecklistRewardModel,
    answer_vector,
    fit_checklist_reward_model,
    fit_masked_logistic_regression,
    mpo_select,
    overall_label,
    weight_table_markdown,
)


def _synthetic_pairs(true_weights, num_pairs, seed):
    rng = np.random.default_rng(seed)
    answers_a = rng.integers(0, 2, size=(num_pairs, len(true_weights)))
    answers_b = rng.integers(0, 2, size=(num_pairs, len(true_weights)))
    differences = (answers_a - answers_b).astype(float)
    probability = 1 / (1 + np.exp(-differences @ np.asarray(true_weights)))
    targets = (rng.random(num_pairs) < probability).astype(float)
    return differences, targets


def test_one_epoch_of_algorithm_one_matches_hand_computation():
    """Pairs dx1 = (1, 0) with y = 1, dx2 = (0, 1) with y = 0; w starts at 0, lr = 0.5, fixed order
    is irrelevant here because the features do not overlap.
    Pair 1: y_hat = 0.5, grad = (0.5 - 1) * (1, 0) = (-0.5, 0) -> w = (0.25, 0).
    Pair 2: y_hat = sigmoid(0) = 0.5, grad = (0.5 - 0) * (0, 1) -> w = (0.25, -0.25).
    Mask negatives -> (0.25, 0); question 1 is reported as masked."""
    result = fit_masked_logistic_regression(
        np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, 0.0]), learning_rate=0.5, max_epochs=1
    )
    assert result.weights.tolist() == pytest.approx([0.25, 0.0])
    assert result.masked_history == [[1]]


def test_recovers_known_positive_weights_on_synthetic_pairs():
    true_weights = [2.0, 1.0, 0.5, 0.0]
    differences, targets = _synthetic_pairs(true_weights, 4000, seed=1)
    result = fit_masked_logistic_regression(
        differences, targets, learning_rate=2.0, batch_size=len(targets), tolerance=1e-6, max_epochs=2000
    )
    assert result.converged
    assert result.weights == pytest.approx(true_weights, abs=0.2)


def test_a_negative_weight_is_masked_to_zero_and_the_rest_refit():
    """With the true weight of question 1 negative, plain logistic regression finds it negative;
    Algorithm 1 pins it at exactly zero and the remaining weights equal a fit without question 1."""
    true_weights = [1.5, -1.0, 1.0]
    differences, targets = _synthetic_pairs(true_weights, 3000, seed=2)
    # Full-batch steps make the fit deterministic, so masking converges to the constrained optimum.
    options = {"learning_rate": 2.0, "batch_size": len(targets), "tolerance": 1e-7, "max_epochs": 3000}
    unmasked = fit_masked_logistic_regression(differences, targets, mask_negative=False, **options)
    masked = fit_masked_logistic_regression(differences, targets, **options)
    without_question = fit_masked_logistic_regression(differences[:, [0, 2]], targets, mask_negative=False, **options)
    assert masked.converged
    assert unmasked.weights[1] < -0.5
    assert masked.weights[1] == 0.0
    assert 1 in masked.masked_history[-1]
    assert masked.weights[[0, 2]] == pytest.approx(without_question.weights, abs=1e-3)


def test_not_applicable_and_missing_answers_count_as_no():
    assert answer_vector({"1": 1, "2": 0, "3": None}, ["1", "2", "3", "4"]).tolist() == [1, 0, 0, 0]


def test_overall_label_follows_the_dimension_majority():
    assert overall_label({"VA": "A", "VF": "A", "VP": "B"}) == "A"
    assert overall_label({"VA": "A", "VF": "tie", "VP": "B"}) == "tie"


def _row(pair_id, checklist_a, checklist_b, labels):
    return {
        "pair_id": pair_id, "prompt": "p", "video_a": f"media/{pair_id}a.mp4", "video_b": f"media/{pair_id}b.mp4",
        "labels": labels, "checklist_a": checklist_a, "checklist_b": checklist_b, "agreement": 1.0,
    }


def test_fit_per_dimension_and_weight_table():
    rng = np.random.default_rng(0)
    rows = []
    for index in range(400):
        a, b = rng.integers(0, 2, 2), rng.integers(0, 2, 2)
        # question 1 decides VA, question 2 decides VF and VP; equal answers are ties.
        def verdict(q, a=a, b=b):
            return "A" if a[q] > b[q] else "B" if a[q] < b[q] else "tie"
        rows.append(_row(str(index), {"1": int(a[0]), "2": int(a[1])}, {"1": int(b[0]), "2": int(b[1])},
                         {"VA": verdict(0), "VF": verdict(1), "VP": verdict(1)}))
    model, _results = fit_checklist_reward_model(rows, learning_rate=0.5, batch_size=16, max_epochs=50)
    assert model.question_ids == ["1", "2"]
    assert model.weights["VA"][0] > 1.0 and model.weights["VA"][1] < 0.3
    assert model.weights["VF"][1] > 1.0 and model.weights["VF"][0] < 0.3
    table = weight_table_markdown(model)
    assert table.splitlines()[0] == "| question | VA | VF | VP | overall |"


def test_checklist_model_round_trips_through_json(tmp_path):
    model = ChecklistRewardModel(["1", "2"], {"VA": [0.5, 0.0]})
    model.save(tmp_path / "weights.json")
    assert ChecklistRewardModel.load(tmp_path / "weights.json") == model


def test_mpo_keeps_only_dominating_pairs():
    """Weights: VA looks at q1, VF at q2, VP at q3.
    Pair x: A (1,1,0) vs B (0,1,0) -> margins VA +1, VF 0, VP 0 -> A dominates.
    Pair y: A (1,0,0) vs B (0,1,0) -> VA +1, VF -1 -> neither dominates.
    Pair z: A (0,0,0) vs B (0,0,1) -> VP -1 only -> B dominates.
    Pair w: identical answers -> no strict margin -> dropped."""
    model = ChecklistRewardModel(["1", "2", "3"], {"VA": [1, 0, 0], "VF": [0, 1, 0], "VP": [0, 0, 1]})
    labels = {"VA": "tie", "VF": "tie", "VP": "tie"}
    rows = [
        _row("x", {"1": 1, "2": 1, "3": 0}, {"1": 0, "2": 1, "3": 0}, labels),
        _row("y", {"1": 1, "2": 0, "3": 0}, {"1": 0, "2": 1, "3": 0}, labels),
        _row("z", {"1": 0, "2": 0, "3": 0}, {"1": 0, "2": 0, "3": 1}, labels),
        _row("w", {"1": 1}, {"1": 1}, labels),
    ]
    selected = mpo_select(rows, model)
    assert [(pair["pair_id"], pair["chosen_is_a"]) for pair in selected] == [("x", True), ("z", False)]
    assert selected[1]["chosen"] == "media/zb.mp4"
