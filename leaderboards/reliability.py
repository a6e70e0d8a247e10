"""Annotator reliability by Dawid-Skene (crowd-kit), without Django.

Dawid-Skene estimates, from the labels alone, each annotator's confusion matrix (how often they answer k when the
truth is l) and each item's true label, by EM. An annotator's reliability here is their expected accuracy under
that model: the sum over true labels l of P(truth = l) * P(they answer l | truth = l). The weight their raw
judgments get in a reliability-weighted leaderboard is that accuracy above chance, rescaled to [0, 1]:
max(0, (accuracy - 1/K) / (1 - 1/K)) with K labels, so an annotator no better than chance (or an adversarial one,
below it) counts for nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene

VERDICT_LABELS = (-1, 0, 1)
DEFAULT_ITERATIONS = 100


@dataclass(frozen=True, slots=True)
class AnnotatorReliability:
    annotator: Hashable
    accuracy: float  # expected accuracy under the Dawid-Skene model
    weight: float  # accuracy above chance, rescaled to [0, 1]
    n_labels: int


@dataclass(frozen=True, slots=True)
class DawidSkeneResult:
    annotators: dict[Hashable, AnnotatorReliability]
    labels: dict[Hashable, int]  # item -> most probable true label


def weight_from_accuracy(accuracy: float, n_classes: int = len(VERDICT_LABELS)) -> float:
    chance = 1 / n_classes
    above_chance = accuracy - chance
    # Rounding must not turn an accuracy of exactly chance into a tiny positive weight.
    return 0.0 if above_chance <= 1e-9 else above_chance / (1 - chance)


def _frame(labels: Iterable[tuple[Hashable, Hashable, int]]) -> pd.DataFrame:
    # Column by column: pandas builds a frame from a list of row tuples ten times slower (1.1 s for 540k labels).
    rows = list(labels)
    return pd.DataFrame(
        {"task": [row[0] for row in rows], "worker": [row[1] for row in rows], "label": [row[2] for row in rows]}
    )


def dawid_skene(
    labels: Iterable[tuple[Hashable, Hashable, int]],
    *,
    classes: tuple[int, ...] = VERDICT_LABELS,
    n_iterations: int = DEFAULT_ITERATIONS,
) -> DawidSkeneResult:
    """labels: (item, annotator, label) triples. Annotators with no label are absent from the result."""
    return _dawid_skene_fit(_frame(labels), classes=classes, n_iterations=n_iterations)


def dawid_skene_of_ratings(
    ratings: np.ndarray,
    raters: list[Hashable],
    *,
    values: tuple[int, ...] = VERDICT_LABELS,
    n_iterations: int = DEFAULT_ITERATIONS,
) -> dict[Hashable, AnnotatorReliability]:
    """Each rater's reliability from a (raters, items, variables) array of indexes into `values` (NaN: not rated),
    every (item, variable) one task: the all-code model, from arrays a caller already holds (the agreement
    dashboard's verdicts) instead of (item, annotator, label) triples built from the judgments again."""
    rater, item, variable = np.nonzero(~np.isnan(ratings))
    frame = pd.DataFrame(
        {
            "task": item * ratings.shape[2] + variable,
            "worker": np.asarray(raters, dtype=object)[rater],
            "label": np.asarray(values)[ratings[rater, item, variable].astype(np.int64)],
        }
    )
    return _dawid_skene_fit(frame, classes=values, n_iterations=n_iterations).annotators


def _dawid_skene_fit(frame: pd.DataFrame, *, classes: tuple[int, ...], n_iterations: int) -> DawidSkeneResult:
    if frame.empty:
        return DawidSkeneResult(annotators={}, labels={})
    with warnings.catch_warnings():
        # crowd-kit 1.4.2 still passes pandas keywords pandas 3 deprecates (copy=, inplace=): noise, not our code.
        warnings.filterwarnings("ignore", module="crowdkit")
        # crowd-kit groups the labels by task at every EM step: integer codes instead of the callers' keys ((pair,
        # code) tuples for the dashboard's all-code model) fit 540k labels in 1.7 s instead of 8.8 s, same result.
        task_codes, tasks = pd.factorize(frame["task"])
        model = DawidSkene(n_iter=n_iterations).fit(frame.assign(task=task_codes))
    errors, priors = model.errors_, model.priors_
    counts = frame.groupby("worker").size()
    annotators = {}
    for worker in counts.index:
        accuracy = 0.0
        for label in priors.index:
            # errors_.loc[(worker, observed), truth]; a label the worker never gave has no row: probability ~0.
            if (worker, label) in errors.index:
                accuracy += float(priors[label]) * float(errors.loc[(worker, label), label])
        annotators[worker] = AnnotatorReliability(
            annotator=worker,
            accuracy=accuracy,
            weight=weight_from_accuracy(accuracy, len(classes)),
            n_labels=int(counts[worker]),
        )
    tasks = list(tasks)
    return DawidSkeneResult(
        annotators=annotators, labels={tasks[code]: int(value) for code, value in model.labels_.items()}
    )
