"""Throughput and peak memory of one training step of each rm_training VLM recipe.

Usage::

    python benchmarks/train_step.py                      # tiny random Qwen2.5-VL on CPU
    python benchmarks/train_step.py --model-path DIR     # a real-size local model (GPU if present)
    python benchmarks/train_step.py --steps 10 --frames 8 --max-pixels 12544 --batch-size 2

Each recipe runs in its own subprocess so its peak memory (CUDA max allocated, or the process's
max RSS on CPU) is its own. Step times are the best (and median) of the timed steps after warm-up
and exclude checkpoint writing; samples/s use the best step (shared CPUs make medians noisy).
For descore the same model and pre-built batch also go through a plain ``transformers.Trainer``
whose ``compute_loss`` is the same Bradley-Terry loss; the ratio compares our accelerate loop with it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECIPES = ("descore", "aesrm-sft", "aesrm-grpo", "descore-vs-hf-trainer")


def _prepare(work: Path, model_path: str | None, real_size: bool = False) -> tuple[Path, Path]:
    from rm_training.tests.export_builder import build_export, make_clips
    from rm_training.tiny import save_tiny_qwen2_5_vl

    clips = make_clips(work / "clips")
    for export_format in ("cot-sft", "aesrm-base-sft"):
        build_export(work / export_format, export_format, clips, sizes={"train": 8, "validation": 1, "test": 1})
    if model_path:
        return work, Path(model_path)
    target = work / ("real-size-model" if real_size else "tiny-model")
    model = target if (target / "config.json").is_file() else save_tiny_qwen2_5_vl(target, real_size=real_size)
    return work, model


def _config(recipe: str, model: Path, data: Path, out: Path, args):
    from rm_training.config import load_config

    return load_config(
        None,
        [
            f"video.max_frames={args.frames}",
            f"video.fps={args.fps}",
            f"video.max_pixels={args.max_pixels}",
            f"optim.batch_size={args.batch_size}",
            "optim.learning_rate=1e-4",
            "save_every=100000",
            "log_every=1",
            f"grpo.num_generations={args.generations}",
            f"grpo.max_new_tokens={args.new_tokens}",
        ],
        recipe=recipe,
        model_path=str(model),
        data=str(data),
        out=str(out),
    )


def _step_times(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [1.0 / row["steps_per_second"] for row in rows]


def _peak_memory_mb() -> float:
    from rm_training.loop import peak_memory_mb

    return peak_memory_mb()


def measure_descore(work: Path, model: Path, args) -> dict:
    """Our loop on one fixed pre-built batch (no data loading in the timed step)."""
    import torch

    from rm_training.export import open_export
    from rm_training.loop import Stage, Trainer
    from rm_training.recipes.descore import build, pairwise_loss, per_video_cots
    from rm_training.run_dir import RunDir

    out = Path(tempfile.mkdtemp(dir=work))
    config = _config("descore", model, work / "cot-sft", out, args)
    export = open_export(work / "cot-sft")
    model_, tokenizer, data = build(config, export, model)
    rows = export.rows("train")[: args.batch_size]
    cots = [per_video_cots(row) for row in rows]
    sequences = [data.sequence(r["video_a"], None, c[0]) for r, c in zip(rows, cots, strict=True)]
    sequences += [data.sequence(r["video_b"], None, c[1]) for r, c in zip(rows, cots, strict=True)]
    outcomes = torch.tensor([[1 if row["labels"][d] == "A" else -1 for d in ("VA", "VF", "VP")] for row in rows])
    trainer = Trainer(config, RunDir(out), model_, lambda module, path, state_dict: None)

    # one pre-built batch (CoT masking drawn once) for both loops: the timed step is forward,
    # loss, backward and optimizer step, with no collation inside
    fixed_batch = data.batch(sequences, config.descore.cot_mask_probability)

    def compute_loss(_indices):
        rewards = trainer.model(fixed_batch)
        return pairwise_loss(rewards[: len(rows)], rewards[len(rows) :], outcomes, config), {}

    trainer.fit([Stage("bt", args.warmup + args.steps, len(rows), compute_loss)])
    times = _step_times(out)[args.warmup :]
    step = min(times)
    return {
        "recipe": "descore",
        "step_seconds": step,
        "median_step_seconds": statistics.median(times),
        "samples_per_second": len(rows) / step,
        "times": times,
        "run": out,
        "trainer": trainer,
        "compute_loss": compute_loss,
        "fixed_batch": fixed_batch,
        "peak_memory_mb": _peak_memory_mb(),
        "sequences_per_step": len(sequences),
        "tokens_per_sequence": max(len(s.input_ids) for s in sequences),
        "batch": sequences,
        "data": data,
        "model": model_,
        "outcomes": outcomes,
        "config": config,
    }


def measure_descore_vs_hf(work: Path, model: Path, args) -> dict:
    """Same model, batch and loss through ``transformers.Trainer.compute_loss``."""
    import torch
    from transformers import Trainer as HFTrainer
    from transformers import TrainerCallback, TrainingArguments

    from rm_training.recipes.descore import pairwise_loss

    ours = measure_descore(work, model, args)
    sequences, config, outcomes = ours["batch"], ours["config"], ours["outcomes"]
    pairs = len(sequences) // 2

    class FixedBatch(torch.utils.data.Dataset):
        def __len__(self):
            return 10**6

        def __getitem__(self, index):
            return index

    class DescoreHFTrainer(HFTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            rewards = model(inputs)
            loss = pairwise_loss(rewards[:pairs], rewards[pairs:], outcomes, config)
            return (loss, rewards) if return_outputs else loss

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self._start = [], 0.0

        def on_step_begin(self, *_, **__):
            self._start = time.perf_counter()

        def on_step_end(self, *_, **__):
            self.times.append(time.perf_counter() - self._start)

    timer = StepTimer()
    arguments = TrainingArguments(
        output_dir=str(Path(tempfile.mkdtemp(dir=work))),
        max_steps=args.warmup + args.steps,
        per_device_train_batch_size=1,
        learning_rate=1e-4,
        save_strategy="no",
        report_to=[],
        logging_strategy="no",
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        max_grad_norm=1.0,
    )
    hf = DescoreHFTrainer(
        model=ours["model"],
        args=arguments,
        train_dataset=FixedBatch(),
        data_collator=lambda _items: ours["fixed_batch"],
        callbacks=[timer],
    )
    # Alternate rounds of our loop and the Trainer on the same model so that load from other
    # processes hits both alike; the best step of each side is compared.
    from rm_training.loop import Stage

    ours_times, hf_times = list(ours["times"]), []
    trainer = ours["trainer"]
    for _ in range(args.rounds):
        hf.train()
        hf_times += timer.times[args.warmup :]
        timer.times = []
        before = len(_step_times(ours["run"]))
        trainer.fit([Stage("bt", trainer.step + args.warmup + args.steps, len(sequences), ours["compute_loss"])])
        ours_times += _step_times(ours["run"])[before + args.warmup :]
    ours_best, hf_best = min(ours_times), min(hf_times)
    return {
        "recipe": "descore-vs-hf-trainer",
        "ours_step_seconds": ours_best,
        "hf_trainer_step_seconds": hf_best,
        "ours_median": statistics.median(ours_times),
        "hf_median": statistics.median(hf_times),
        "ratio_ours_over_hf": ours_best / hf_best,
        "samples_per_second": pairs / hf_best,
        "peak_memory_mb": _peak_memory_mb(),
    }


def measure_aesrm(work: Path, model: Path, args, stage: str) -> dict:
    """A full step of the aesrm-base recipe (data encoding included: videos are cached after the
    first step, so this is tokenization + forward/backward, or generation + update for GRPO)."""
    from rm_training.export import open_export
    from rm_training.recipes import aesrm
    from rm_training.run_dir import RunDir

    out = Path(tempfile.mkdtemp(dir=work))
    config = _config("aesrm-base", model, work / "aesrm-base-sft", out, args)
    steps = args.warmup + args.steps
    config.stages.sft_steps = steps if stage == "sft" else 1
    config.stages.grpo_steps = steps if stage == "grpo" else 0
    run = RunDir(out)
    export = open_export(work / "aesrm-base-sft")
    run.start(config, export)
    aesrm.train(config, export, run)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    times = [1.0 / row["steps_per_second"] for row in rows if row["stage"] == stage][args.warmup :]
    step = min(times)
    prompts = args.batch_size
    samples = prompts * (args.generations if stage == "grpo" else 1)
    return {
        "recipe": f"aesrm-{stage}",
        "step_seconds": step,
        "median_step_seconds": statistics.median(times),
        "samples_per_second": samples / step,
        "peak_memory_mb": _peak_memory_mb(),
        "note": f"{prompts} prompts x {args.generations} generations" if stage == "grpo" else f"{prompts} pairs",
    }


def run_one(name: str, args) -> dict:
    work, model = _prepare(Path(args.work), args.model_path, args.real_size)
    if name == "descore":
        result = measure_descore(work, model, args)
        hidden = (
            "batch",
            "data",
            "model",
            "outcomes",
            "config",
            "times",
            "run",
            "trainer",
            "compute_loss",
            "fixed_batch",
        )
        return {k: v for k, v in result.items() if k not in hidden}
    if name == "descore-vs-hf-trainer":
        return measure_descore_vs_hf(work, model, args)
    return measure_aesrm(work, model, args, name.split("-")[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", help="local model folder (default: a tiny random Qwen2.5-VL)")
    parser.add_argument(
        "--real-size",
        action="store_true",
        help="GPU only: a random Qwen2.5-VL with 3B shapes instead of the tiny model",
    )
    parser.add_argument("--steps", type=int, default=5, help="timed steps per recipe")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=2, help="pairs (or prompts) per step")
    parser.add_argument("--frames", type=int, default=4, help="max frames per video")
    parser.add_argument("--fps", type=float, default=4.0)
    parser.add_argument("--max-pixels", type=int, default=56 * 56, help="pixel budget per frame")
    parser.add_argument("--generations", type=int, default=4, help="GRPO K")
    parser.add_argument("--new-tokens", type=int, default=32, help="GRPO completion length")
    parser.add_argument("--rounds", type=int, default=3, help="alternating ours / Trainer rounds for descore")
    parser.add_argument("--only", choices=RECIPES, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        print(json.dumps(run_one(args.only, args)))
        return
    import torch

    if args.real_size and not torch.cuda.is_available():
        parser.error("--real-size needs a CUDA GPU (a 3B model step on CPU says nothing useful)")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    default_model = "random Qwen2.5-VL, 3B shapes" if args.real_size else "tiny random Qwen2.5-VL (2 layers, hidden 32)"
    print(f"device: {device}; model: {args.model_path or default_model}")
    print(
        f"batch size {args.batch_size}, max frames {args.frames} at {args.fps} fps, "
        f"pixel budget {args.max_pixels} per frame, GRPO K={args.generations}, {args.new_tokens} new tokens"
    )
    with tempfile.TemporaryDirectory() as work:
        _prepare(Path(work), args.model_path, args.real_size)  # build once; children reuse clips and model
        forwarded = [a for a in sys.argv[1:]]
        for name in RECIPES:
            output = subprocess.run(
                [sys.executable, __file__, *forwarded, "--only", name, "--work", work],
                capture_output=True,
                text=True,
                check=False,
            )
            if output.returncode != 0:
                print(f"{name}: FAILED\n{output.stderr[-2000:]}")
                continue
            result = json.loads(output.stdout.strip().splitlines()[-1])
            if name == "descore-vs-hf-trainer":
                print(
                    f"descore step (best of alternating rounds): ours {result['ours_step_seconds'] * 1000:.1f} ms "
                    f"vs transformers.Trainer {result['hf_trainer_step_seconds'] * 1000:.1f} ms -> ratio "
                    f"{result['ratio_ours_over_hf']:.2f} (medians {result['ours_median'] * 1000:.1f} / "
                    f"{result['hf_median'] * 1000:.1f} ms)"
                )
            else:
                print(
                    f"{result['recipe']:<11} step {result['step_seconds'] * 1000:8.1f} ms "
                    f"(median {result['median_step_seconds'] * 1000:7.1f})  "
                    f"{result['samples_per_second']:7.2f} samples/s  peak memory {result['peak_memory_mb']:7.1f} MB"
                    + (f"  ({result['note']})" if "note" in result else "")
                )


if __name__ == "__main__":
    main()
