import pytest

from rm_training.evaluation import (
    accuracy_without_ties,
    calibration_bins,
    confusion_matrix,
    evaluate_predictions,
    pearson_spearman,
    per_criterion_accuracy,
    position_bias,
    score_correlations,
    tie_calibrated_accuracy,
    unparsable_score_stand_in,
)


def test_accuracy_without_ties_ignores_gold_ties_and_counts_zero_margins_wrong():
    """Gold A, B, tie, A with margins 0.5, 0.2, 0.0, 0.0: the tie is skipped; A/0.5 right,
    B/0.2 wrong, A/0.0 wrong -> 1/3."""
    assert accuracy_without_ties([0.5, 0.2, 0.0, 0.0], ["A", "B", "tie", "A"]) == pytest.approx(1 / 3)


def test_tie_calibration_picks_the_threshold_that_maximises_accuracy():
    """Margins 0.9 (A), -0.8 (B), 0.1 (tie), -0.05 (tie), 0.3 (A).
    eps = 0 -> A, B, A, B, A: 3/5 right. eps = 0.05 -> the -0.05 becomes a tie: 4/5.
    eps = 0.1 -> both small margins ties: 5/5. eps = 0.3 -> the last A becomes a tie: 4/5.
    Best: accuracy 1.0 at epsilon 0.1."""
    accuracy, epsilon = tie_calibrated_accuracy([0.9, -0.8, 0.1, -0.05, 0.3], ["A", "B", "tie", "tie", "A"])
    assert accuracy == 1.0
    assert epsilon == pytest.approx(0.1)


def test_tie_calibration_keeps_zero_threshold_when_no_gold_ties():
    accuracy, epsilon = tie_calibrated_accuracy([0.5, -0.5, 0.2], ["A", "B", "B"])
    assert (accuracy, epsilon) == (pytest.approx(2 / 3), 0.0)


def test_position_bias_on_hand_built_predictions():
    """Four pairs judged in both orders (original margin, swapped margin):
    p1 (+1, -1): A then B -> consistent flip.   p2 (+1, +1): A both times -> inconsistent.
    p3 (0, 0): tie both times -> consistent.    p4 (-1, -1): B both times -> inconsistent.
    swap_consistency 2/4 = 0.5, position_bias 0.5.
    Non-tie verdicts over both orders: A, B, A, A, B, B -> left (A) rate 3/6 = 0.5."""
    result = position_bias([1, 1, 0, -1], [-1, 1, 0, -1])
    assert result == {"swap_consistency": 0.5, "position_bias": 0.5, "left_preference_rate": 0.5}


def test_left_preference_rate_detects_a_model_that_always_picks_the_left_video():
    result = position_bias([1, 1, 1], [1, 1, 1])
    assert result == {"swap_consistency": 0.0, "position_bias": 1.0, "left_preference_rate": 1.0}


def test_per_criterion_accuracy_counts_missing_criteria_as_wrong():
    rows = [
        {"criteria": {"VA1": 1, "VF1": 0}, "predicted_criteria": {"VA1": 1, "VF1": -1}},
        {"criteria": {"VA1": -1, "VF1": 0}, "predicted_criteria": {"VF1": 0}},
        {"criteria": {"VA1": 1}},  # no CoT prediction: not counted
    ]
    assert per_criterion_accuracy(rows) == {"VA1": 0.5, "VF1": 0.5}


def test_confusion_matrix_rows_are_gold_columns_predicted():
    assert confusion_matrix(["A", "tie", "B"], ["A", "A", "tie"]) == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]


def test_plcc_and_srcc():
    """Monotone but not linear: SRCC 1; PLCC of (1,2,3) with (1,4,9) = 0.989743."""
    result = pearson_spearman([1.0, 2.0, 3.0], [1.0, 4.0, 9.0])
    assert result["srcc"] == pytest.approx(1.0)
    assert result["plcc"] == pytest.approx(0.989743, abs=1e-6)
    assert pearson_spearman([1.0], [1.0]) == {"plcc": None, "srcc": None}


def test_evaluate_predictions_assembles_per_dimension_metrics():
    rows = [
        {"labels": {"VA": "A"}, "margins": {"VA": 1.0}, "swapped_margins": {"VA": -1.0}},
        {"labels": {"VA": "tie"}, "margins": {"VA": 0.0}, "swapped_margins": {"VA": 0.0}},
    ]
    metrics = evaluate_predictions(rows, dimensions=("VA",))
    assert metrics["dimensions"]["VA"]["accuracy_without_ties"] == 1.0
    assert metrics["dimensions"]["VA"]["accuracy_with_ties"] == 1.0
    assert metrics["dimensions"]["VA"]["swap_consistency"] == 1.0


def test_calibration_bins_compare_predicted_and_observed_win_rates():
    """Margins 0 -> P(A) = 0.5 (bin [0.4, 0.6)); margin ln 9 -> 0.9 (bin [0.8, 1.0]).
    Bin 0.4-0.6 holds gold A and B -> observed 0.5; bin 0.8-1.0 holds two A wins -> observed 1.0.
    The tie is ignored."""
    import math

    table = calibration_bins([0.0, 0.0, math.log(9), math.log(9), 5.0], ["A", "B", "A", "A", "tie"])
    assert [(round(b["mean_predicted"], 6), b["observed"], b["count"]) for b in table] == [(0.5, 0.5, 2), (0.9, 1.0, 2)]


def test_a_dimension_the_model_does_not_score_is_reported_not_evaluated():
    rows = [
        {"labels": {"VA": "A", "VF": "B", "VP": "A"}, "margins": {"VA": 1.0, "VF": -2.0}},
        {"labels": {"VA": "B", "VF": "B", "VP": "tie"}, "margins": {"VA": -0.5, "VF": -1.0}},
    ]
    metrics = evaluate_predictions(rows)
    assert metrics["dimensions"]["VP"] == {"not_evaluated": "the model gives no score for this dimension"}
    assert metrics["dimensions"]["VA"]["accuracy_without_ties"] == 1.0


def test_unreadable_scores_count_as_the_far_end_of_the_scale_and_are_reported():
    """Targets (0.9, 0.2, 0.4, 0.7); answers 0.8, unreadable, 0.3, 0.6. The unreadable one (target 0.2 < 0.5)
    counts as 1.0, so the series is x = (0.8, 1.0, 0.3, 0.6).
    PLCC: means 0.675 / 0.55; deviations x (0.125, 0.325, -0.375, -0.075), y (0.35, -0.35, -0.15, 0.15);
    sum dx.dy = -0.025, sum dx^2 = 0.2675, sum dy^2 = 0.29 -> -0.025 / sqrt(0.077575) = -0.089759.
    SRCC: ranks x (3, 4, 1, 2), y (4, 1, 2, 3); sum d^2 = 12 -> 1 - 6 * 12 / (4 * 15) = -0.2.
    Dropping the unreadable answer would have given 1.0 for both (the three others are in order and
    linear): that is what the parsed-only figures show."""
    result = score_correlations([0.8, None, 0.3, 0.6], [0.9, 0.2, 0.4, 0.7])
    assert result["plcc"] == pytest.approx(-0.089759, abs=1e-6)
    assert result["srcc"] == pytest.approx(-0.2)
    assert result["parse_failure_rate"] == 0.25
    assert result["num_unparsable"] == 1
    assert result["plcc_parsed_only"] == pytest.approx(1.0)
    assert result["srcc_parsed_only"] == pytest.approx(1.0)


def test_the_stand_in_for_an_unreadable_score_is_the_end_farthest_from_the_target():
    assert unparsable_score_stand_in(0.2) == 1.0
    assert unparsable_score_stand_in(0.5) == 0.0
    assert unparsable_score_stand_in(0.9) == 0.0
