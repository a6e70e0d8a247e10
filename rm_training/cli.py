"""Command line: ``python -m rm_training {train,eval,mpo-select,plan}``.

Flags mirror the config dataclasses; any field can be set as ``section.key=value``
(see ``python -m rm_training train --help`` for the list with help texts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rm_training.config import RECIPE_FORMATS, RECIPES, ConfigError, check_machine, config_help, load_config
from rm_training.data import DataError
from rm_training.export import ExportError, open_export
from rm_training.run_dir import RunDir
from rm_training.video import VideoDecodeError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rm_training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a reward model from an export",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config fields (set as key=value):\n" + "\n".join(config_help()),
    )
    train.add_argument("--recipe", choices=RECIPES, help="recipe to run")
    train.add_argument("--data", help="export folder (EXPORT_DIR)")
    train.add_argument("--out", help="run folder (RUN_DIR); an existing run resumes from its last checkpoint")
    train.add_argument("--config", help="YAML config file (same nesting as the config dataclasses)")
    train.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. optim.learning_rate=1e-5")

    evaluate = commands.add_parser("eval", help="evaluate a run on an export split")
    evaluate.add_argument("--run", required=True, help="run folder")
    evaluate.add_argument("--data", required=True, help="export folder")
    evaluate.add_argument("--split", default="test", choices=("train", "validation", "test"))

    select = commands.add_parser("mpo-select", help="checklist-linear runs: write MPO dominating pairs")
    select.add_argument("--run", required=True)
    select.add_argument("--data", required=True)
    select.add_argument("--split", default="train", choices=("train", "validation", "test"))
    select.add_argument("--output", help="JSONL path (default RUN_DIR/mpo_pairs_<split>.jsonl)")

    from rm_training.plan import plan_help

    memory = commands.add_parser(
        "plan",
        help="memory budget per GPU for a real-size model, before launching",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="plan options (set as key=value; defaults from the recipe's config):\n" + "\n".join(plan_help()),
    )
    memory.add_argument("--recipe", required=True, choices=RECIPES)
    memory.add_argument(
        "--model-config", required=True,
        help="model config JSON (or a name in rm_training/configs/models/, e.g. qwen2.5-vl-7b)",
    )
    memory.add_argument("--config", help="training YAML to take the defaults from (default: configs/<recipe>-*.yaml)")
    memory.add_argument("--stage", choices=("descore", "sft", "grpo"), help="plan only this stage of the recipe")
    memory.add_argument("--json", action="store_true", help="print the budget as JSON (bytes)")
    memory.add_argument("overrides", nargs="*", help="key=value plan options, e.g. gpus=8 strategy=zero3")
    return parser


def command_train(args: argparse.Namespace) -> dict:
    from rm_training.recipes import recipe_module

    config = load_config(args.config, args.overrides, recipe=args.recipe, data=args.data, out=args.out)
    if not config.data or not config.out:
        raise ConfigError("train needs --data EXPORT_DIR and --out RUN_DIR")
    export = open_export(config.data, RECIPE_FORMATS[config.recipe])
    if config.grpo.data:
        open_export(config.grpo.data, ("rl-prompts",))
    check_machine(config)
    import torch
    from accelerate import PartialState

    # the first PartialState fixes the process group for the whole run: without cpu=True a CPU launch of
    # several processes stays one independent process per rank (the Trainer's Accelerator inherits it)
    state = PartialState(cpu=not torch.cuda.is_available())
    run = RunDir(config.out)
    if state.is_main_process:
        run.start(config, export)
    state.wait_for_everyone()
    from transformers import set_seed

    set_seed(config.seed)  # before any model is built: head init, CoT masking, sampling
    metrics = recipe_module(config.recipe).train(config, export, run)
    return metrics


def command_eval(args: argparse.Namespace) -> dict:
    from rm_training.evaluation import evaluate_predictions
    from rm_training.recipes import recipe_module
    from rm_training.report import markdown_report, plot_calibration, plot_confusion_matrices

    run = RunDir(args.run)
    if not (run.path / "config.yaml").is_file():
        raise ConfigError(f"{run.path} is not a run folder (no config.yaml)")
    config = run.config()
    export = open_export(args.data, RECIPE_FORMATS[config.recipe])
    module = recipe_module(config.recipe)
    out = run.path / "eval" / args.split
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(module, "evaluate_scores"):
        return _eval_scores(module, run, export, args.split, out)
    if hasattr(module, "evaluate_answers"):
        return _eval_answers(module, run, export, args.split, out)
    # swap-augmentation rows repeat a pair with A/B exchanged; eval swaps every pair itself
    rows = [row for row in export.rows(args.split) if not row.get("swapped")]
    predictions = module.predict(run, export, rows)
    merged = [{**{"pair_id": row.get("pair_id"), "labels": row["labels"], "criteria": row.get("criteria")}, **p}
              for row, p in zip(rows, predictions, strict=True)]
    metrics = evaluate_predictions(merged)
    metrics.update({"split": args.split, "data_manifest_sha256": export.manifest_sha256(), "recipe": config.recipe})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    with (out / "predictions.jsonl").open("w") as handle:
        for row in merged:
            handle.write(json.dumps(row) + "\n")
    plot_name = calibration_name = None
    if merged:
        plot_confusion_matrices(metrics, out / "confusion_matrices.png")
        plot_calibration(metrics, out / "calibration.png")
        plot_name, calibration_name = "confusion_matrices.png", "calibration.png"
    title = f"{config.recipe} on {args.split}"
    (out / "report.md").write_text(markdown_report(metrics, title, plot_name, calibration_name))
    summary = run.read_json("metrics.json") or {}
    summary[f"eval_{args.split}"] = metrics
    run.write_json("metrics.json", summary)
    return metrics


def _eval_answers(module, run: RunDir, export, split: str, out: Path) -> dict:
    """Checklist answers on single videos (checklist-qa rows): answer accuracies into metrics.json, each row's answer
    into predictions.jsonl."""
    metrics, predictions = module.evaluate_answers(run, export, export.rows(split))
    metrics.update({"split": split, "data_manifest_sha256": export.manifest_sha256(), "recipe": run.config().recipe})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    with (out / "predictions.jsonl").open("w") as handle:
        for prediction in predictions:
            handle.write(json.dumps(prediction) + "\n")
    summary = run.read_json("metrics.json") or {}
    summary[f"eval_{split}"] = metrics
    run.write_json("metrics.json", summary)
    return metrics


def _eval_scores(module, run: RunDir, export, split: str, out: Path) -> dict:
    """Scored single-video data: PLCC / SRCC, a predicted-vs-target plot and a short report."""
    from rm_training.report import plot_scores, score_report

    metrics = module.evaluate_scores(run, export, export.rows(split))
    metrics.update({"split": split, "data_manifest_sha256": export.manifest_sha256()})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_scores(metrics["predicted"], metrics["targets"], out / "scores.png")
    (out / "report.md").write_text(score_report(metrics, f"{run.config().recipe} on {split}", "scores.png"))
    summary = run.read_json("metrics.json") or {}
    summary[f"eval_{split}"] = {k: v for k, v in metrics.items() if k not in ("predicted", "targets")}
    run.write_json("metrics.json", summary)
    return summary[f"eval_{split}"]


def command_mpo_select(args: argparse.Namespace) -> dict:
    from rm_training.recipes.checklist_linear import select_pairs

    run = RunDir(args.run)
    config = run.config()
    if config.recipe != "checklist-linear":
        raise ConfigError(f"mpo-select needs a checklist-linear run, {run.path} is {config.recipe}")
    export = open_export(args.data, RECIPE_FORMATS["checklist-linear"])
    pairs = select_pairs(run, export, args.split, config.checklist.mpo_total_threshold)
    output = Path(args.output) if args.output else run.path / f"mpo_pairs_{args.split}.jsonl"
    with output.open("w") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair) + "\n")
    return {"selected_pairs": len(pairs), "output": str(output)}


def command_plan(args: argparse.Namespace) -> None:
    from rm_training import plan

    defaults, stages = plan.recipe_defaults(args.recipe, args.config)
    if args.stage:
        if args.stage not in stages:
            raise ConfigError(f"{args.recipe} has no {args.stage} stage in its config (stages: {', '.join(stages)})")
        stages = [args.stage]
    options = plan.plan_options(defaults, args.overrides)
    shape = plan.ModelShape.from_config(plan.read_model_config(args.model_config))
    budgets = plan.plan(shape, options, args.recipe, stages)
    if args.json:
        print(json.dumps([{"stage": b.stage, "peak": b.peak, **b.lines} for b in budgets], indent=2))
    else:
        print(plan.format_plan(shape, options, args.recipe, budgets))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"train": command_train, "eval": command_eval, "mpo-select": command_mpo_select, "plan": command_plan}
    try:
        result = commands[args.command](args)
    except (ConfigError, ExportError, DataError, VideoDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result is None:
        return 0  # the command printed its own output
    if os.environ.get("RANK", "0") != "0":
        return 0  # under accelerate launch / torchrun only the main process prints the summary
    # per-step loss lists live in metrics.jsonl; keep the printed summary short
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}, indent=2, default=str))
    return 0
