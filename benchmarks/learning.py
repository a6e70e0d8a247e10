"""Do the reward models learn? A campaign of generated pairs with controlled degradations, judged by simulated
experts with known preferences and noise, exported through the app, then each recipe trained from scratch on a
small random Qwen2.5-VL (CPU) and evaluated on held-out scenes (prompts unseen in training).

    nice .venv/bin/python benchmarks/learning.py --out /tmp/learning [--scenes 48] [--degradations 7] [--noise 0.1]

Builds its own PostgreSQL database (DATABASE_URL's server, database aeslab_bench_learning, dropped and re-created)
and media folder under --out; Celery runs eagerly (CELERY_BROKER_URL is cleared). Data: fixtures/learning_data.py
(scenes x (clean + degradations) clips, every two clips of a scene a pair; 48 x 8 clips -> 1,216 pairs, a
still source's frame drops left out; split 0.7/0.1/0.2 by prompt). Recipes run through `python -m rm_training
train/eval` with key=value overrides only (see RECIPE_RUNS), so the same command re-runs them after the recipes
change (each from scratch). Prints the table (per-dimension held-out accuracy with a 95% bootstrap interval,
chance, the checklist-linear baseline, planted-weight recovery, the format share after the cold start and GRPO's
reward curve) and writes learning.png, learning.md and learning.json under --out.

Run time on the 2-core development machine (the other core busy, one torch thread): data 9 min,
checklist-linear under a second, checklist-vlm 3,000 steps and its evaluation about 10 min (14 with 16 frames and
hidden 128), descore 1,000 steps 3 min, aesrm-base 3,000 cold-start steps 8 min and its evaluation (235 test pairs
in both orders) 2 min, GRPO 600 steps 10 min (20 min with the KL reference and 16 frames) and its evaluation 2 min,
RAPO 5 min.
Figures: rm_training/README.md, "Proof that the models learn (CPU)".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "aeslab_bench_learning"
EXPORT_FORMATS = ("aesrm-pairwise", "aesrm-base-sft", "rl-prompts", "checklist-qa")
SPLIT = (0.7, 0.1, 0.2)  # by prompt: the test scenes are unseen in training

# Small enough to train in minutes on 2 cores: hidden 64, 2 decoder layers, 1 vision block; 4 frames per clip
# at 56 x 112 pixels (2 x 4 merged patches per frame pair). Four key/value heads, not the tiny default's one:
# with one, aesrm-base answered the same verdicts whichever video came first (held-out accuracy at chance), with
# four it tells the two videos apart (rm_training/README.md, "Proof that the models learn").
MODEL_OPTIONS = {"hidden_size": 64, "num_layers": 2, "vision_depth": 1, "num_heads": 4, "num_key_value_heads": 4}
VIDEO_PIXELS = ["video.max_pixels=6272", "video.min_pixels=3136"]


def video_options(args: argparse.Namespace) -> list[str]:
    """Frames sampled per clip: --video-fps frames per second of video, at most --max-frames, spread over the clip."""
    return [f"video.fps={args.video_fps}", f"video.max_frames={args.max_frames}", *VIDEO_PIXELS]


def recipe_runs(model: Path, args: argparse.Namespace) -> list[tuple[str, str, str, list[str], str | None]]:
    """(run name, recipe, export format, overrides, run it continues) in the order they run."""
    common = [f"model_path={model}", *video_options(args), "save_every=100000", "keep_checkpoints=1", "log_every=1"]
    # the base answer (a sentence, then <answer>VA: v, VF: v, VP: v</answer>) is 65-81 tiny-tokenizer tokens
    answers = ["grpo.max_new_tokens=96"]
    cold_start = [*common, *answers, "optim.batch_size=4", "optim.learning_rate=3e-4",
                  f"stages.atomic_steps={args.atomic_steps}", f"stages.sft_steps={args.cold_start_steps}"]
    descore = [*common, "optim.batch_size=4", "optim.learning_rate=3e-4", f"stages.sft_steps={args.descore_steps}",
               "descore.use_cot=false", "descore.eval_cot_tokens=0"]
    aesrm_base = [*cold_start, "stages.grpo_steps=0"]
    return [
        ("checklist-linear", "checklist-linear", "aesrm-pairwise", [], None),
        # learning rates from a sweep on this data (1e-4 / 3e-4 / 5e-4 / 2e-3): 2e-3 does not even fit the
        # training pairs (train accuracy 0.57), 3e-4 generalises best
        ("descore", "descore", "aesrm-pairwise", descore, None),
        ("aesrm-base", "aesrm-base", "aesrm-base-sft", aesrm_base, None),
        # VisionReward's checklist answerer (seed 003): yes/no per (video, question), each question's answers
        # balanced in training, so answering from the question alone scores 0.5 on every question
        ("checklist-vlm", "checklist-vlm", "checklist-qa",
         [*common, "optim.batch_size=4", "optim.learning_rate=3e-4", "stages.atomic_steps=0",
          f"stages.sft_steps={args.checklist_vlm_steps}"], None),
        # the cold-start run continued: its SFT stage is done, so only GRPO runs, then it is evaluated like the
        # cold start. KL 0.04 to the policy as GRPO starts (--grpo-reference start): without an anchor one run
        # of two collapsed to one answer for every pair; against the base model, here random weights, the KL
        # pulls the policy back to random text (beta 0.01: format share 1.00 -> 0.79 in 60 steps). 4 prompts a
        # step at 1e-4 (2e-4 lost accuracy, 3e-4 the format).
        ("aesrm-base-grpo", "aesrm-base", "aesrm-base-sft",
         [*cold_start, "optim.batch_size=4", "optim.sft_learning_rate=3e-4", "optim.learning_rate=1e-4",
          f"stages.grpo_steps={args.grpo_steps}", "grpo.num_generations=4", "grpo.temperature=0.7",
          f"grpo.kl_beta={args.grpo_kl_beta}", f"grpo.reference={args.grpo_reference}"], "aesrm-base"),
        # the same two trainings again from other seeds (the data order and sampling; same model and data)
        *[(f"{recipe}-seed-{seed}", recipe, export_format, [*overrides, f"seed={seed}"], None)
          for seed in range(1, args.seeds)
          for recipe, export_format, overrides in (("descore", "aesrm-pairwise", descore),
                                                   ("aesrm-base", "aesrm-base-sft", aesrm_base))],
    ]


def _django_setup(out: Path, *, fresh: bool = True) -> None:
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres").rsplit("/", 1)[0]
    if not server.startswith("postgres"):
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL to a PostgreSQL server.")
    from benchmarks.support import database_prepare

    database_prepare(f"{server}/{DATABASE}", fresh=fresh)
    os.environ.update(DATABASE_URL=f"{server}/{DATABASE}", MEDIA_ROOT=str(out / "media"), CELERY_BROKER_URL="",
                      DJANGO_SETTINGS_MODULE="webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _data_build(out: Path, args: argparse.Namespace) -> None:
    """Clips, the judged campaign (in the benchmark's own database) and its exports under out/exports."""
    _django_setup(out)
    from fixtures.learning_data import learning_clips_generate, planted_checklist
    from training.learning_experiment import (
        learning_campaign_build,
        learning_exports_build,
        learning_score_critiques_build,
    )

    clips = learning_clips_generate(out / "clips", scenes=args.scenes, degradations=args.degradations, seed=args.seed)
    planted = planted_checklist(seed=args.seed)
    campaign = learning_campaign_build(clips=clips, planted=planted, name="learning", noise=args.noise, seed=args.seed)
    # the videos' scores come from a first rl-prompts export; the scripted teacher's critiques of them, accepted,
    # are in the second, for RAPO's cold start
    scored = learning_exports_build(campaign=campaign, planted=planted, out_dir=out / "exports-scores",
                                    formats=("rl-prompts",), split=SPLIT, seed=args.seed)
    accepted = learning_score_critiques_build(campaign=campaign, scored_export=scored.exports["rl-prompts"])
    print(f"{accepted} scored-video critiques from the scripted teacher accepted", flush=True)
    learning_exports_build(campaign=campaign, planted=planted, out_dir=out / "exports",
                           formats=EXPORT_FORMATS, split=SPLIT, seed=args.seed)


def _export_add(out: Path, args: argparse.Namespace, export_format: str) -> None:
    """An export the data under --out lacks (it was built before the benchmark used that format), made from the
    campaign still in the benchmark's database, with the same split."""
    _django_setup(out, fresh=False)
    from annotation.models import Campaign
    from fixtures.learning_data import planted_checklist
    from training.learning_experiment import learning_exports_build

    learning_exports_build(campaign=Campaign.objects.get(name="learning"), planted=planted_checklist(seed=args.seed),
                           out_dir=out / "exports", formats=(export_format,), split=SPLIT, seed=args.seed)


def _rapo(data: Path, run: Path, model: Path, args: argparse.Namespace, run_recipe):
    """RAPO on the rl-prompts export's scored single-video rows (PLCC / SRCC on the test split), when the app
    writes any; else a row saying why it did not run."""
    from rm_training.experiment import RecipeResult

    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines() if line.strip()]
    singles = [row for row in rows if row.get("kind") == "single" and row.get("score") is not None]
    if not singles:
        return RecipeResult("rapo", "rapo", run, 0.0, 0.0,
                            notes={"not run": "no scored single-video rows in rl-prompts"})
    from rm_training.recipes.rapo import critique_rows

    if not critique_rows(rows):
        # without the AesCoT cold start a random model never writes a score, so every reward is 0
        return RecipeResult("rapo", "rapo", run, 0.0, 0.0, notes={
            "not run": f"{len(singles)} scored videos but no accepted single-video critique for the cold start"})
    result = run_recipe("rapo", "rapo", data, run, [
        f"model_path={model}", *video_options(args), "save_every=100000", "keep_checkpoints=1", "optim.batch_size=2",
        "optim.sft_learning_rate=3e-4", "optim.learning_rate=1e-4", f"stages.sft_steps={args.cold_start_steps}",
        # the scripted critiques with their score are 82-91 tiny-tokenizer tokens; 80 cut every answer short
        f"stages.grpo_steps={args.rapo_grpo_steps}", "grpo.num_generations=4", "grpo.max_new_tokens=112",
        *([f"grpo.kl_beta={args.rapo_kl_beta}"] if args.rapo_kl_beta is not None else []),
        *([f"grpo.temperature={args.rapo_temperature}"] if args.rapo_temperature is not None else []),
    ])
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    result.notes.update({key: metrics.get(key) for key in ("plcc", "srcc", "parse_failure_rate")})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for clips, exports, runs, table and plot")
    # 24 scenes x 5 degradations (328 pairs) left aesrm-base memorising its training pairs (rm_training/README.md)
    parser.add_argument("--scenes", type=int, default=48, help="at most 48 (8 sources x 6 hues)")
    parser.add_argument("--degradations", type=int, default=7, help="degraded versions per scene (1 clean + these)")
    parser.add_argument("--noise", type=float, default=0.1, help="probability an expert's verdict is replaced")
    parser.add_argument("--descore-steps", type=int, default=1000)
    parser.add_argument("--atomic-steps", type=int, default=0,
                        help="aesrm-base atomic steps (single-video yes/no questions) before the cold start")
    parser.add_argument("--cold-start-steps", type=int, default=3000, help="aesrm-base SFT steps before GRPO")
    parser.add_argument("--checklist-vlm-steps", type=int, default=3000,
                        help="checklist-vlm SFT steps (4 questions a step)")
    parser.add_argument("--grpo-steps", type=int, default=600, help="aesrm-base GRPO steps after the cold start")
    parser.add_argument("--rapo-grpo-steps", type=int, default=60)
    parser.add_argument("--rapo-kl-beta", type=float, help="RAPO's KL weight (default: its config's, the paper's 0.01)")
    parser.add_argument("--rapo-temperature", type=float,
                        help="RAPO's sampling temperature (default: its config's, the paper's 1.0)")
    parser.add_argument("--grpo-kl-beta", type=float, default=0.04,
                        help="aesrm-base GRPO's KL weight (0: none)")
    parser.add_argument("--grpo-reference", choices=("base", "start"), default="start",
                        help="the KL reference: the policy as GRPO starts (the cold start; without it one run of two "
                             "collapsed to one answer), or the base model (random weights here: it pulls to noise)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="train descore and aesrm-base this many times (seeds 0, 1, ...) to see their spread")
    parser.add_argument("--hidden-size", type=int, default=MODEL_OPTIONS["hidden_size"], help="the model's width")
    parser.add_argument("--layers", type=int, default=MODEL_OPTIONS["num_layers"], help="the model's decoder layers")
    parser.add_argument("--video-fps", type=float, default=2,
                        help="frames sampled per second of video (the clips are 12 fps; 12 samples consecutive frames)")
    parser.add_argument("--max-frames", type=int, default=4, help="at most this many frames per clip")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; on a loaded 2-core machine one thread ran 10-20x faster than two "
                             "(OpenMP workers waiting for each other at every op)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", help="run only these runs (names as in the table), e.g. checklist-linear")
    parser.add_argument("--reuse-data", action="store_true",
                        help="train on the exports an earlier run left under --out (skips clips, ingest and export)")
    args = parser.parse_args()
    import torch

    from fixtures.learning_data import (
        SUB_DIMENSION_TO_DIMENSION,
        checklist_answer_ceiling,
        clip_damage_read,
        planted_checklist,
    )
    from rm_training.experiment import (
        RecipeResult,
        accuracy_table,
        checklist_answer_accuracy,
        checklist_recovery,
        checklist_score_recovery,
        first_and_last_mean,
        learning_plot,
        learning_table,
        parsed_share,
        run_recipe,
        stage_metric,
        swapped_order_predictions,
        tie_answer_share,
        trend_per_100_steps,
    )
    from rm_training.tiny import save_tiny_qwen2_5_vl

    torch.set_num_threads(args.threads)
    out = args.out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    exports = {name: out / "exports" / name for name in EXPORT_FORMATS}
    planted_path = out / "exports" / "planted_checklist.json"
    if not args.reuse_data:
        _data_build(out, args)
    elif not exports["checklist-qa"].is_dir() and (not args.only or "checklist-vlm" in args.only):
        _export_add(out, args, "checklist-qa")
    splits = json.loads((exports["aesrm-pairwise"] / "manifest.json").read_text())["splits"]
    print(f"{sum(splits.values())} pairs, splits {splits}; data ready in {time.perf_counter() - started:.0f} s")
    model = save_tiny_qwen2_5_vl(
        out / "model", seed=args.seed, **{**MODEL_OPTIONS, "hidden_size": args.hidden_size, "num_layers": args.layers}
    )

    results, grpo_rewards = [], []
    for name, recipe, export_format, overrides, continues in recipe_runs(model, args):
        if args.only and name not in args.only:
            continue
        run = out / "runs" / name
        result = run_recipe(name, recipe, exports[export_format], run, overrides,
                            continue_from=out / "runs" / continues if continues else None)
        if recipe == "checklist-linear":
            for target, recovery in checklist_recovery(run / "checklist_weights.json", planted_path).items():
                result.notes[f"w* corr {target}"] = recovery["correlation"]
                result.notes[f"w* max err {target}"] = recovery["max_error"]
            scores = checklist_score_recovery(run / "checklist_weights.json", planted_path, exports[export_format])
            for target, correlation in scores.items():
                result.notes[f"score corr {target}"] = correlation
        extra_rows = []  # more figures of the same run, a row each
        if recipe == "checklist-vlm":
            predictions = [json.loads(line) for line in (run / "eval" / "test" / "predictions.jsonl").open()]
            result.accuracy = checklist_answer_accuracy(predictions, SUB_DIMENSION_TO_DIMENSION)
            evaluation = json.loads((run / "eval" / "test" / "metrics.json").read_text())
            result.notes["answer accuracy"] = evaluation["accuracy"]
            result.notes["yes/no recall mean"] = evaluation["balanced_accuracy"]
            # P(yes) can follow the video without crossing 0.5: the ranking shows it
            ranking = RecipeResult(f"{name}, AUC per question", recipe, run, 0.0, 0.0,
                                   checklist_answer_accuracy(predictions, SUB_DIMENSION_TO_DIMENSION, measure="auc"))
            # what the answers allow at best: the experts' level is drawn at random within its half, so a video
            # shows no more than whether its degradation damages the question's dimension
            damage = clip_damage_read(out / "clips" / "manifest.jsonl")
            ceiling = checklist_answer_ceiling(planted_checklist(seed=args.seed), list(damage.values()))
            ranking.notes["ceiling (an answerer that knows each clip's degradation)"] = " / ".join(
                f"{key} {value:.3f}" for key, value in ceiling.items())
            extra_rows.append(ranking)
        if recipe == "aesrm-base":
            result.notes["format share"] = parsed_share(run)
            predictions = [json.loads(line) for line in (run / "eval" / "test" / "predictions.jsonl").open()]
            # a "comparable" answer on a decided cell is a miss: chance for this judge is (1 - share) / 2
            result.notes["tie answers on decided cells"] = tie_answer_share(predictions)
            # the same pairs asked with video B first: a position bias that fits the original order's labels
            # scores high there and low here
            in_swapped_order = swapped_order_predictions(predictions)
            extra_rows.append(
                RecipeResult(f"{name}, swapped order", recipe, run, 0.0, 0.0, accuracy_table(in_swapped_order)))
        if continues:
            grpo_rewards = stage_metric(run, "grpo/reward_mean")
            first, last = first_and_last_mean(grpo_rewards)
            result.notes["GRPO reward first quarter"] = first
            result.notes["last quarter"] = last
            first, last = first_and_last_mean(stage_metric(run, "grpo/format_share"))
            result.notes["format share first quarter"] = first
            result.notes["format share last quarter"] = last
            accuracy_shares = stage_metric(run, "grpo/accuracy_share")
            first, last = first_and_last_mean(accuracy_shares)
            result.notes["accuracy share first quarter"] = first
            result.notes["accuracy share last quarter"] = last
            for label, values in (("reward", grpo_rewards), ("accuracy share", accuracy_shares)):
                slope, low, high = trend_per_100_steps(values)
                trend = f"{slope:+.4f} [{low:+.4f}, {high:+.4f}]"
                result.notes[f"{label} trend per 100 steps (95% HAC interval)"] = trend
        results += [result, *extra_rows]
        print(f"{name}: trained in {result.train_seconds:.0f} s, evaluated in {result.eval_seconds:.0f} s", flush=True)

    if not args.only or "rapo" in args.only:
        results.append(_rapo(exports["rl-prompts"], out / "runs" / "rapo", model, args, run_recipe))
    table = learning_table(results)
    learning_plot(results, out / "learning.png", grpo_rewards)
    (out / "learning.md").write_text(table)
    (out / "learning.json").write_text(json.dumps(
        [{"name": r.name, "accuracy": r.accuracy, "notes": r.notes, "train_seconds": r.train_seconds}
         for r in results], indent=1))
    print(table)
    print(f"plot: {out / 'learning.png'}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
