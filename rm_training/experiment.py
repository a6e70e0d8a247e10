"""Does a recipe learn? Train and evaluate runs through the public command line and read what they wrote:
per-dimension accuracy on held-out pairs with a bootstrap 95% interval, the checklist model's recovery of
planted weights, the GRPO reward curve and the share of answers in the expected format.

Used by ``benchmarks/learning.py`` and its smaller test; recipes are driven only by
``python -m rm_training train/eval`` arguments (``key=value`` overrides), so the experiment runs
unchanged whatever the recipes do inside.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rm_training.cli import main as rm_training_main
from rm_training.parsing import DIMENSIONS

POOLED = "all"  # every decided (pair, dimension) cell of the three dimensions together
CHANCE = 0.5  # a scorer that ignores the videos is right half of the time on decided pairs (A/B drawn by a coin)


@dataclass
class RecipeResult:
    name: str  # row label, e.g. "descore"
    recipe: str
    run: Path
    train_seconds: float
    eval_seconds: float
    accuracy: dict[str, tuple[float, float, float, int]] = field(default_factory=dict)  # dim -> (acc, low, high, n)
    notes: dict[str, float | str | None] = field(default_factory=dict)


def run_recipe(
    name: str, recipe: str, data: Path, run: Path, overrides: list[str], *, split: str = "test",
    continue_from: Path | None = None, evaluate: bool = True,
) -> RecipeResult:
    """``train`` then (unless ``evaluate`` is false) ``eval`` on ``split``; raises when either exits with an
    error. A folder already at ``run`` is removed first: ``train`` would resume it, not train again.
    ``continue_from``: a run folder copied to ``run`` first, so ``train`` resumes from its last checkpoint (later
    stages only)."""
    shutil.rmtree(run, ignore_errors=True)
    if continue_from is not None:
        shutil.copytree(continue_from, run, ignore=shutil.ignore_patterns("eval"))
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the command's JSON summary; the run folder keeps it all
        status = rm_training_main(["train", "--recipe", recipe, "--data", str(data), "--out", str(run), *overrides])
    if status != 0:
        raise RuntimeError(f"{name}: train exited with {status}")
    trained = time.perf_counter()
    if not evaluate:
        return RecipeResult(name, recipe, run, trained - started, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        status = rm_training_main(["eval", "--run", str(run), "--data", str(data), "--split", split])
    if status != 0:
        raise RuntimeError(f"{name}: eval exited with {status}")
    result = RecipeResult(name, recipe, run, trained - started, time.perf_counter() - trained)
    predictions = run / "eval" / split / "predictions.jsonl"
    if predictions.is_file():
        rows = [json.loads(line) for line in predictions.read_text().splitlines() if line.strip()]
        if rows and "margins" in rows[0]:  # pair judgments; checklist answers are read by checklist_answer_accuracy
            result.accuracy = accuracy_table(rows)
    return result


def accuracy_table(rows: list[dict]) -> dict[str, tuple[float, float, float, int]]:
    """Per-dimension bootstrap accuracy of prediction rows, and the pooled one over all cells when every
    dimension has margins."""
    accuracy = {d: bootstrap_accuracy(rows, d) for d in DIMENSIONS if all(d in r["margins"] for r in rows)}
    if len(accuracy) == len(DIMENSIONS):
        accuracy[POOLED] = pooled_bootstrap_accuracy(rows)
    return accuracy


def decided_outcomes(rows: list[dict], dimension: str) -> np.ndarray:
    """1 where the prediction's margin picks the gold side, 0 where it does not (a zero margin is wrong),
    over the rows whose gold label on ``dimension`` is not a tie."""
    outcomes = []
    for row in rows:
        gold = row["labels"][dimension]
        if gold == "tie":
            continue
        margin = float(row["margins"][dimension])
        outcomes.append(1.0 if (margin > 0 and gold == "A") or (margin < 0 and gold == "B") else 0.0)
    return np.asarray(outcomes)


def bootstrap_accuracy(
    rows: list[dict], dimension: str, *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float, int]:
    """(accuracy, 2.5th and 97.5th percentile of the accuracy over pairs resampled with replacement, pairs)."""
    outcomes = decided_outcomes(rows, dimension)
    if outcomes.size == 0:
        return math.nan, math.nan, math.nan, 0
    rng = np.random.default_rng(seed)
    means = outcomes[rng.integers(0, outcomes.size, size=(resamples, outcomes.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(outcomes.mean()), float(low), float(high), int(outcomes.size)


def pooled_bootstrap_accuracy(
    rows: list[dict], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float, int]:
    """:func:`bootstrap_accuracy` over the decided cells of all three dimensions, with PAIRS resampled: a pair's
    cells move together (one model answer decides them), so resampling cells would narrow the interval."""
    cells = np.array([[decided_outcomes([row], d).sum() for d in DIMENSIONS] for row in rows]).sum(axis=1)
    counts = np.array([[decided_outcomes([row], d).size for d in DIMENSIONS] for row in rows]).sum(axis=1)
    if counts.sum() == 0:
        return math.nan, math.nan, math.nan, 0
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(rows), size=(resamples, len(rows)))
    means = cells[draws].sum(axis=1) / np.maximum(counts[draws].sum(axis=1), 1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(cells.sum() / counts.sum()), float(low), float(high), int(counts.sum())


def checklist_answer_accuracy(
    predictions: list[dict], dimension_of: dict[str, str], *, measure: str = "balanced accuracy",
    resamples: int = 2000, seed: int = 0,
) -> dict[str, tuple[float, float, float, int]]:
    """How well a checklist-vlm run reads the videos, per dimension (``dimension_of``: sub-dimension -> VA / VF / VP;
    other sub-dimensions are left out) and over all of them: the mean over questions of a per-question ``measure``,
    questions answered both ways only. ``balanced accuracy``: the mean of the question's yes and no recall at
    P(yes) > 0.5. ``auc``: the chance that a video the experts answered yes gets a higher P(yes) than one they
    answered no (ties count half), which reads a model whose P(yes) moves with the video without crossing 0.5.
    Anything that answers a question the same for every video, whatever its prior, scores exactly 0.5 on both.
    The 95% interval resamples videos (a video's answers move together); a question that loses one of its answers
    in a resample is left out of it. Returns {dimension: (value, low, high, rows)}."""
    kept = [p for p in predictions if p.get("sub_dimension") in dimension_of]
    if not kept:
        return {}
    videos = {video: i for i, video in enumerate(sorted({p["video_id"] for p in kept}))}
    video = np.array([videos[p["video_id"]] for p in kept])
    yes = np.array([p["answer"] == "yes" for p in kept])
    score = np.array([p["p_yes"] for p in kept], dtype=float)
    question_names = sorted({str(p["question_id"]) for p in kept})
    question = np.array([question_names.index(str(p["question_id"])) for p in kept])
    dimension = np.array([dimension_of[p["sub_dimension"]] for p in kept])
    rng = np.random.default_rng(seed)
    # weight of each row in each resample: how often its video was drawn (the first "resample" is the data itself)
    drawn = rng.integers(0, len(videos), size=(resamples, len(videos)))
    counts = np.concatenate([np.ones((1, len(videos))),
                             np.apply_along_axis(np.bincount, 1, drawn, minlength=len(videos))])[:, video]

    def per_question(of_q: np.ndarray) -> np.ndarray:
        """The measure of one question's rows in every resample."""
        said_yes, said_no = of_q & yes, of_q & ~yes
        weight_yes, weight_no = counts[:, said_yes], counts[:, said_no]
        with np.errstate(invalid="ignore", divide="ignore"):
            if measure == "auc":
                higher = np.sign(score[said_yes][:, None] - score[said_no][None, :]) / 2 + 0.5
                return np.einsum("ry,yn,rn->r", weight_yes, higher, weight_no) / (
                    weight_yes.sum(axis=1) * weight_no.sum(axis=1))
            yes_recall = (weight_yes * (score[said_yes] > 0.5)).sum(axis=1) / weight_yes.sum(axis=1)
            no_recall = (weight_no * (score[said_no] <= 0.5)).sum(axis=1) / weight_no.sum(axis=1)
            return (yes_recall + no_recall) / 2

    if measure not in ("balanced accuracy", "auc"):
        raise ValueError(f"measure must be 'balanced accuracy' or 'auc', not {measure!r}")
    table = {}
    for name, rows in [*((d, dimension == d) for d in DIMENSIONS), (POOLED, np.ones(len(kept), dtype=bool))]:
        both_ways = [q for q in np.unique(question[rows]) if len(np.unique(yes[rows & (question == q)])) == 2]
        if not both_ways:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample where no question has both answers
            values = np.nanmean(np.array([per_question(rows & (question == q)) for q in both_ways]), axis=0)
        low, high = np.nanpercentile(values[1:], [2.5, 97.5])
        table[name] = (float(values[0]), float(low), float(high), int((rows & np.isin(question, both_ways)).sum()))
    return table


def weight_recovery(learned: list[float], planted: list[float]) -> dict[str, float]:
    """Pearson correlation of learned and planted weights, and the largest absolute error once the learned
    vector is scaled onto the planted one by least squares (the scale of a logistic fit is not w*'s)."""
    learned_vector, planted_vector = np.asarray(learned, dtype=float), np.asarray(planted, dtype=float)
    if np.std(learned_vector) == 0 or np.std(planted_vector) == 0:
        return {"correlation": math.nan, "max_error": math.nan, "scale": math.nan}
    scale = float(learned_vector @ planted_vector / (learned_vector @ learned_vector))
    return {
        "correlation": float(np.corrcoef(learned_vector, planted_vector)[0, 1]),
        "max_error": float(np.max(np.abs(scale * learned_vector - planted_vector))),
        "scale": scale,
    }


def checklist_recovery(weights_file: Path, planted_file: Path) -> dict[str, dict[str, float]]:
    """Recovery per fitted vector of a checklist-linear run: a dimension's vector against w* on that
    dimension's questions (0 elsewhere), ``overall`` (or a single vector) against the whole w*."""
    fitted = json.loads(Path(weights_file).read_text())
    planted = json.loads(Path(planted_file).read_text())
    question_ids = [str(q) for q in fitted["question_ids"]]
    vectors = fitted["weights"] if isinstance(fitted["weights"], dict) else {"overall": fitted["weights"]}
    recovery = {}
    for name, vector in vectors.items():
        target = [
            planted["weights"][q] if name not in DIMENSIONS or planted["dimensions"][q] == name else 0.0
            for q in question_ids
        ]
        recovery[name] = weight_recovery(vector, target)
    return recovery


def checklist_score_recovery(weights_file: Path, planted_file: Path, export_folder: Path) -> dict[str, float]:
    """Pearson correlation, over every video of an export, of the fitted and the planted checklist scores:
    overall (all questions) and per dimension (eq. 6: the sum over that dimension's own questions, of the one
    fitted vector or of the dimension's own). Unlike the weights, the scores are identifiable when a checklist's
    progressive questions move together (a level answers its lower questions yes), which spreads a weight
    freely among them."""
    fitted = json.loads(Path(weights_file).read_text())
    planted = json.loads(Path(planted_file).read_text())
    question_ids = [str(q) for q in fitted["question_ids"]]
    vectors = fitted["weights"] if isinstance(fitted["weights"], dict) else {"overall": fitted["weights"]}
    answers = {}
    for split in ("train", "validation", "test"):
        path = Path(export_folder) / f"{split}.jsonl"
        for line in (path.read_text().splitlines() if path.is_file() else []):
            row = json.loads(line)
            for side in ("a", "b"):
                if row.get(f"checklist_{side}"):
                    answers[row[f"video_{side}"]] = [float(row[f"checklist_{side}"].get(q) or 0) for q in question_ids]
    matrix = np.asarray(list(answers.values()), dtype=float)
    planted_weights = np.asarray([planted["weights"][q] for q in question_ids], dtype=float)
    dimension_of = [planted["dimensions"][q] for q in question_ids]
    correlations = {}
    for target in ("overall", *DIMENSIONS):
        mask = np.asarray([target == "overall" or d == target for d in dimension_of], dtype=float)
        vector = np.asarray(vectors.get(target, vectors.get("overall")), dtype=float)
        fitted_scores, planted_scores = matrix @ (vector * mask), matrix @ (planted_weights * mask)
        if len(matrix) < 2 or np.std(fitted_scores) == 0 or np.std(planted_scores) == 0:
            correlations[target] = math.nan
        else:
            correlations[target] = float(np.corrcoef(fitted_scores, planted_scores)[0, 1])
    return correlations


def stage_metric(run: Path, key: str) -> list[float]:
    """Values of ``key`` (e.g. ``grpo/reward_mean``) per logged step of a run, in step order."""
    values = []
    for line in (Path(run) / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        record = record.get("metrics", record)
        if key in record and record[key] is not None:
            values.append(float(record[key]))
    return values


def first_and_last_mean(values: list[float], share: float = 0.25) -> tuple[float, float]:
    """Mean of the first and of the last ``share`` of a series (at least one value each)."""
    if not values:
        return math.nan, math.nan
    count = max(1, int(len(values) * share))
    return float(np.mean(values[:count])), float(np.mean(values[-count:]))


def trend_per_100_steps(values: list[float], *, max_lags: int = 20) -> tuple[float, float, float]:
    """(slope, low, high): the least-squares slope of a per-step series per 100 steps, with its 95% interval.
    Newey-West (HAC) standard errors, since consecutive GRPO steps share the policy and are not independent;
    an interval clear of 0 says the series rose (or fell) beyond its step-to-step noise."""
    import statsmodels.api as sm

    if len(values) < 3:
        return math.nan, math.nan, math.nan
    steps = np.arange(len(values), dtype=float) / 100
    fit = sm.OLS(np.asarray(values, dtype=float), sm.add_constant(steps)).fit(
        cov_type="HAC", cov_kwds={"maxlags": min(max_lags, len(values) - 2)}
    )
    low, high = fit.conf_int()[1]
    return float(fit.params[1]), float(low), float(high)


def parsed_share(run: Path, split: str = "test") -> float:
    """Share of a generative run's greedy eval answers (original A/B order) that parse in the recipe's format:
    the format reward averaged over the held-out pairs."""
    rows = [json.loads(line) for line in (Path(run) / "eval" / split / "predictions.jsonl").read_text().splitlines()]
    if not rows:
        return math.nan
    return 1 - sum(row.get("text_parse_error") is not None for row in rows) / len(rows)


def tie_answer_share(rows: list[dict]) -> float:
    """Share of the decided (pair, dimension) cells, over all three dimensions, where the model answered "comparable"
    (a zero margin). Each such cell counts as a miss, so a generative judge that answers a tie on a share ``t`` of the
    decided cells and guesses A or B at random on the rest scores (1 - t) / 2, not :data:`CHANCE`; a scorer with
    continuous margins (descore) never answers a tie."""
    cells = [float(row["margins"][d]) == 0.0 for row in rows for d in DIMENSIONS if row["labels"][d] != "tie"]
    return sum(cells) / len(cells) if cells else math.nan


def swapped_order_predictions(rows: list[dict]) -> list[dict]:
    """The predictions of the swapped order (video B shown first) as if they were the original's: each row's
    ``margins`` replaced by its ``swapped_margins`` in the original frame (negated), so the accuracy functions
    score the second order. A judge that answers the same position in both orders (position bias) scores
    about 1 - its original-order accuracy here, however the original order's labels happen to lean."""
    return [row | {"margins": {d: -float(v) for d, v in row["swapped_margins"].items()}} for row in rows]


def _cell(value: tuple[float, float, float, int] | None) -> str:
    if value is None or value[3] == 0:
        return "-"
    accuracy, low, high, count = value
    return f"{accuracy:.2f} [{low:.2f}, {high:.2f}] n={count}"


def learning_table(results: list[RecipeResult]) -> str:
    """Markdown: one row per run, per-dimension held-out accuracy with its 95% bootstrap interval."""
    columns = (*DIMENSIONS, POOLED)
    lines = ["| run | " + " | ".join(columns) + " | train s | notes |", "|---|" + "---|" * (len(columns) + 2)]
    lines.append("| chance | " + " | ".join(f"{CHANCE:.2f}" for _ in columns) + " | | |")
    for result in results:
        notes = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.notes.items())
        cells = " | ".join(_cell(result.accuracy.get(d)) for d in columns)
        lines.append(f"| {result.name} | {cells} | {result.train_seconds:.0f} | {notes} |")
    return "\n".join(lines) + "\n"


def learning_plot(results: list[RecipeResult], path: Path, grpo_rewards: list[float] | None = None) -> None:
    """Per-dimension accuracy with 95% intervals per run against chance; the GRPO reward per step beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if grpo_rewards else 1
    figure, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    axis = axes[0][0]
    results = [result for result in results if any(cell[3] for cell in result.accuracy.values())]
    width = 0.8 / max(1, len(results))
    for index, result in enumerate(results):
        xs, ys, errors = [], [], [[], []]
        for position, dimension in enumerate(DIMENSIONS):
            value = result.accuracy.get(dimension)
            if value is None or value[3] == 0:
                continue
            xs.append(position + (index - (len(results) - 1) / 2) * width)
            ys.append(value[0])
            errors[0].append(value[0] - value[1])
            errors[1].append(value[2] - value[0])
        axis.bar(xs, ys, width, yerr=errors, capsize=3, label=result.name)
    axis.axhline(CHANCE, color="black", linestyle="--", linewidth=1, label="chance")
    axis.set_xticks(range(len(DIMENSIONS)), DIMENSIONS)
    axis.set_ylim(0, 1)
    axis.set_ylabel("held-out accuracy (decided pairs, 95% CI)")
    axis.legend(fontsize=7, loc="upper center", ncol=4, bbox_to_anchor=(0.5, -0.1))
    if grpo_rewards:
        axes[0][1].plot(range(1, len(grpo_rewards) + 1), grpo_rewards)
        axes[0][1].set_xlabel("GRPO step")
        axes[0][1].set_ylabel("mean reward (format + accuracy)")
    figure.tight_layout()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
