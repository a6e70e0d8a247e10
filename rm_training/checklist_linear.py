"""VisionReward checklist regression (seed 003, Algorithm 1) and MPO dominance pair selection.

A video is a vector of binary checklist answers ``x`` (1 yes, 0 no; "not applicable" and missing
answers count as 0, i.e. "not a yes"). A dimension reward is ``R_d(x) = w_d . x`` (eq. 6). The weights
come from logistic regression on answer differences ``dx = x_a - x_b`` of human-labelled pairs with
iterative negative-weight masking (Algorithm 1): SGD over the pairs, then ``w <- w * (w > 0)``, until
the weights move less than ``tolerance`` in one epoch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rm_training.parsing import DIMENSIONS

LABEL_TO_TARGET = {"A": 1.0, "B": 0.0}


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


def fit_masked_logistic_regression(
    answer_differences: np.ndarray,
    targets: np.ndarray,
    learning_rate: float = 0.05,
    tolerance: float = 1e-4,
    max_epochs: int = 500,
    batch_size: int = 1,
    seed: int = 0,
    mask_negative: bool = True,
    on_epoch: Callable[[int, Callable[[], float]], None] | None = None,
) -> MaskedRegressionResult:
    """Algorithm 1 of VisionReward.

    ``answer_differences``: ``(num_pairs, num_questions)`` values ``x_a - x_b`` in {-1, 0, 1};
    ``targets``: ``(num_pairs,)`` with 1 when A is preferred, 0 when B is. Starting from zero
    weights, each epoch visits the pairs in a seeded random order and updates
    ``w <- w - lr * (sigmoid(dx . w) - y) dx`` (``batch_size`` 1 is the paper's per-pair update;
    larger values average the gradient over mini-batches), then masks negative weights to zero.
    ``masked_history[e]`` lists the question indices zeroed by the mask at epoch ``e``.
    ``on_epoch(epoch, loss)`` is called after each epoch; ``loss()`` computes the mean log-loss on demand.
    """
    differences = np.asarray(answer_differences, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if differences.ndim != 2 or targets.shape != (differences.shape[0],):
        raise ValueError("answer_differences must be (num_pairs, num_questions) and targets (num_pairs,)")
    if differences.shape[0] == 0:
        raise ValueError("no labelled pairs to fit")
    rng = np.random.default_rng(seed)
    weights = np.zeros(differences.shape[1])
    history: list[list[int]] = []
    for epoch in range(1, max_epochs + 1):
        previous = weights.copy()
        order = rng.permutation(differences.shape[0])
        for start in range(0, len(order), batch_size):
            batch = order[start: start + batch_size]
            predictions = _sigmoid(differences[batch] @ weights)
            gradient = (predictions - targets[batch]) @ differences[batch] / len(batch)
            weights = weights - learning_rate * gradient
        if mask_negative:
            history.append([int(index) for index in np.flatnonzero(weights < 0)])
            weights = weights * (weights > 0)
        if on_epoch is not None:
            on_epoch(epoch, lambda w=weights: _log_loss(differences, targets, w))
        if np.linalg.norm(weights - previous) <= tolerance:
            return MaskedRegressionResult(weights, epoch, True, history)
    return MaskedRegressionResult(weights, max_epochs, False, history)


def question_ids_of(rows: list[dict]) -> list[str]:
    """Sorted union of the checklist question ids of every row (both videos)."""
    ids: set[str] = set()
    for row in rows:
        ids.update(str(key) for key in (row.get("checklist_a") or {}))
        ids.update(str(key) for key in (row.get("checklist_b") or {}))
    return sorted(ids, key=lambda value: (len(value), value))


def answer_vector(checklist: dict | None, question_ids: list[str]) -> np.ndarray:
    """1 for a "yes", 0 for "no", null (not applicable / missing) or an absent question."""
    checklist = {str(key): value for key, value in (checklist or {}).items()}
    return np.array([1.0 if checklist.get(qid) == 1 else 0.0 for qid in question_ids])


def overall_label(labels: dict[str, str]) -> str:
    """The side that wins more of VA/VF/VP; equal counts are a tie."""
    wins_a = sum(labels.get(d) == "A" for d in DIMENSIONS)
    wins_b = sum(labels.get(d) == "B" for d in DIMENSIONS)
    return "A" if wins_a > wins_b else "B" if wins_b > wins_a else "tie"


@dataclass
class ChecklistRewardModel:
    """Per-dimension linear weights over checklist questions."""

    question_ids: list[str]
    weights: dict[str, list[float]]

    def score(self, checklist: dict | None) -> dict[str, float]:
        vector = answer_vector(checklist, self.question_ids)
        return {name: float(vector @ np.asarray(w)) for name, w in self.weights.items()}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"question_ids": self.question_ids, "weights": self.weights}, indent=2))

    @classmethod
    def load(cls, path: Path) -> ChecklistRewardModel:
        data = json.loads(Path(path).read_text())
        return cls(question_ids=data["question_ids"], weights=data["weights"])


def pair_design(rows: list[dict], question_ids: list[str], target: str) -> tuple[np.ndarray, np.ndarray]:
    """Answer differences and 0/1 targets for the rows whose ``target`` label is not a tie.

    ``target`` is a dimension code or ``"overall"`` (see :func:`overall_label`).
    """
    differences, targets = [], []
    for row in rows:
        label = overall_label(row["labels"]) if target == "overall" else row["labels"][target]
        if label not in LABEL_TO_TARGET:
            continue
        answers_a = answer_vector(row.get("checklist_a"), question_ids)
        differences.append(answers_a - answer_vector(row.get("checklist_b"), question_ids))
        targets.append(LABEL_TO_TARGET[label])
    width = len(question_ids)
    return np.asarray(differences, dtype=np.float64).reshape(-1, width), np.asarray(targets)


CHECKLIST_TARGETS: tuple[str, ...] = (*DIMENSIONS, "overall")


def fit_checklist_reward_model(
    rows: list[dict], targets: tuple[str, ...] = CHECKLIST_TARGETS, on_epoch=None, **fit_options
) -> tuple[ChecklistRewardModel, dict[str, MaskedRegressionResult]]:
    """Fit one masked logistic regression per target dimension on aesrm-pairwise rows.

    ``on_epoch(target, epoch, loss)`` follows each epoch of each target's fit (see
    :func:`fit_masked_logistic_regression`)."""
    question_ids = question_ids_of(rows)
    if not question_ids:
        raise ValueError("the rows carry no checklist answers (checklist_a / checklist_b are empty)")
    weights, results = {}, {}
    for name in targets:
        differences, labels = pair_design(rows, question_ids, name)
        if len(labels) == 0:
            continue
        report = (lambda epoch, loss, name=name: on_epoch(name, epoch, loss)) if on_epoch else None
        result = fit_masked_logistic_regression(differences, labels, on_epoch=report, **fit_options)
        weights[name] = [float(value) for value in result.weights]
        results[name] = result
    return ChecklistRewardModel(question_ids, weights), results


def predicted_label(score_a: float, score_b: float, tie_margin: float = 0.0) -> str:
    difference = score_a - score_b
    if abs(difference) <= tie_margin:
        return "tie"
    return "A" if difference > 0 else "B"


def weight_table_markdown(model: ChecklistRewardModel) -> str:
    """Questions as rows, dimensions as columns; masked (zero) weights shown as 0."""
    names = list(model.weights)
    lines = ["| question | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for index, qid in enumerate(model.question_ids):
        cells = [f"{model.weights[name][index]:.4f}" for name in names]
        lines.append(f"| {qid} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def mpo_select(
    rows: list[dict], model: ChecklistRewardModel, dimensions: tuple[str, ...] = DIMENSIONS, min_margin: float = 0.0
) -> list[dict]:
    """MPO dominance pairs (seed 003, sec. 3.3): keep a pair when one video's reward is >= the
    other's in every dimension and strictly greater (by more than ``min_margin``) in at least one.

    Rows come out in the preference-pairs shape with ``dimension`` "overall".
    """
    selected = []
    for row in rows:
        score_a = model.score(row.get("checklist_a"))
        score_b = model.score(row.get("checklist_b"))
        margins = {d: score_a[d] - score_b[d] for d in dimensions}
        a_dominates = all(m >= 0 for m in margins.values()) and any(m > min_margin for m in margins.values())
        b_dominates = all(m <= 0 for m in margins.values()) and any(-m > min_margin for m in margins.values())
        if not (a_dominates or b_dominates):
            continue
        selected.append(
            {
                "pair_id": row["pair_id"],
                "dimension": "overall",
                "prompt": row.get("prompt", ""),
                "chosen": row["video_a"] if a_dominates else row["video_b"],
                "rejected": row["video_b"] if a_dominates else row["video_a"],
                "chosen_is_a": a_dominates,
                "agreement": row.get("agreement"),
                "margins": margins,
            }
        )
    return selected
