"""Real-size GPU check of rm_training: random-weight Qwen2.5-VL-3B and -7B (bf16, no downloads).

Run through ``benchmarks/gpu_check.sh`` (which checks the Python it runs on first). For each model
shape it runs a few steps of ``descore`` and of ``aesrm-cot`` GRPO, with LoRA and full fine-tuning,
through ``python -m rm_training train`` in a child process each, and a plain ``transformers.Trainer``
on the same model and a batch of the same shape as the descore step (two sequences of one video and
the text, causal-LM loss), and TRL's ``GRPOTrainer`` on the same model with the frames given as images
(when trl and datasets are installed); ``aesrm-cot+vllm`` is the aesrm-cot GRPO case with
``grpo.backend=vllm`` (when vllm is installed; never in the dry run). It prints step time, samples/s
and peak GPU memory beside what ``python -m rm_training plan`` predicts for that case (plus the vLLM
engine's share of the GPU); cases the plan says do not fit are skipped.

Checkpoint writing is not measured: the children replace ``Trainer.save_checkpoint`` by a no-op (a
full 7B checkpoint with optimizer states is ~100 GB). ``--dry-run`` does the same with the tiny
model on CPU, one step each, so that every code path here runs without a GPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = ("qwen2.5-vl-3b", "qwen2.5-vl-7b")
LORA_RANK = 64
VLLM_GPU_SHARE = 0.3  # grpo.vllm_gpu_memory_utilization's default, held by the vLLM engine beside training


def make_clips(directory: Path, side: int, seconds: int) -> dict[str, list[Path]]:
    """Four lively and four flat lavfi clips of ``side`` x ``side`` pixels."""
    sources = {"good": ["testsrc2", "mandelbrot", "life=mold=10:ratio=0.5", "smptehdbars"],
               "bad": ["color=c=gray", "color=c=black", "color=c=darkblue", "color=c=olive"]}
    directory.mkdir(parents=True, exist_ok=True)
    clips: dict[str, list[Path]] = {"good": [], "bad": []}
    for kind, names in sources.items():
        for index, name in enumerate(names):
            path = directory / f"{kind}{index}.mp4"
            source = f"{name}{':' if '=' in name else '='}size={side}x{side}:rate=8"
            subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", source, "-t", str(seconds),
                            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
            clips[kind].append(path)
    return clips


def save_random_model(path: Path, shape: str | None, device: str) -> Path:
    """A random-weight Qwen2.5-VL of the shipped ``shape`` (None: the tiny test model) with the tiny
    tokenizer; the real vocabulary is kept (the tokenizer's ids are a subset), weights saved in bf16."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from rm_training.plan import MODELS_DIR, read_model_config
    from rm_training.tiny import build_tiny_tokenizer, save_tiny_qwen2_5_vl

    if shape is None:
        return save_tiny_qwen2_5_vl(path)
    tokenizer = build_tiny_tokenizer()
    values = read_model_config(MODELS_DIR / f"{shape}.json")
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    values.update(ids)
    values["text_config"].update(bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
                                 eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                                 pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig.from_dict(values)).to(torch.bfloat16)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return path


def max_text_tokens(args) -> int:
    """A cap above any sequence here (it counts the video tokens too): two videos, the text, the completion."""
    side = int(args.frame_pixels**0.5) // 28 * 28
    visual = (args.frames + 1) // 2 * (side // 28) ** 2
    return 2 * visual + args.text_tokens + args.new_tokens + 512


def case_overrides(args, lora: bool) -> list[str]:
    precision = '"no"' if args.dry_run else "bf16"  # quoted: YAML reads a bare no as false
    return [
        f"mixed_precision={precision}", f"lora_rank={LORA_RANK if lora else 0}", "optim.gradient_checkpointing=true",
        "optim.batch_size=1", "optim.learning_rate=1e-5", f"video.max_frames={args.frames}", f"video.fps={args.fps}",
        f"video.max_pixels={args.frame_pixels}", f"video.min_pixels={args.frame_pixels}",
        f"max_text_tokens={max_text_tokens(args)}", f"grpo.num_generations={args.generations}",
        f"grpo.max_new_tokens={args.new_tokens}", "save_every=100000", "log_every=1",
    ]


def predicted_peak_gib(shape: str | None, recipe: str, lora: bool, args, gpu_gib: float) -> float | None:
    """The plan's peak for this case (None for the tiny model, which has no shipped config)."""
    from rm_training.plan import GIB, MODELS_DIR, ModelShape, PlanOptions, read_model_config, stage_budget

    if shape is None:
        return None
    options = PlanOptions(
        lora_rank=LORA_RANK if lora else 0, optimizer_bytes=8 if lora else 4, micro_batch=1,
        text_tokens=args.text_tokens, prompt_text_tokens=args.text_tokens, frames=args.frames,
        frame_pixels=args.frame_pixels, group_size=args.generations, completion_tokens=args.new_tokens,
        gpu_memory_gib=gpu_gib, overhead_gib=0.0,
    )
    model_shape = ModelShape.from_config(read_model_config(MODELS_DIR / f"{shape}.json"))
    stage = "descore" if recipe in ("descore", "hf-trainer") else "grpo"
    vllm_share = VLLM_GPU_SHARE * gpu_gib if recipe.endswith("+vllm") else 0.0
    budget = stage_budget(model_shape, options, "aesrm-cot" if stage == "grpo" else "descore", stage)
    return budget.peak / GIB + vllm_share


# --- children: one case each, so that peak memory is the case's own ---------------------------------


def child_train(args) -> dict:
    """``python -m rm_training train`` with checkpoint writing switched off."""
    from rm_training import cli, loop

    loop.Trainer.save_checkpoint = lambda self, stage: None
    steps = args.warmup + args.steps
    recipe, _, backend = args.case.split(":")[0].partition("+")
    stages = ["stages.sft_steps=" + str(steps)] if recipe == "descore" else [
        "stages.sft_steps=0", f"stages.grpo_steps={steps}", "grpo.kl_beta=0.01"]
    if backend:
        stages.append(f"grpo.backend={backend}")
    out = Path(args.work) / f"run-{args.case.replace(':', '-')}"
    code = cli.main(["train", "--recipe", recipe, "--data", str(Path(args.work) / "export"), "--out", str(out),
                     f"model_path={args.model}", *case_overrides(args, args.case.endswith("lora")), *stages])
    if code != 0:
        raise SystemExit(code)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "steps_per_second" in row][args.warmup:]
    times = [1.0 / row["steps_per_second"] for row in rows]
    samples = 1 if recipe == "descore" else args.generations  # pairs, or completions of one prompt
    return {"step_seconds": statistics.median(times), "samples_per_second": samples / statistics.median(times),
            "peak_memory_mb": max(row["peak_memory_mb"] for row in rows)}


def child_hf_trainer(args) -> dict:
    """A plain transformers.Trainer: the same model, two sequences of one packed video + text (the
    descore step's shape), causal-LM loss on every token."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    from rm_training.loop import peak_memory_mb
    from rm_training.modeling import apply_lora

    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.bfloat16 if cuda else torch.float32)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    lora = args.case.endswith("lora")
    if lora:
        model.enable_input_require_grads()
        model = apply_lora(model, LORA_RANK)
    side = int(args.frame_pixels**0.5) // 28 * 28
    grid = [(args.frames + 1) // 2, side // 14, side // 14]
    visual = grid[0] * grid[1] * grid[2] // 4
    ids = tokenizer.convert_tokens_to_ids
    # no added token in the text: a <|video_pad|> there would not match the video's features
    plain = [index for index in range(len(tokenizer)) if index not in set(tokenizer.get_added_vocab().values())]
    text = [plain[i] for i in torch.randint(0, len(plain), (args.text_tokens,)).tolist()]
    row = [ids("<|vision_start|>")] + [ids("<|video_pad|>")] * visual + [ids("<|vision_end|>")] + text
    input_ids = torch.tensor([row, row])
    batch = {
        "input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": input_ids.clone(),
        "pixel_values_videos": torch.randn(2 * grid[0] * grid[1] * grid[2], 3 * 2 * 14 * 14),
        "video_grid_thw": torch.tensor([grid, grid]),
        "mm_token_type_ids": (input_ids == ids("<|video_pad|>")).int() * 2,
    }

    Timer = step_timer_class(TrainerCallback, cuda)

    class Repeat(torch.utils.data.Dataset):
        def __len__(self):
            return 10**6

        def __getitem__(self, index):
            return index

    timer = Timer()
    arguments = TrainingArguments(
        output_dir=str(Path(args.work) / f"hf-{args.case.replace(':', '-')}"), max_steps=args.warmup + args.steps,
        per_device_train_batch_size=1, learning_rate=1e-5, bf16=cuda, save_strategy="no", report_to=[],
        logging_strategy="no", use_cpu=not cuda, disable_tqdm=True, remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    Trainer(model=model, args=arguments, train_dataset=Repeat(), data_collator=lambda _rows: batch,
            callbacks=[timer]).train()
    step = statistics.median(timer.times[args.warmup:])
    return {"step_seconds": step, "samples_per_second": 1 / step, "peak_memory_mb": peak_memory_mb()}


# A Qwen chat template with image parts: the random models carry the tiny tokenizer, which has none.
IMAGE_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def step_timer_class(callback_base, cuda: bool):
    """A transformers TrainerCallback that records each optimizer step's wall time (GPU work finished)."""
    import torch

    class StepTimer(callback_base):
        def __init__(self):
            self.times: list[float] = []
            self.start = 0.0

        def on_step_begin(self, *_, **__):
            if cuda:
                torch.cuda.synchronize()
            self.start = time.perf_counter()

        def on_step_end(self, *_, **__):
            if cuda:
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.start)

    return StepTimer


def image_processor_for(tokenizer, frame_pixels: int):
    """A Qwen2.5-VL processor (frames as images at ``frame_pixels``) around the model's tokenizer.

    transformers checks the processor's video-processor class, and looking it up needs torchvision: on
    a machine without it (the CPU dry run) that one class check is skipped, nothing else."""
    from transformers import Qwen2_5_VLProcessor, processing_utils
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    if importlib.util.find_spec("torchvision") is None:
        processing_utils.ProcessorMixin.check_argument_for_proper_class = lambda self, name, argument: None
    images = Qwen2VLImageProcessorPil(min_pixels=frame_pixels, max_pixels=frame_pixels)
    return Qwen2_5_VLProcessor(image_processor=images, tokenizer=tokenizer, chat_template=IMAGE_CHAT_TEMPLATE)


def missing_for_trl() -> str:
    """The TRL baseline's packages this Python lacks ("" when it has them): optional, unlike the rest."""
    return ", ".join(name for name in ("trl", "datasets") if importlib.util.find_spec(name) is None)


def child_trl_grpo(args) -> dict:
    """TRL's GRPOTrainer on the same model: one prompt per step with the frames of two clips given as
    images (an image is not merged in time as a video's frame pairs are: twice the visual tokens of
    the aesrm-cot prompt), K = --generations completions of --new-tokens, KL 0.01, generate on the
    policy (no vLLM), checkpointing, LoRA or full. samples/s counts completions, as for aesrm-cot."""
    import numpy as np
    import torch
    from datasets import Dataset
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rm_training.loop import peak_memory_mb

    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    processor = image_processor_for(tokenizer, args.frame_pixels)
    side = int(args.frame_pixels**0.5) // 28 * 28
    noise = np.random.default_rng(0)
    frames = [Image.fromarray(noise.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(2 * args.frames)]
    question = " ".join(["Compare the two videos on every criterion."] * max(1, args.text_tokens // 8))
    prompt = [{"role": "user", "content": [*({"type": "image"} for _ in frames), {"type": "text", "text": question}]}]
    dataset = Dataset.from_list([{"prompt": prompt, "images": frames}] * 8)

    def length_reward(completions, **_):
        return [float(len(str(completion))) for completion in completions]

    Timer = step_timer_class(TrainerCallback, cuda)

    lora = args.case.endswith("lora")
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK,
                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    arguments = GRPOConfig(
        output_dir=str(Path(args.work) / f"trl-{args.case.replace(':', '-')}"), max_steps=args.warmup + args.steps,
        per_device_train_batch_size=args.generations, num_generations=args.generations,
        max_completion_length=args.new_tokens, learning_rate=1e-5, beta=0.01, gradient_checkpointing=True,
        bf16=cuda, use_cpu=not cuda, save_strategy="no", report_to=[], logging_strategy="no", disable_tqdm=True,
    )
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.bfloat16 if cuda else torch.float32)
    timer = Timer()
    GRPOTrainer(model=model, reward_funcs=length_reward, args=arguments, train_dataset=dataset,
                processing_class=processor, peft_config=peft_config, callbacks=[timer]).train()
    step = statistics.median(timer.times[args.warmup:])
    return {"step_seconds": step, "samples_per_second": args.generations / step, "peak_memory_mb": peak_memory_mb()}


# --- the parent -------------------------------------------------------------------------------


def cases() -> list[str]:
    names = []
    for recipe in ("descore", "aesrm-cot", "aesrm-cot+vllm", "hf-trainer", "trl-grpo"):
        names += [f"{recipe}:lora", f"{recipe}:full"]
    return names


def run_case(case: str, model: Path, work: Path, args, timeout: float) -> dict:
    forwarded = ["--frames", str(args.frames), "--fps", str(args.fps), "--frame-pixels", str(args.frame_pixels),
                 "--text-tokens", str(args.text_tokens), "--generations", str(args.generations),
                 "--new-tokens", str(args.new_tokens), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.dry_run:
        forwarded.append("--dry-run")
    command = [sys.executable, __file__, *forwarded, "--case", case, "--model", str(model), "--work", str(work)]
    try:
        output = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {timeout:.0f} s (time budget)"}
    if output.returncode != 0:
        return {"error": (output.stderr or output.stdout)[-1500:]}
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="tiny model on CPU, one step per case")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--cases", nargs="+", choices=cases(), help="run only these cases (default: all)")
    parser.add_argument("--budget-seconds", type=float, default=440, help="stop starting cases after this")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--frame-pixels", type=int, default=448 * 448)
    parser.add_argument("--text-tokens", type=int, default=256, help="text tokens besides the videos (the "
                        "export's prompt and critique are about this long; the Trainer baseline uses this many)")
    parser.add_argument("--generations", type=int, default=4, help="GRPO K")
    parser.add_argument("--new-tokens", type=int, default=64, help="GRPO completion length")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        children = {"hf-trainer": child_hf_trainer, "trl-grpo": child_trl_grpo}
        child = children.get(args.case.split(":")[0], child_train)
        print(json.dumps(child(args)))
        return
    import torch

    from rm_training.tests.export_builder import build_export

    started = time.monotonic()
    cuda = torch.cuda.is_available()
    if not cuda and not args.dry_run:
        parser.error("no CUDA GPU: run with --dry-run for the CPU check of this script")
    if args.dry_run:
        args.frames, args.fps, args.frame_pixels, args.text_tokens = 4, 4.0, 56 * 56, 32
        args.steps, args.warmup, args.new_tokens, args.generations = 1, 0, 8, 2
    gpu_gib = torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else 0.0
    device = torch.cuda.get_device_name(0) if cuda else "CPU (dry run, tiny model)"
    print(f"device: {device} ({gpu_gib:.1f} GiB); torch {torch.__version__}; frames {args.frames} at "
          f"{args.frame_pixels} px, {args.text_tokens} text tokens, GRPO K={args.generations}, "
          f"{args.new_tokens} new tokens; {args.warmup} warm-up + {args.steps} timed steps")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        side = int(args.frame_pixels**0.5) // 28 * 28
        seconds = max(1, int(args.frames / args.fps))
        build_export(work / "export", "cot-sft", make_clips(work / "clips", side, seconds),
                     sizes={"train": 4, "validation": 1, "test": 1})
        for shape in [None] if args.dry_run else args.shapes:
            model = save_random_model(work / (shape or "tiny"), shape, "cuda" if cuda else "cpu")
            print(f"\n{shape or 'tiny'} (random weights, built in {time.monotonic() - started:.0f} s so far)")
            print(f"  {'case':<20}{'step s':>9}{'samples/s':>11}{'peak GiB':>10}{'plan GiB':>10}")
            for case in args.cases or cases():
                recipe, tuning = case.split(":")
                plan = predicted_peak_gib(shape, recipe, tuning == "lora", args, gpu_gib)
                left = args.budget_seconds - (time.monotonic() - started)
                if plan is not None and plan > gpu_gib:
                    print(f"  {case:<20} skipped: the plan says {plan:.1f} GiB > {gpu_gib:.1f} GiB")
                    continue
                if left < 20:
                    print(f"  {case:<20} skipped: time budget spent")
                    continue
                if recipe == "trl-grpo" and missing_for_trl():
                    print(f"  {case:<20} skipped: {missing_for_trl()} not installed")
                    continue
                if recipe.endswith("+vllm") and (args.dry_run or importlib.util.find_spec("vllm") is None):
                    print(f"  {case:<20} skipped: {'no GPU (dry run)' if args.dry_run else 'vllm not installed'}")
                    continue
                result = run_case(case, model, work, args, left)
                if "error" in result:
                    print(f"  {case:<20} FAILED: {result['error']}")
                    continue
                planned = f"{plan:10.1f}" if plan is not None else f"{'-':>10}"
                print(f"  {case:<20}{result['step_seconds']:9.3f}{result['samples_per_second']:11.2f}"
                      f"{result['peak_memory_mb'] / 1024:10.2f}{planned}")
            if shape:
                subprocess.run(["rm", "-rf", str(work / shape)], check=False)  # free the disk for the next shape
    print(f"\ntotal {time.monotonic() - started:.0f} s; descore samples are pairs, aesrm-cot samples are "
          "completions; hf-trainer: transformers.Trainer, causal-LM loss on the descore step's shape "
          "(its plan column is the descore figure); trl-grpo: TRL's GRPOTrainer, the frames as images (twice "
          "aesrm-cot's visual tokens), K completions per step (its plan column is aesrm-cot's)")


if __name__ == "__main__":
    main()
