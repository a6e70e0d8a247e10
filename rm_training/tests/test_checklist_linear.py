import numpy as np
import pytest

from rm_training.checklist_linear import (
    ChecklistRewardModel,
    _log_loss,
    answer_vector,
    dominating_side,
    fit_checklist_reward_model,
    fit_masked_logistic_regression,
    mpo_select,
    pair_label,
    question_dimensions_of,
    weight_table_markdown,
)
from rm_training.rubric import overall_label

# Planted weights of the convergence tests: five questions carry no preference at all.
PLANTED = np.array([1.5, 1.0, 0.8, 0.5, 0.3, 0.0, 0.0, 0.0, 1.2, 0.6, 0.0, 0.4])


def _synthetic_pairs(true_weights, num_pairs, seed):
    rng = np.random.default_rng(seed)
    answers_a = rng.integers(0, 2, size=(num_pairs, len(true_weights)))
    answers_b = rng.integers(0, 2, size=(num_pairs, len(true_weights)))
    differences = (answers_a - answers_b).astype(float)
    probability = 1 / (1 + np.exp(-differences @ np.asarray(true_weights)))
    targets = (rng.random(num_pairs) < probability).astype(float)
    return differences, targets


def _accuracy(weights, differences, targets) -> float:
    return float(((differences @ weights > 0) == (targets == 1)).mean())


# --- Algorithm 1 -------------------------------------------------------------------------------------------


def test_one_sgd_epoch_of_algorithm_one_matches_hand_computation():
    """Pairs dx1 = (1, 0) with y = 1, dx2 = (0, 1) with y = 0; w starts at 0, lr = 0.5, fixed order
    is irrelevant here because the features do not overlap.
    Pair 1: y_hat = 0.5, grad = (0.5 - 1) * (1, 0) = (-0.5, 0) -> w = (0.25, 0).
    Pair 2: y_hat = sigmoid(0) = 0.5, grad = (0.5 - 0) * (0, 1) -> w = (0.25, -0.25).
    Mask negatives -> (0.25, 0); question 1 is reported as masked."""
    result = fit_masked_logistic_regression(
        np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, 0.0]), solver="sgd", learning_rate=0.5, max_epochs=1
    )
    assert result.weights.tolist() == pytest.approx([0.25, 0.0])
    assert result.masked_history == [[1]]


def test_one_newton_step_matches_hand_computation():
    """Four pairs dx = (1) with y = 1, 1, 1, 0 and l2 = 0; w starts at 0, so every y_hat = 0.5.
    Mean gradient (1/4)(-0.5 * 3 + 0.5) = -0.25; Hessian (1/4)(4 * 0.5 * 0.5) = 0.25; Newton step w = 0 + 0.25 / 0.25
    = 1. The loss at 1, (3 log(1 + e^-1) + log(1 + e)) / 4 = 0.5981, is below log 2 = 0.6931 by more than Armijo's
    1e-4 * 0.25, so the full step is taken: w = 1 after one iteration."""
    differences = np.ones((4, 1))
    result = fit_masked_logistic_regression(differences, np.array([1.0, 1.0, 1.0, 0.0]), l2=0.0, max_epochs=1)
    assert result.weights.tolist() == pytest.approx([1.0])
    assert _log_loss(differences, np.array([1.0, 1.0, 1.0, 0.0]), result.weights) == pytest.approx(
        (3 * np.log1p(np.exp(-1.0)) + np.log1p(np.e)) / 4
    )


def test_newton_solver_converges_to_the_log_odds_in_a_few_iterations():
    """One question answered yes by A and no by B in every pair, A preferred in 3 of 4: the unpenalised optimum is
    w = log(3/1) = log 3 = 1.0986 (sigmoid(w) = 0.75)."""
    differences, targets = np.ones((4, 1)), np.array([1.0, 1.0, 1.0, 0.0])
    result = fit_masked_logistic_regression(differences, targets, l2=0.0, tolerance=1e-10)
    assert result.converged and result.epochs <= 6
    assert result.weights.tolist() == pytest.approx([np.log(3.0)], abs=1e-9)


def test_weights_are_the_same_for_every_seed_and_recover_the_planted_ones():
    """1,000 synthetic pairs: the full-batch solver visits no pairs in a random order, so the seed changes nothing
    (the paper's per-pair SGD at lr 0.5 moves the weights by more than 1 between seeds), and it lands within 0.25
    of every planted weight."""
    differences, targets = _synthetic_pairs(PLANTED, 1000, seed=0)
    fits = [fit_masked_logistic_regression(differences, targets, seed=seed) for seed in range(3)]
    assert all(fit.converged for fit in fits)
    assert max(np.abs(fit.weights - fits[0].weights).max() for fit in fits) == 0.0
    assert fits[0].weights == pytest.approx(PLANTED, abs=0.25)
    sgd = [fit_masked_logistic_regression(differences, targets, solver="sgd", learning_rate=0.5, seed=seed,
                                          max_epochs=20) for seed in range(2)]
    assert np.abs(sgd[0].weights - sgd[1].weights).max() > 1.0


def test_the_newton_fit_is_at_least_as_good_as_every_fixed_learning_rate():
    """Algorithm 1 minimises the log-loss under w >= 0: the Newton fit (unpenalised) has a log-loss no higher than
    the paper's per-pair SGD at lr 0.5, 0.05 or 0.005 after 200 epochs, and a train accuracy at least as high as
    the best of them up to one pair in 200 (accuracy is not what the fit optimises; the lr -> 0 SGD approaches the
    same optimum). On this data lr 0.5 stays at 0.71 while the Newton fit reaches 0.768 in 6 iterations."""
    differences, targets = _synthetic_pairs(PLANTED, 1000, seed=0)
    newton = fit_masked_logistic_regression(differences, targets, l2=0.0)
    assert newton.converged and newton.epochs <= 10
    newton_loss = _log_loss(differences, targets, newton.weights)
    best_accuracy = 0.0
    for learning_rate in (0.5, 0.05, 0.005):
        sgd = fit_masked_logistic_regression(differences, targets, solver="sgd", learning_rate=learning_rate,
                                             tolerance=1e-4, max_epochs=200)
        assert newton_loss <= _log_loss(differences, targets, sgd.weights) + 1e-9
        best_accuracy = max(best_accuracy, _accuracy(sgd.weights, differences, targets))
    assert _accuracy(newton.weights, differences, targets) >= best_accuracy - 0.005
    assert _accuracy(newton.weights, differences, targets) > 0.75


def test_a_negative_weight_is_masked_to_zero_and_the_rest_refit():
    """With the true weight of question 1 negative, plain logistic regression finds it negative;
    Algorithm 1 pins it at exactly zero and the remaining weights equal a fit without question 1."""
    true_weights = [1.5, -1.0, 1.0]
    differences, targets = _synthetic_pairs(true_weights, 3000, seed=2)
    options = {"tolerance": 1e-10}
    unmasked = fit_masked_logistic_regression(differences, targets, mask_negative=False, **options)
    masked = fit_masked_logistic_regression(differences, targets, **options)
    without_question = fit_masked_logistic_regression(differences[:, [0, 2]], targets, mask_negative=False, **options)
    assert masked.converged
    assert unmasked.weights[1] < -0.5
    assert masked.weights[1] == 0.0
    assert masked.weights[[0, 2]] == pytest.approx(without_question.weights, abs=1e-6)


def test_tolerance_zero_runs_every_epoch():
    differences, targets = np.ones((4, 1)), np.array([1.0, 1.0, 1.0, 0.0])
    result = fit_masked_logistic_regression(differences, targets, tolerance=0.0, max_epochs=30)
    assert (result.epochs, result.converged) == (30, False)


def test_not_applicable_and_missing_answers_count_as_no():
    assert answer_vector({"1": 1, "2": 0, "3": None}, ["1", "2", "3", "4"]).tolist() == [1, 0, 0, 0]


# --- eq. 4-6: one weight vector, per-dimension sums ---------------------------------------------------------


def test_dimension_scores_sum_their_own_questions_of_the_one_weight_vector():
    """Weights w = (2, 1, 0.5); q1 and q2 are Quality questions, q3 a Dynamic one. A video answering
    yes, no, yes: R(Quality) = 2 * 1 + 1 * 0 = 2, R(Dynamic) = 0.5 * 1 = 0.5, R = 2.5 (eq. 4 and 6)."""
    model = ChecklistRewardModel(["1", "2", "3"], [2.0, 1.0, 0.5], {"1": "Quality", "2": "Quality", "3": "Dynamic"})
    assert model.score({"1": 1, "2": 0, "3": 1}) == {"Quality": 2.0, "Dynamic": 0.5, "overall": 2.5}
    assert model.score({"1": 0, "2": 1, "3": None}) == {"Quality": 1.0, "Dynamic": 0.0, "overall": 1.0}
    assert model.dimensions == ["Quality", "Dynamic"]


def _row(pair_id, checklist_a, checklist_b, labels, severe=None):
    return {
        "pair_id": pair_id, "prompt": "p", "video_a": f"media/{pair_id}a.mp4", "video_b": f"media/{pair_id}b.mp4",
        "labels": labels, "severe": severe, "checklist_a": checklist_a, "checklist_b": checklist_b, "agreement": 1.0,
    }


def test_one_fit_on_the_overall_preference_gives_every_dimension_score():
    """400 pairs over three questions; the overall preference follows q1 (Quality) and q3 (Dynamic) with planted
    weights 2 and 1, q2 (Quality) carries nothing. One vector is learnt; R(Quality) = w1 x1 + w2 x2,
    R(Dynamic) = w3 x3."""
    rng = np.random.default_rng(0)
    rows = []
    for index in range(400):
        a, b = rng.integers(0, 2, 3), rng.integers(0, 2, 3)
        a_wins = rng.random() < 1 / (1 + np.exp(-(2.0 * (a[0] - b[0]) + 1.0 * (a[2] - b[2]))))
        label = "A" if a_wins else "B"
        rows.append(_row(str(index), {str(q + 1): int(a[q]) for q in range(3)},
                         {str(q + 1): int(b[q]) for q in range(3)}, {"VA": label, "VF": label, "VP": "tie"}))
    dimensions = {"1": "Quality", "2": "Quality", "3": "Dynamic"}
    model, result = fit_checklist_reward_model(rows, question_dimensions=dimensions)
    assert result.converged
    assert model.question_ids == ["1", "2", "3"]
    assert model.weights == pytest.approx([2.0, 0.0, 1.0], abs=0.35)
    w1, w2, w3 = model.weights
    assert model.score({"1": 1, "2": 1, "3": 1}) == pytest.approx({"Quality": w1 + w2, "Dynamic": w3,
                                                                   "overall": w1 + w2 + w3})
    table = weight_table_markdown(model)
    assert table.splitlines()[:3] == [
        "| question | dimension | weight |", "|---|---|---|", f"| 1 | Quality | {w1:.4f} |"
    ]


def test_question_dimensions_come_from_the_manifest_checklist():
    manifest = {"checklist": {"slug": "visionreward-video", "version": 1, "questions": [
        {"id": 7, "dimension": "Quality", "sub_dimension": "Color", "level": 1, "text": "Are the colors not ugly?"},
    ]}}
    assert question_dimensions_of(manifest) == {"7": "Quality"}
    assert question_dimensions_of({"checklist": None}) == {}


def test_checklist_model_round_trips_through_json(tmp_path):
    model = ChecklistRewardModel(["1", "2"], [0.5, 0.0], {"1": "Quality"})
    model.save(tmp_path / "weights.json")
    assert ChecklistRewardModel.load(tmp_path / "weights.json") == model


def test_weights_saved_before_eq_6_load_as_their_overall_fit(tmp_path):
    (tmp_path / "weights.json").write_text(
        '{"question_ids": ["1"], "weights": {"VA": [3.0], "overall": [0.5]}}'
    )
    assert ChecklistRewardModel.load(tmp_path / "weights.json") == ChecklistRewardModel(["1"], [0.5], {})


# --- the overall label ---------------------------------------------------------------------------------------


def test_the_overall_preference_of_a_row_honours_severe_flags():
    """A wins VA and VF, B wins VP: A overall, unless A has a severe violation in VP (the dimension it lost),
    which makes the pair a tie overall; a severe flag of A in VA decides VA against A (a severe violation decides
    its dimension, RUBRIC.md), so B wins VA and VP."""
    labels = {"VA": "A", "VF": "A", "VP": "B"}
    clean = {"A": {"VA": False, "VF": False, "VP": False}, "B": {"VA": False, "VF": False, "VP": False}}
    lost_to_severe = {"A": {"VA": False, "VF": False, "VP": True}, "B": clean["B"]}
    severe_where_won = {"A": {"VA": True, "VF": False, "VP": False}, "B": clean["B"]}
    assert pair_label(_row("x", {}, {}, labels, clean)) == "A"
    assert pair_label(_row("x", {}, {}, labels, lost_to_severe)) == "tie"
    assert pair_label(_row("x", {}, {}, labels, severe_where_won)) == "B"
    assert pair_label(_row("x", {}, {}, {"VA": "A", "VF": "tie", "VP": "B"}, clean)) == "tie"
    assert overall_label(labels) == "A"  # rows without flags


def test_a_pair_lost_to_a_severe_violation_is_left_out_of_the_fit():
    """Two pairs: A wins 2-1 in both, but in the second A has a severe VP violation (the dimension it lost), so
    only the first is a training pair; with one pair where A says yes to q1, w1 goes up."""
    labels = {"VA": "A", "VF": "A", "VP": "B"}
    flags = {"A": {"VA": False, "VF": False, "VP": False}, "B": {"VA": False, "VF": False, "VP": False}}
    severe = {"A": {"VA": False, "VF": False, "VP": True}, "B": flags["B"]}
    rows = [_row("kept", {"1": 1}, {"1": 0}, labels, flags), _row("tie", {"1": 0}, {"1": 1}, labels, severe)]
    model, _ = fit_checklist_reward_model(rows)
    assert model.weights[0] > 1.0


# --- MPO -----------------------------------------------------------------------------------------------------


def test_dominance_allows_ties_and_needs_the_total_threshold():
    """Dimensions Quality, Dynamic; threshold 0.6.
    A (Q 2.0, D 1.0, total 3.0) vs B (Q 2.0, D 0.3, total 2.3): Q tied, D +0.7, total +0.7 >= 0.6 -> A.
    Same with B's D at 0.5: total +0.5 < 0.6 -> no pair.
    A (Q 2.0, D 0.0) vs B (Q 1.0, D 0.5): Q +1, D -0.5 -> no side dominates.
    Equal everywhere: total 0 -> no pair (no preferred video), at any threshold including 0."""
    def scores(quality, dynamic):
        return {"Quality": quality, "Dynamic": dynamic, "overall": quality + dynamic}

    dims = ["Quality", "Dynamic"]
    assert dominating_side(scores(2.0, 1.0), scores(2.0, 0.3), dims, 0.6) == "A"
    assert dominating_side(scores(2.0, 0.3), scores(2.0, 1.0), dims, 0.6) == "B"
    assert dominating_side(scores(2.0, 1.0), scores(2.0, 0.5), dims, 0.6) is None
    assert dominating_side(scores(2.0, 0.0), scores(1.0, 0.5), dims, 0.0) is None
    assert dominating_side(scores(1.0, 1.0), scores(1.0, 1.0), dims, 0.6) is None
    assert dominating_side(scores(1.0, 1.0), scores(1.0, 1.0), dims, 0.0) is None


def test_mpo_select_keeps_dominating_pairs_over_checklist_dimensions():
    """w = (1, 1, 1); q1 Quality, q2 Quality, q3 Dynamic; threshold 0.6.
    Pair x: A (1,1,0) vs B (0,1,0) -> Quality +1, Dynamic 0, total +1 -> A chosen.
    Pair y: A (1,0,0) vs B (0,0,1) -> Quality +1, Dynamic -1 -> neither dominates.
    Pair z: A (0,0,0) vs B (0,0,1) -> Dynamic -1 only -> B chosen.
    Pair w: identical answers -> equal everywhere -> not a preference pair."""
    model = ChecklistRewardModel(["1", "2", "3"], [1.0, 1.0, 1.0], {"1": "Quality", "2": "Quality", "3": "Dynamic"})
    labels = {"VA": "tie", "VF": "tie", "VP": "tie"}
    rows = [
        _row("x", {"1": 1, "2": 1, "3": 0}, {"1": 0, "2": 1, "3": 0}, labels),
        _row("y", {"1": 1, "2": 0, "3": 0}, {"1": 0, "2": 0, "3": 1}, labels),
        _row("z", {"1": 0, "2": 0, "3": 0}, {"1": 0, "2": 0, "3": 1}, labels),
        _row("w", {"1": 1}, {"1": 1}, labels),
    ]
    selected = mpo_select(rows, model, total_threshold=0.6)
    assert [(pair["pair_id"], pair["chosen_is_a"]) for pair in selected] == [("x", True), ("z", False)]
    assert selected[1]["chosen"] == "media/zb.mp4"
    assert selected[0]["margins"] == {"Quality": 1.0, "Dynamic": 0.0, "overall": 1.0}


def test_mpo_select_refuses_a_model_without_dimensions():
    with pytest.raises(ValueError, match="checklist.questions"):
        mpo_select([], ChecklistRewardModel(["1"], [1.0], {}))
