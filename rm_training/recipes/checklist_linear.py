"""checklist-linear: VisionReward Algorithm 1 on aesrm-pairwise checklist answers (CPU, seconds)."""

from __future__ import annotations

import csv
import time

from rm_training.checklist_linear import (
    CHECKLIST_TARGETS,
    ChecklistRewardModel,
    fit_checklist_reward_model,
    mpo_select,
    pair_design,
    weight_table_markdown,
)
from rm_training.config import TrainConfig
from rm_training.export import Export
from rm_training.run_dir import RunDir

WEIGHTS_FILE = "checklist_weights.json"
LOG_INTERVAL_SECONDS = 1.0


def _pair_accuracy(model: ChecklistRewardModel, rows: list[dict]) -> dict[str, float | None]:
    accuracy = {}
    for name, weights in model.weights.items():
        differences, targets = pair_design(rows, model.question_ids, name)
        if len(targets) == 0:
            accuracy[name] = None
            continue
        predicted = (differences @ weights) > 0
        accuracy[name] = float((predicted == (targets == 1)).mean())
    return accuracy


class EpochLog:
    """metrics.jsonl lines while the regressions fit (at most one per LOG_INTERVAL_SECONDS) and one at the end.
    The targets are fitted one after the other: target k's epoch e is step ``k * max_epochs + e``, so
    ``total_steps`` bounds the run and a fit that converges early skips ahead."""

    def __init__(self, run: RunDir, max_epochs: int):
        self.run, self.max_epochs = run, max_epochs
        self.total_steps = len(CHECKLIST_TARGETS) * max_epochs
        self.started = time.monotonic()
        self.last_logged = self.started
        self.last: tuple[str, int, object] | None = None

    def __call__(self, target: str, epoch: int, loss) -> None:
        self.last = (target, epoch, loss)
        if time.monotonic() - self.last_logged >= LOG_INTERVAL_SECONDS:
            self._log(CHECKLIST_TARGETS.index(target) * self.max_epochs + epoch)

    def finish(self) -> None:
        if self.last is not None:
            self._log(self.total_steps)

    def _log(self, step: int) -> None:
        target, epoch, loss = self.last
        self.last_logged = now = time.monotonic()
        self.run.log_metrics(step, {"stage": f"fit-{target}", "epoch": epoch, "loss": loss(),
                                    "steps_per_second": step / max(now - self.started, 1e-9)})


def train(config: TrainConfig, export: Export, run: RunDir) -> dict:
    rows = export.rows("train")
    options = config.checklist
    epochs = EpochLog(run, options.max_epochs)
    model, results = fit_checklist_reward_model(
        rows,
        on_epoch=epochs,
        learning_rate=options.learning_rate,
        batch_size=options.batch_size,
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
        writer.writerow(["question_id", *model.weights])
        for index, qid in enumerate(model.question_ids):
            writer.writerow([qid, *(model.weights[name][index] for name in model.weights)])
    metrics = {
        "train_accuracy": _pair_accuracy(model, rows),
        "epochs": {name: result.epochs for name, result in results.items()},
        "converged": {name: result.converged for name, result in results.items()},
        "masked_questions": {
            name: [qid for qid, weight in zip(model.question_ids, weights, strict=True) if weight == 0.0]
            for name, weights in model.weights.items()
        },
    }
    try:
        metrics["validation_accuracy"] = _pair_accuracy(model, export.rows("validation"))
    except ValueError:
        pass
    run.write_json("checkpoints/" + checkpoint.name + "/state.json", {"step": 0, "recipe": config.recipe})
    run.write_json("train_metrics.json", metrics)
    return metrics


def load_model(run: RunDir) -> ChecklistRewardModel:
    return ChecklistRewardModel.load(run.path / WEIGHTS_FILE)


def predict(run: RunDir, export: Export, rows: list[dict]) -> list[dict]:
    """Margins are ``R_d(A) - R_d(B)``; the model is symmetric, so swapped margins are negated."""
    model = load_model(run)
    predictions = []
    for row in rows:
        score_a, score_b = model.score(row.get("checklist_a")), model.score(row.get("checklist_b"))
        margins = {d: score_a[d] - score_b[d] for d in ("VA", "VF", "VP") if d in score_a}
        swapped = {d: score_b[d] - score_a[d] for d in margins}
        predictions.append({"margins": margins, "swapped_margins": swapped})
    return predictions


def select_pairs(run: RunDir, export: Export, split: str, min_margin: float) -> list[dict]:
    return mpo_select(export.rows(split), load_model(run), min_margin=min_margin)
