"""The learning experiment's measurements, against values worked out by hand."""

import json
import math

import numpy as np
import pytest

from rm_training.experiment import (
    RecipeResult,
    bootstrap_accuracy,
    checklist_answer_accuracy,
    checklist_recovery,
    checklist_score_recovery,
    decided_outcomes,
    first_and_last_mean,
    learning_table,
    pooled_bootstrap_accuracy,
    swapped_order_predictions,
    tie_answer_share,
    trend_per_100_steps,
    weight_recovery,
)


def _row(label: str, margin: float) -> dict:
    return {"labels": {"VA": label}, "margins": {"VA": margin}}


def test_decided_outcomes_skip_gold_ties_and_count_a_zero_margin_as_wrong():
    rows = [_row("A", 0.3), _row("B", 0.3), _row("B", -2.0), _row("tie", 1.0), _row("A", 0.0)]
    assert decided_outcomes(rows, "VA").tolist() == [1.0, 0.0, 1.0, 0.0]


def test_bootstrap_interval_holds_the_accuracy_and_collapses_when_every_pair_agrees():
    rows = [_row("A", 1.0)] * 3 + [_row("A", -1.0)]
    accuracy, low, high, count = bootstrap_accuracy(rows, "VA", resamples=500)
    assert (accuracy, count) == (0.75, 4)
    # resampling 4 outcomes can only give k/4; the 2.5th and 97.5th percentiles of Binomial(4, 3/4) / 4
    # are 1/4 (P(k <= 1) = 0.0508) ... 1 (P(k = 4) = 0.316): the interval must contain 0.75 within [0.25, 1]
    assert 0.25 <= low <= accuracy <= high <= 1.0
    assert bootstrap_accuracy([_row("B", -1.0)] * 5, "VA")[:3] == (1.0, 1.0, 1.0)
    assert math.isnan(bootstrap_accuracy([_row("tie", 1.0)], "VA")[0])


def test_weight_recovery_scales_the_learned_vector_onto_the_planted_one():
    """learned (1, 2, 0), planted (2, 4, 1): scale = (2 + 8) / (1 + 4) = 2, scaled (2, 4, 0), max error 1.
    Correlation: learned centred (0, 1, -1), planted centred (-1/3, 5/3, -4/3):
    (0 + 5/3 + 4/3) / (sqrt(2) * sqrt(1/9 + 25/9 + 16/9)) = 3 / (sqrt(2) * sqrt(42) / 3) = 9 / sqrt(84)."""
    figures = weight_recovery([1.0, 2.0, 0.0], [2.0, 4.0, 1.0])
    assert figures["scale"] == pytest.approx(2.0)
    assert figures["max_error"] == pytest.approx(1.0)
    assert figures["correlation"] == pytest.approx(9 / math.sqrt(84))


def test_checklist_recovery_compares_a_dimension_with_its_own_planted_questions_only(tmp_path):
    fitted = tmp_path / "weights.json"
    fitted.write_text(json.dumps({"question_ids": ["1", "2", "3"],
                                  "weights": {"VA": [1.0, 0.0, 0.0], "overall": [1.0, 2.0, 0.0]}}))
    planted = tmp_path / "planted.json"
    planted.write_text(json.dumps({"weights": {"1": 0.5, "2": 1.0, "3": 0.0},
                                   "dimensions": {"1": "VA", "2": "VF", "3": None}}))
    recovery = checklist_recovery(fitted, planted)
    # VA against (0.5, 0, 0): the same direction, scale 0.5, no error
    assert recovery["VA"]["correlation"] == pytest.approx(1.0)
    assert recovery["VA"]["max_error"] == pytest.approx(0.0)
    # overall against (0.5, 1, 0): (1, 2, 0) scaled by 0.5
    assert recovery["overall"]["correlation"] == pytest.approx(1.0)
    assert recovery["overall"]["scale"] == pytest.approx(0.5)


def test_score_recovery_sees_a_weight_spread_among_questions_that_always_move_together(tmp_path):
    """Questions 1 and 2 are answered alike on every video, so (2, 0) and (1, 1) on them give the same scores:
    videos (0,0,0), (1,1,0), (0,0,1), (1,1,1) score 0, 2, 0.5, 2.5 under both vectors."""
    fitted = tmp_path / "weights.json"
    fitted.write_text(json.dumps({"question_ids": ["1", "2", "3"], "weights": [2.0, 0.0, 0.5]}))
    planted = tmp_path / "planted.json"
    planted.write_text(json.dumps({"weights": {"1": 1.0, "2": 1.0, "3": 0.5},
                                   "dimensions": {"1": "VA", "2": "VA", "3": "VF"}}))
    export = tmp_path / "export"
    export.mkdir()
    videos = [(0, 0, 0), (1, 1, 0), (0, 0, 1), (1, 1, 1)]
    answers = [dict(zip("123", video, strict=True)) for video in videos]
    rows = [{"video_a": f"v{i}", "video_b": f"v{i + 1}", "checklist_a": answers[i], "checklist_b": answers[i + 1]}
            for i in range(3)]
    (export / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert checklist_recovery(fitted, planted)["overall"]["correlation"] < 0.6
    scores = checklist_score_recovery(fitted, planted, export)
    assert scores["overall"] == pytest.approx(1.0)
    assert scores["VA"] == pytest.approx(1.0)  # eq. 6: questions 1 and 2 only
    assert scores["VF"] == pytest.approx(1.0)
    assert math.isnan(scores["VP"])  # no VP question: every score is 0


def test_first_and_last_quarter_means_of_a_reward_curve():
    assert first_and_last_mean([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4]) == pytest.approx((0.1, 1.3))
    assert first_and_last_mean([0.5]) == (0.5, 0.5)


def test_a_reward_curve_rising_by_a_known_slope_has_that_trend_and_an_interval_clear_of_zero():
    steps = np.arange(400)
    noise = np.random.default_rng(0).normal(0, 0.05, size=400)
    slope, low, high = trend_per_100_steps(list(1.4 + 0.0001 * steps + noise))  # 0.01 per 100 steps
    assert slope == pytest.approx(0.01, abs=0.003)
    assert 0 < low < slope < high


def test_a_flat_noisy_reward_curve_has_a_trend_interval_that_holds_zero():
    values = list(1.4 + np.random.default_rng(1).normal(0, 0.05, size=400))
    slope, low, high = trend_per_100_steps(values)
    assert low < 0 < high
    assert abs(slope) < 0.01


def test_a_straight_line_has_exactly_its_slope():
    slope, low, high = trend_per_100_steps([2.0 + 0.5 * step for step in range(10)])
    assert slope == pytest.approx(50.0)  # 0.5 per step
    assert low == pytest.approx(50.0) and high == pytest.approx(50.0)
    assert all(math.isnan(value) for value in trend_per_100_steps([1.0, 2.0]))


def test_learning_table_prints_accuracy_with_its_interval_beside_chance(tmp_path):
    result = RecipeResult("descore", "descore", tmp_path, train_seconds=12.0, eval_seconds=1.0,
                          accuracy={"VA": (0.75, 0.5, 1.0, 20)}, notes={"format share": 1.0})
    table = learning_table([result])
    assert "| chance | 0.50 | 0.50 | 0.50 | 0.50 |" in table
    assert "| descore | 0.75 [0.50, 1.00] n=20 | - | - | - | 12 | format share 1.00 |" in table


def test_pooled_accuracy_counts_every_decided_cell_and_resamples_whole_pairs():
    """Pair 1: VA right, VF wrong, VP a gold tie (not counted); pair 2: all three right; pair 3: VA wrong, VF right,
    VP right. 6 of 8 decided cells right. Resampling pairs can only give sums of whole pairs: with every draw
    of pair 2 alone the accuracy is 1, of pair 1 alone 1/2, so the interval lies in [1/2, 1]."""
    rows = [
        {"labels": {"VA": "A", "VF": "B", "VP": "tie"}, "margins": {"VA": 1.0, "VF": 1.0, "VP": 1.0}},
        {"labels": {"VA": "B", "VF": "A", "VP": "A"}, "margins": {"VA": -1.0, "VF": 2.0, "VP": 0.5}},
        {"labels": {"VA": "A", "VF": "A", "VP": "B"}, "margins": {"VA": -1.0, "VF": 1.0, "VP": -3.0}},
    ]
    accuracy, low, high, count = pooled_bootstrap_accuracy(rows, resamples=500)
    assert (accuracy, count) == (0.75, 8)
    assert 0.5 <= low <= accuracy <= high <= 1.0
    assert math.isnan(pooled_bootstrap_accuracy([rows[0] | {"labels": dict.fromkeys(("VA", "VF", "VP"), "tie")}])[0])


def test_tie_answer_share_counts_comparable_answers_on_decided_cells_only():
    """Pair 1: VA decided and answered 0 (a tie answer), VF decided and answered 1, VP a gold tie answered 0 (not
    counted); pair 2: VA decided answered 0, VF decided answered -1, VP decided answered 1. 2 tie answers in 5
    decided cells: 0.4, and a judge guessing A or B on the rest would score (1 - 0.4) / 2 = 0.3."""
    rows = [
        {"labels": {"VA": "A", "VF": "B", "VP": "tie"}, "margins": {"VA": 0, "VF": 1, "VP": 0}},
        {"labels": {"VA": "B", "VF": "B", "VP": "A"}, "margins": {"VA": 0, "VF": -1, "VP": 1}},
    ]
    assert tie_answer_share(rows) == pytest.approx(0.4)
    assert math.isnan(tie_answer_share([rows[0] | {"labels": dict.fromkeys(("VA", "VF", "VP"), "tie")}]))


def test_the_swapped_order_is_scored_in_the_original_frame_so_position_bias_shows():
    """A judge answering "Video A" on VA in both orders: right on the pair whose label is A in the original
    order, wrong there in the swapped order (where it named the original B); the other way round for a B label."""
    rows = [
        {"labels": {"VA": "A"}, "margins": {"VA": 1.0}, "swapped_margins": {"VA": 1.0}},
        {"labels": {"VA": "B"}, "margins": {"VA": 1.0}, "swapped_margins": {"VA": 1.0}},
    ]
    swapped = swapped_order_predictions(rows)
    assert [row["margins"]["VA"] for row in swapped] == [-1.0, -1.0]
    assert [row["labels"] for row in swapped] == [row["labels"] for row in rows]
    assert bootstrap_accuracy(rows, "VA")[0] == 0.5 == bootstrap_accuracy(swapped, "VA")[0]
    assert bootstrap_accuracy(rows[:1], "VA")[0] == 1.0 and bootstrap_accuracy(swapped[:1], "VA")[0] == 0.0


def _answer(video: str, question: str, sub_dimension: str, answer: str, p_yes: float) -> dict:
    return {"video_id": video, "question_id": question, "sub_dimension": sub_dimension, "answer": answer,
            "p_yes": p_yes}


ANSWER_DIMENSIONS = {"Composition": "VA", "Color": "VA", "Camera stability": "VP"}


def test_checklist_answer_accuracy_is_the_mean_of_each_question_s_balanced_accuracy():
    """q1: yes recall 1/1, no recall 1/2 -> 0.75; q2: yes recall 0/1, no recall 1/1 -> 0.5; VA = (0.75 + 0.5) / 2.
    q3 is answered "yes" for every video: it has no no-recall and is left out, so VP has no figure; "all" is VA's
    two questions. An unmapped sub-dimension is ignored."""
    predictions = [
        _answer("v1", "q1", "Composition", "yes", 0.9), _answer("v2", "q1", "Composition", "no", 0.7),
        _answer("v3", "q1", "Composition", "no", 0.2),
        _answer("v1", "q2", "Color", "yes", 0.4), _answer("v2", "q2", "Color", "no", 0.1),
        _answer("v1", "q3", "Camera stability", "yes", 0.9), _answer("v2", "q3", "Camera stability", "yes", 0.9),
        _answer("v1", "q4", "Alignment", "no", 0.9), _answer("v2", "q4", "Alignment", "yes", 0.1),
    ]
    table = checklist_answer_accuracy(predictions, ANSWER_DIMENSIONS, resamples=200)
    assert set(table) == {"VA", "all"}
    accuracy, low, high, rows = table["VA"]
    assert accuracy == pytest.approx(0.625) and rows == 5
    assert 0.0 <= low <= accuracy <= high <= 1.0
    assert table["all"][0] == pytest.approx(0.625)


def test_an_answerer_that_ignores_the_video_scores_one_half_whatever_the_question_s_prior():
    rng = np.random.default_rng(3)
    predictions = []
    for question, (sub_dimension, share_yes, p_yes) in enumerate(
        [("Composition", 0.8, 0.9), ("Color", 0.3, 0.2), ("Camera stability", 0.5, 0.6)]
    ):
        for video in range(40):
            answer = "yes" if rng.random() < share_yes else "no"
            predictions.append(_answer(f"v{video}", f"q{question}", sub_dimension, answer, p_yes))
    for measure in ("balanced accuracy", "auc"):
        table = checklist_answer_accuracy(predictions, ANSWER_DIMENSIONS, measure=measure, resamples=200)
        assert {name: value[0] for name, value in table.items()} == {"VA": 0.5, "VP": 0.5, "all": 0.5}


def test_the_auc_of_a_question_is_the_share_of_yes_no_video_pairs_ranked_the_right_way():
    """q1: yes videos at P(yes) 0.30 and 0.20, no videos at 0.10 and 0.20: of the 4 (yes, no) pairs, 3 are ranked
    right and one ties -> 3.5 / 4; no answer crosses 0.5, so the balanced accuracy stays 0.5. q2 is ranked backwards
    (AUC 0): VA = (0.875 + 0) / 2."""
    predictions = [
        _answer("v1", "q1", "Composition", "yes", 0.30), _answer("v2", "q1", "Composition", "yes", 0.20),
        _answer("v3", "q1", "Composition", "no", 0.10), _answer("v4", "q1", "Composition", "no", 0.20),
        _answer("v1", "q2", "Color", "yes", 0.1), _answer("v2", "q2", "Color", "no", 0.3),
    ]
    auc = checklist_answer_accuracy(predictions[:4], ANSWER_DIMENSIONS, measure="auc", resamples=100)
    assert auc["VA"][0] == pytest.approx(0.875)
    assert checklist_answer_accuracy(predictions[:4], ANSWER_DIMENSIONS, resamples=100)["VA"][0] == 0.5
    assert checklist_answer_accuracy(predictions, ANSWER_DIMENSIONS, measure="auc", resamples=100)["VA"][0] == (
        pytest.approx(0.4375))
