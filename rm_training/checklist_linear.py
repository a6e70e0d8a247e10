"""VisionReward checklist regression (seed 003): eq. 4-6, Algorithm 1 and MPO dominance pair selection.

A video is a vector of binary checklist answers ``x`` (1 yes, 0 no; "not applicable" and missing
answers count as 0, i.e. "not a yes"). ONE weight vector ``w`` is learnt from the overall preference of
human-labelled pairs by logistic regression on answer differences ``dx = x_a - x_b`` (eq. 5) with
iterative negative-weight masking (Algorithm 1). The reward of a video is ``R = w . x`` (eq. 4) and a
checklist dimension's reward sums its own questions only: ``R(dim_k) = sum_{i in dim_k} w_i x_i`` (eq. 6).

Algorithm 1 as printed (per-pair SGD, then mask) does not converge at a fixed learning rate, and its
result depends on the visiting order. The default solver keeps its loop (a step, then ``w <- w * (w > 0)``,
until ``||w - w_old|| <= tolerance``) but makes the step a full-batch Newton step on the logistic loss
with a backtracking line search along the masked path: the same fixed point (the logistic regression
constrained to non-negative weights), reached in a handful of iterations, independent of any seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rm_training.rubric import overall_label

LABEL_TO_TARGET = {"A": 1.0, "B": 0.0}
SOLVERS = ("newton", "sgd")
OVERALL = "overall"


@dataclass
class MaskedRegressionResult:
    weights: np.ndarray
    epochs: int
    converged: bool
    masked_history: list[list[int]] = field(default_factory=list)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))


def _log_loss(differences: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> float:
    logits = differences @ weights
    # log(1 + exp(-z)) for y = 1 and log(1 + exp(z)) for y = 0, computed stably
    return float(np.mean(np.logaddexp(0.0, np.where(targets > 0.5, -logits, logits))))


def _penalised_loss(differences: np.ndarray, targets: np.ndarray, weights: np.ndarray, l2: float) -> float:
    return _log_loss(differences, targets, weights) + 0.5 * l2 * float(weights @ weights)


def _sgd_epoch(differences, targets, weights, rng, learning_rate: float, batch_size: int) -> np.ndarray:
    """Algorithm 1, lines 5-10: one pass over the pairs in a random order (``batch_size`` 1: per pair)."""
    order = rng.permutation(differences.shape[0])
    differences, targets = differences[order], targets[order]
    weights = weights.copy()
    if batch_size == 1:  # the paper's update, with as few numpy calls per pair as possible (it is a Python loop)
        for row, target in zip(differences, targets.tolist(), strict=True):
            prediction = 0.5 * (1.0 + math.tanh(0.5 * float(row @ weights)))
            weights -= (learning_rate * (prediction - target)) * row
        return weights
    for start in range(0, len(order), batch_size):
        batch = slice(start, start + batch_size)
        predictions = _sigmoid(differences[batch] @ weights)
        gradient = (predictions - targets[batch]) @ differences[batch] / len(predictions)
        weights -= learning_rate * gradient
    return weights


def _newton_step(
    differences: np.ndarray, targets: np.ndarray, weights: np.ndarray, l2: float, nonnegative: bool
) -> np.ndarray:
    """One projected Newton step on the mean log-loss plus ``l2 / 2 * ||w||^2``, before the mask.

    The step moves the free weights only: those above zero and those at zero that the gradient pushes up
    (the others would be masked straight back). The step length halves until the masked point lowers the loss
    by Armijo's rule, so every iteration lowers the loss and the loop cannot oscillate. Without ``nonnegative``
    (no mask) every weight is free: a plain damped Newton step."""
    count = differences.shape[0]
    probabilities = _sigmoid(differences @ weights)
    gradient = differences.T @ (probabilities - targets) / count + l2 * weights
    free = (weights > 0) | (gradient < 0) if nonnegative else np.ones_like(weights, dtype=bool)
    if not free.any():
        return weights
    columns = differences[:, free]
    curvature = probabilities * (1.0 - probabilities)
    hessian = (columns * curvature[:, None]).T @ columns / count + max(l2, 1e-10) * np.eye(int(free.sum()))
    direction = np.zeros_like(weights)
    direction[free] = np.linalg.solve(hessian, gradient[free])
    start = _penalised_loss(differences, targets, weights, l2)
    step = 1.0
    while True:
        candidate = weights - step * direction
        masked = candidate * (candidate > 0) if nonnegative else candidate
        if _penalised_loss(differences, targets, masked, l2) <= start + 1e-4 * gradient @ (masked - weights):
            return candidate
        step *= 0.5
        if step < 1e-12:
            return weights


def fit_masked_logistic_regression(
    answer_differences: np.ndarray,
    targets: np.ndarray,
    solver: str = "newton",
    learning_rate: float = 0.05,
    tolerance: float = 1e-6,
    max_epochs: int = 200,
    batch_size: int = 1,
    l2: float = 1e-4,
    seed: int = 0,
    mask_negative: bool = True,
    on_epoch: Callable[[int, Callable[[], float]], None] | None = None,
) -> MaskedRegressionResult:
    """Algorithm 1 of VisionReward: a step, then the mask ``w <- w * (w > 0)``, until ``||w - w_old|| <= tolerance``.

    ``answer_differences``: ``(num_pairs, num_questions)`` values ``x_a - x_b`` in {-1, 0, 1};
    ``targets``: ``(num_pairs,)`` with 1 when A is preferred, 0 when B is. Weights start at zero.
    ``solver`` "newton" (default): the step is a full-batch projected Newton step with line search on the mean
    log-loss plus ``l2 / 2 * ||w||^2`` (``learning_rate``, ``batch_size`` and ``seed`` are unused).
    ``solver`` "sgd": the step is the paper's epoch of per-pair updates ``w <- w - lr * (sigmoid(dx . w) - y) dx``
    in a seeded random order (``batch_size`` > 1 averages mini-batches; ``l2`` is unused).
    ``tolerance`` 0 never stops early (the loop runs ``max_epochs``).
    ``masked_history[e]`` lists the question indices zeroed by the mask at epoch ``e``.
    ``on_epoch(epoch, loss)`` is called after each epoch; ``loss()`` computes the mean log-loss on demand.
    """
    differences = np.asarray(answer_differences, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if differences.ndim != 2 or targets.shape != (differences.shape[0],):
        raise ValueError("answer_differences must be (num_pairs, num_questions) and targets (num_pairs,)")
    if differences.shape[0] == 0:
        raise ValueError("no labelled pairs to fit")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {', '.join(SOLVERS)}")
    rng = np.random.default_rng(seed)
    weights = np.zeros(differences.shape[1])
    history: list[list[int]] = []
    for epoch in range(1, max_epochs + 1):
        previous = weights.copy()
        if solver == "newton":
            weights = _newton_step(differences, targets, weights, l2, mask_negative)
        else:
            weights = _sgd_epoch(differences, targets, weights, rng, learning_rate, batch_size)
        if mask_negative:
            history.append([int(index) for index in np.flatnonzero(weights < 0)])
            weights = weights * (weights > 0)
        if on_epoch is not None:
            on_epoch(epoch, lambda w=weights: _log_loss(differences, targets, w))
        if tolerance > 0 and np.linalg.norm(weights - previous) <= tolerance:
            return MaskedRegressionResult(weights, epoch, True, history)
    return MaskedRegressionResult(weights, max_epochs, False, history)


def question_ids_of(rows: list[dict]) -> list[str]:
    """Sorted union of the checklist question ids of every row (both videos)."""
    ids: set[str] = set()
    for row in rows:
        ids.update(str(key) for key in (row.get("checklist_a") or {}))
        ids.update(str(key) for key in (row.get("checklist_b") or {}))
    return sorted(ids, key=lambda value: (len(value), value))


def question_dimensions_of(manifest: dict) -> dict[str, str]:
    """Question id -> checklist dimension, from the manifest's ``checklist.questions`` (empty when absent)."""
    questions = (manifest.get("checklist") or {}).get("questions") or []
    return {str(question["id"]): str(question["dimension"]) for question in questions}


def answer_vector(checklist: dict | None, question_ids: list[str]) -> np.ndarray:
    """1 for a "yes", 0 for "no", null (not applicable / missing) or an absent question."""
    checklist = {str(key): value for key, value in (checklist or {}).items()}
    return np.array([1.0 if checklist.get(qid) == 1 else 0.0 for qid in question_ids])


def pair_label(row: dict) -> str:
    """The overall preference of an aesrm-pairwise row, by the one rule of :func:`rm_training.rubric.overall_label`."""
    return overall_label(row["labels"], row.get("severe"))


@dataclass
class ChecklistRewardModel:
    """One weight per checklist question (eq. 4) and the dimension each question belongs to (eq. 6).

    ``score`` gives ``R(dim_k)`` for every checklist dimension and ``"overall"``, the whole ``R``; questions of no
    known dimension count in ``"overall"`` only."""

    question_ids: list[str]
    weights: list[float]
    question_dimensions: dict[str, str] = field(default_factory=dict)

    @property
    def dimensions(self) -> list[str]:
        """The checklist dimensions, in the order their first question appears."""
        known = [self.question_dimensions[q] for q in self.question_ids if q in self.question_dimensions]
        return list(dict.fromkeys(known))

    def score(self, checklist: dict | None) -> dict[str, float]:
        contributions = answer_vector(checklist, self.question_ids) * np.asarray(self.weights, dtype=np.float64)
        scores = dict.fromkeys(self.dimensions, 0.0)
        for qid, value in zip(self.question_ids, contributions, strict=True):
            if qid in self.question_dimensions:
                scores[self.question_dimensions[qid]] += float(value)
        scores[OVERALL] = float(contributions.sum())
        return scores

    def save(self, path: Path) -> None:
        data = {"question_ids": self.question_ids, "weights": self.weights,
                "question_dimensions": self.question_dimensions}
        path.write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, path: Path) -> ChecklistRewardModel:
        data = json.loads(Path(path).read_text())
        weights = data["weights"]
        if isinstance(weights, dict):
            # written before eq. 6: one regression per rubric dimension; its overall fit is the eq. 4 weights
            if OVERALL not in weights:
                raise ValueError(f"{path} has no overall weights; retrain this checklist-linear run")
            weights = weights[OVERALL]
        return cls(data["question_ids"], [float(w) for w in weights], dict(data.get("question_dimensions") or {}))


def pair_design(rows: list[dict], question_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Answer differences and 0/1 overall targets of the rows whose overall preference is not a tie."""
    differences, targets = [], []
    for row in rows:
        label = pair_label(row)
        if label not in LABEL_TO_TARGET:
            continue
        answers_a = answer_vector(row.get("checklist_a"), question_ids)
        differences.append(answers_a - answer_vector(row.get("checklist_b"), question_ids))
        targets.append(LABEL_TO_TARGET[label])
    width = len(question_ids)
    return np.asarray(differences, dtype=np.float64).reshape(-1, width), np.asarray(targets)


def fit_checklist_reward_model(
    rows: list[dict], question_dimensions: dict[str, str] | None = None, on_epoch=None, **fit_options
) -> tuple[ChecklistRewardModel, MaskedRegressionResult]:
    """Fit the one weight vector on the overall preference of aesrm-pairwise rows (ties left out).

    ``question_dimensions`` (question id -> checklist dimension, e.g. :func:`question_dimensions_of` the export's
    manifest) gives the per-dimension scores of eq. 6. ``on_epoch(epoch, loss)`` follows each epoch."""
    question_ids = question_ids_of(rows)
    if not question_ids:
        raise ValueError("the rows carry no checklist answers (checklist_a / checklist_b are empty)")
    differences, targets = pair_design(rows, question_ids)
    if len(targets) == 0:
        raise ValueError("no pair has an overall preference (every pair is a tie overall)")
    result = fit_masked_logistic_regression(differences, targets, on_epoch=on_epoch, **fit_options)
    known = {qid: dimension for qid, dimension in (question_dimensions or {}).items() if qid in question_ids}
    return ChecklistRewardModel(question_ids, [float(w) for w in result.weights], known), result


def predicted_label(score_a: float, score_b: float, tie_margin: float = 0.0) -> str:
    difference = score_a - score_b
    if abs(difference) <= tie_margin:
        return "tie"
    return "A" if difference > 0 else "B"


def weight_table_markdown(model: ChecklistRewardModel) -> str:
    """One row per question: its dimension and weight (masked weights show as 0)."""
    lines = ["| question | dimension | weight |", "|---|---|---|"]
    for qid, weight in zip(model.question_ids, model.weights, strict=True):
        lines.append(f"| {qid} | {model.question_dimensions.get(qid, '—')} | {weight:.4f} |")
    return "\n".join(lines) + "\n"


def dominating_side(scores_a: dict[str, float], scores_b: dict[str, float], dimensions: list[str],
                    total_threshold: float) -> str | None:
    """MPO (seed 003, sec. 3.3 and 4.3): "A" when A's reward is >= B's in every dimension (ties allowed) and A's
    total reward exceeds B's by at least ``total_threshold`` (and by more than 0, so some dimension is strictly
    better); "B" the other way round; None otherwise. A pair equal everywhere has no side: it is no preference
    pair (the paper's ">=" alone would let each side dominate the other; its total-score threshold drops it)."""
    total = scores_a[OVERALL] - scores_b[OVERALL]
    margins = [scores_a[d] - scores_b[d] for d in dimensions]
    if all(m >= 0 for m in margins) and total > 0 and total >= total_threshold:
        return "A"
    if all(m <= 0 for m in margins) and -total > 0 and -total >= total_threshold:
        return "B"
    return None


def mpo_select(rows: list[dict], model: ChecklistRewardModel, total_threshold: float = 0.6) -> list[dict]:
    """MPO dominance pairs over the model's checklist dimensions (see :func:`dominating_side`).

    Rows come out in the preference-pairs shape with ``dimension`` "overall"."""
    dimensions = model.dimensions
    if not dimensions:
        raise ValueError("the model knows no checklist dimension of its questions (the export's manifest has no "
                         "checklist.questions); MPO needs per-dimension scores")
    selected = []
    for row in rows:
        score_a = model.score(row.get("checklist_a"))
        score_b = model.score(row.get("checklist_b"))
        side = dominating_side(score_a, score_b, dimensions, total_threshold)
        if side is None:
            continue
        a_dominates = side == "A"
        selected.append(
            {
                "pair_id": row["pair_id"],
                "dimension": OVERALL,
                "prompt": row.get("prompt", ""),
                "chosen": row["video_a"] if a_dominates else row["video_b"],
                "rejected": row["video_b"] if a_dominates else row["video_a"],
                "chosen_is_a": a_dominates,
                "agreement": row.get("agreement"),
                "margins": {d: score_a[d] - score_b[d] for d in (*dimensions, OVERALL)},
            }
        )
    return selected
