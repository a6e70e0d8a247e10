"""Evaluation metrics on predictions: tie-aware accuracy, per-criterion accuracy, position bias,
PLCC / SRCC. Pure functions over plain lists; :func:`evaluate_predictions` assembles metrics.json.

A prediction row: ``{"pair_id", "labels": gold {VA: "A"|"B"|"tie"}, "margins": {VA: float},
"swapped_margins": {VA: float} (same pair with A/B exchanged, optional),
"criteria": gold {VA1: int} (optional), "predicted_criteria": {VA1: int} (optional)}``.
A margin > 0 means the model prefers A; generative models give margins in {1, -1, 0}.
"""

from __future__ import annotations

import math

import numpy as np

from rm_training.parsing import DIMENSIONS

LABELS = ("A", "B", "tie")


def verdict_from_margin(margin: float, epsilon: float = 0.0) -> str:
    if abs(margin) <= epsilon:
        return "tie"
    return "A" if margin > 0 else "B"


def accuracy_without_ties(margins: list[float], gold: list[str]) -> float | None:
    """Accuracy on the pairs whose gold label is not a tie; a zero margin counts as wrong."""
    pairs = [(m, g) for m, g in zip(margins, gold, strict=True) if g != "tie"]
    if not pairs:
        return None
    return sum(verdict_from_margin(m) == g for m, g in pairs) / len(pairs)


def tie_calibrated_accuracy(margins: list[float], gold: list[str]) -> tuple[float | None, float]:
    """Deutsch et al. (2023) pairwise accuracy with tie calibration.

    Predict "tie" when ``|margin| <= epsilon``; epsilon is chosen among 0 and the observed
    ``|margin|`` values to maximise three-way accuracy over all pairs (ties included). Among equally
    good thresholds the smallest wins. Returns ``(accuracy, epsilon)``.
    """
    if not margins:
        return None, 0.0
    candidates = sorted({0.0, *(abs(float(m)) for m in margins)})
    best_accuracy, best_epsilon = -1.0, 0.0
    for epsilon in candidates:
        accuracy = sum(verdict_from_margin(m, epsilon) == g for m, g in zip(margins, gold, strict=True)) / len(margins)
        if accuracy > best_accuracy + 1e-12:
            best_accuracy, best_epsilon = accuracy, epsilon
    return best_accuracy, best_epsilon


def confusion_matrix(predicted: list[str], gold: list[str]) -> list[list[int]]:
    """Rows gold, columns predicted, in the order A, B, tie."""
    matrix = [[0] * 3 for _ in LABELS]
    for p, g in zip(predicted, gold, strict=True):
        matrix[LABELS.index(g)][LABELS.index(p)] += 1
    return matrix


def position_bias(margins: list[float], swapped_margins: list[float]) -> dict[str, float | None]:
    """Position-bias figures from each pair judged in both orders.

    ``swap_consistency``: share of pairs whose verdict flips consistently when A and B are swapped
    (A -> B, B -> A, tie -> tie). ``position_bias`` = 1 - swap_consistency.
    ``left_preference_rate``: share of non-tie verdicts, over both orders, that pick the left video A
    (0.5 for a model without position preference).
    """
    if not margins:
        return {"swap_consistency": None, "position_bias": None, "left_preference_rate": None}
    flip = {"A": "B", "B": "A", "tie": "tie"}
    consistent = sum(
        flip[verdict_from_margin(m)] == verdict_from_margin(s) for m, s in zip(margins, swapped_margins, strict=True)
    )
    verdicts = [verdict_from_margin(m) for m in (*margins, *swapped_margins)]
    decided = [v for v in verdicts if v != "tie"]
    consistency = consistent / len(margins)
    return {
        "swap_consistency": consistency,
        "position_bias": 1 - consistency,
        "left_preference_rate": (sum(v == "A" for v in decided) / len(decided)) if decided else None,
    }


def per_criterion_accuracy(rows: list[dict]) -> dict[str, float]:
    """Share of pairs where the predicted criterion verdict equals the gold one, per criterion.

    A criterion missing from the prediction counts as wrong.
    """
    correct: dict[str, int] = {}
    total: dict[str, int] = {}
    for row in rows:
        predicted = row.get("predicted_criteria")
        if predicted is None:
            continue
        for code, label in (row.get("criteria") or {}).items():
            total[code] = total.get(code, 0) + 1
            correct[code] = correct.get(code, 0) + int(predicted.get(code) == int(label))
    return {code: correct[code] / total[code] for code in sorted(total)}


def pearson_spearman(predicted: list[float], target: list[float]) -> dict[str, float | None]:
    """PLCC and SRCC (None when fewer than two items or a constant series)."""
    from scipy import stats

    if len(predicted) < 2 or np.std(predicted) == 0 or np.std(target) == 0:
        return {"plcc": None, "srcc": None}
    plcc = float(stats.pearsonr(predicted, target).statistic)
    srcc = float(stats.spearmanr(predicted, target).statistic)
    return {"plcc": plcc if math.isfinite(plcc) else None, "srcc": srcc if math.isfinite(srcc) else None}


def unparsable_score_stand_in(target: float) -> float:
    """The score an unreadable answer counts as: the end of [0, 1] farthest from the target (1.0 below
    0.5, else 0.0), the worst answer the model could have given, so failing to answer never helps."""
    return 1.0 if target < 0.5 else 0.0


def score_correlations(predicted: list[float | None], targets: list[float]) -> dict:
    """PLCC / SRCC of single-video scores, unreadable answers (``None``) counted, not dropped.

    Each ``None`` is replaced by :func:`unparsable_score_stand_in` of its target before the
    correlations; dropping those videos would score the model only where it answered and flatter it.
    Returns ``plcc``, ``srcc`` (over every video), ``parse_failure_rate``, ``num_unparsable`` and, for
    diagnosis only, ``plcc_parsed_only`` / ``srcc_parsed_only`` over the readable answers.
    """
    if len(predicted) != len(targets):
        raise ValueError("predicted and targets must have the same length")
    counted = [unparsable_score_stand_in(t) if p is None else p for p, t in zip(predicted, targets, strict=True)]
    readable = [(p, t) for p, t in zip(predicted, targets, strict=True) if p is not None]
    parsed_only = pearson_spearman([p for p, _ in readable], [t for _, t in readable])
    failures = len(predicted) - len(readable)
    return {
        **pearson_spearman(counted, targets),
        "parse_failure_rate": failures / len(predicted) if predicted else None,
        "num_unparsable": failures,
        "plcc_parsed_only": parsed_only["plcc"],
        "srcc_parsed_only": parsed_only["srcc"],
    }


def calibration_bins(margins: list[float], gold: list[str], bins: int = 5) -> list[dict]:
    """Reliability table for decided pairs: ``P(A) = sigmoid(margin)`` binned in ``bins`` equal
    slices of [0, 1]; per non-empty bin the mean predicted P(A), the observed share of A wins and
    the count (a well-calibrated Bradley-Terry scorer has the two close)."""
    table: list[dict] = []
    decided = [(1 / (1 + math.exp(-m)), g == "A") for m, g in zip(margins, gold, strict=True) if g != "tie"]
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        members = [(p, won) for p, won in decided if low <= p < high or (index == bins - 1 and p == 1.0)]
        if members:
            table.append({
                "bin": [low, high],
                "mean_predicted": sum(p for p, _ in members) / len(members),
                "observed": sum(won for _, won in members) / len(members),
                "count": len(members),
            })
    return table


def _raw_accuracy(margins: list[float], gold: list[str]) -> float | None:
    """Three-way accuracy with epsilon 0 (only an exact zero margin is a tie)."""
    if not gold:
        return None
    return sum(verdict_from_margin(m) == g for m, g in zip(margins, gold, strict=True)) / len(gold)


def evaluate_predictions(rows: list[dict], dimensions: tuple[str, ...] = DIMENSIONS) -> dict:
    """metrics.json content for pairwise predictions."""
    metrics: dict = {"num_pairs": len(rows), "dimensions": {}}
    for dimension in dimensions:
        if not all(dimension in row["margins"] for row in rows):
            # e.g. a checklist model whose training split had no decided pair on this dimension
            metrics["dimensions"][dimension] = {"not_evaluated": "the model gives no score for this dimension"}
            continue
        gold = [row["labels"][dimension] for row in rows]
        margins = [float(row["margins"][dimension]) for row in rows]
        calibrated, epsilon = tie_calibrated_accuracy(margins, gold)
        entry = {
            "accuracy_without_ties": accuracy_without_ties(margins, gold),
            "accuracy_with_ties": calibrated,
            "tie_epsilon": epsilon,
            "accuracy_raw_three_way": _raw_accuracy(margins, gold),
            "confusion_matrix": confusion_matrix([verdict_from_margin(m, epsilon) for m in margins], gold),
            "calibration": calibration_bins(margins, gold),
        }
        if all("swapped_margins" in row for row in rows):
            entry.update(position_bias(margins, [float(row["swapped_margins"][dimension]) for row in rows]))
        metrics["dimensions"][dimension] = entry
    criteria = per_criterion_accuracy(rows)
    if criteria:
        metrics["criteria_accuracy"] = criteria
    return metrics
