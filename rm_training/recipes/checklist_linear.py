"""checklist-linear: VisionReward Algorithm 1 on aesrm-pairwise checklist answers (CPU, seconds)."""

from __future__ import annotations

import csv
import time

import numpy as np

from rm_training.checklist_linear import (
    OVERALL,
    ChecklistRewardModel,
    fit_checklist_reward_model,
    mpo_select,
    pair_design,
    question_dimensions_of,
    weight_table_markdown,
)
from rm_training.config import TrainConfig
from rm_training.export import Export
from rm_training.parsing import DIMENSIONS
from rm_training.run_dir import RunDir

WEIGHTS_FILE = "checklist_weights.json"
LOG_INTERVAL_SECONDS = 1.0


def overall_accuracy(model: ChecklistRewardModel, rows: list[dict]) -> float | None:
    """Share of the pairs with an overall preference (ties left out) whose total reward picks the preferred video."""
    differences, targets = pair_design(rows, model.question_ids)
    if len(targets) == 0:
        return None
    predicted = (differences @ np.asarray(model.weights)) > 0
    return float((predicted == (targets == 1)).mean())


class EpochLog:
    """metrics.jsonl lines while the regression fits (at most one per LOG_INTERVAL_SECONDS) and one at the end;
    epoch e is step e, so ``max_epochs`` bounds the run and a fit that converges early skips to it."""

    def __init__(self, run: RunDir, max_epochs: int):
        self.run, self.total_steps = run, max_epochs
        self.started = time.monotonic()
        self.last_logged = self.started
        self.last: tuple[int, object] | None = None

    def __call__(self, epoch: int, loss) -> None:
        self.last = (epoch, loss)
        if time.monotonic() - self.last_logged >= LOG_INTERVAL_SECONDS:
            self._log(epoch)

    def finish(self) -> None:
        if self.last is not None:
            self._log(self.total_steps)

    def _log(self, step: int) -> None:
        epoch, loss = self.last
        self.last_logged = now = time.monotonic()
        self.run.log_metrics(step, {"stage": "fit-overall", "epoch": epoch, "loss": loss(),
                                    "steps_per_second": step / max(now - self.started, 1e-9)})


def train(config: TrainConfig, export: Export, run: RunDir) -> dict:
    rows = export.rows("train")
    options = config.checklist
    epochs = EpochLog(run, options.max_epochs)
    model, result = fit_checklist_reward_model(
        rows,
        question_dimensions=question_dimensions_of(export.manifest),
        on_epoch=epochs,
        solver=options.solver,
        learning_rate=options.learning_rate,
        batch_size=options.batch_size,
        l2=options.l2,
        max_epochs=options.max_epochs,
        tolerance=options.tolerance,
        seed=config.seed,
    )
    epochs.finish()
    checkpoint = run.checkpoint_path(0)
    checkpoint.mkdir(parents=True, exist_ok=True)
    model.save(checkpoint / WEIGHTS_FILE)
    model.save(run.path / WEIGHTS_FILE)
    (run.path / "weight_table.md").write_text(weight_table_markdown(model))
    with (run.path / "weight_table.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question_id", "dimension", "weight"])
        for qid, weight in zip(model.question_ids, model.weights, strict=True):
            writer.writerow([qid, model.question_dimensions.get(qid, ""), weight])
    metrics = {
        "train_accuracy": {OVERALL: overall_accuracy(model, rows)},
        "epochs": result.epochs,
        "converged": result.converged,
        "checklist_dimensions": model.dimensions,
        "masked_questions": [qid for qid, w in zip(model.question_ids, model.weights, strict=True) if w == 0.0],
    }
    try:
        metrics["validation_accuracy"] = {OVERALL: overall_accuracy(model, export.rows("validation"))}
    except ValueError:
        pass
    run.write_json("checkpoints/" + checkpoint.name + "/state.json", {"step": 0, "recipe": config.recipe})
    run.write_json("train_metrics.json", metrics)
    return metrics


def load_model(run: RunDir) -> ChecklistRewardModel:
    return ChecklistRewardModel.load(run.path / WEIGHTS_FILE)


def predict(run: RunDir, export: Export, rows: list[dict]) -> list[dict]:
    """The model has one preference, ``R(A) - R(B)`` (eq. 4): it is the margin of every rubric dimension (VA, VF,
    VP), so eval reports how well the overall preference agrees with each dimension's label. The model is
    symmetric, so swapped margins are negated."""
    model = load_model(run)
    predictions = []
    for row in rows:
        total = model.score(row.get("checklist_a"))[OVERALL] - model.score(row.get("checklist_b"))[OVERALL]
        predictions.append({
            "margins": dict.fromkeys(DIMENSIONS, total),
            "swapped_margins": dict.fromkeys(DIMENSIONS, -total),
        })
    return predictions


def select_pairs(run: RunDir, export: Export, split: str, total_threshold: float) -> list[dict]:
    return mpo_select(export.rows(split), load_model(run), total_threshold=total_threshold)
