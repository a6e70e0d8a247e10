"""Memory plan: what one GPU holds for a recipe at real size, worked out before launching.

``python -m rm_training plan --recipe R --model-config CONFIG.json [key=value ...]`` counts the
parameters from the config JSON (vision tower + language model, no weights loaded) and adds up,
per GPU, the weights, optimizer states, gradients, activations, logits, reference model, generation
KV cache and a fixed overhead, for the sharding given by ``PlanOptions``. The defaults come from the
recipe's example config in ``configs/`` (the seeds' hyper-parameters).

It is arithmetic, not a measurement: the assumptions are written next to each term below and
printed with the plan. Sizes are GiB (2**30 bytes), as ``torch.cuda`` reports them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from rm_training.config import ConfigError, load_config, parse_overrides
from rm_training.config import _build as build_config
from rm_training.video import DEFAULT_MAX_PIXELS

GIB = 2**30
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
MODELS_DIR = CONFIG_DIR / "models"
STRATEGIES = ("none", "ddp", "fsdp", "zero3")
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
# peft's LoRA targets in modeling.apply_lora: the language model's attention projections only (the
# vision tower names its projections qkv / proj, so it stays frozen under LoRA).
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass
class PlanOptions:
    gpus: int = field(default=1, metadata=_help("number of GPUs"))
    strategy: str = field(default="none", metadata=_help("none / ddp / fsdp / zero3 (fsdp and zero3 shard "
                                                         "weights, gradients and optimizer states over the GPUs)"))
    dtype: str = field(default="bf16", metadata=_help("weight and activation dtype: bf16 / fp16 / fp32"))
    lora_rank: int = field(default=0, metadata=_help("LoRA rank on q/k/v/o of the language model (0 = full)"))
    gradient_checkpointing: bool = field(default=True, metadata=_help("recompute each decoder layer in backward"))
    optimizer_bytes: int = field(default=0, metadata=_help(
        "AdamW bytes per trainable parameter: 0 = auto (8 with LoRA, 12 for full fine-tuning); 4 = bf16 m and v "
        "(torch AdamW on bf16 weights); 8 = fp32 m and v; 12 = + fp32 master weights (mixed precision, "
        "DeepSpeed / FSDP); 16 = + an fp32 gradient accumulation buffer"))
    micro_batch: int = field(default=1, metadata=_help("pairs (descore, SFT) or prompts (GRPO) per GPU per step"))
    text_tokens: int = field(default=1024, metadata=_help(
        "text tokens of an SFT / descore sequence besides the videos (default: the config's max_text_tokens less "
        "the video tokens)"))
    prompt_text_tokens: int = field(default=512, metadata=_help("GRPO prompt text tokens besides the videos"))
    frames: int = field(default=16, metadata=_help("frames per video"))
    frame_pixels: int = field(default=448 * 448, metadata=_help("pixels per frame after resizing"))
    group_size: int = field(default=8, metadata=_help("GRPO K completions per prompt"))
    completion_tokens: int = field(default=2048, metadata=_help("GRPO completion length"))
    update_sequences: int = field(default=0, metadata=_help(
        "GRPO sequences per policy forward/backward (0 = the whole group: micro_batch x group_size)"))
    reference: str = field(default="auto", metadata=_help(
        "GRPO reference model: auto (LoRA: the base with the adapter disabled, nothing extra; full: a frozen "
        "copy sharded like the policy) / none / copy"))
    logit_chunk: int = field(default=1024, metadata=_help("GRPO: completion tokens per fp32 log-softmax chunk"))
    gpu_memory_gib: float = field(default=79.2, metadata=_help(
        "memory of one GPU as torch reports it (80 GB H100/A100: 79.2; H200 141 GB: 139.8)"))
    overhead_gib: float = field(default=2.0, metadata=_help("CUDA context, NCCL buffers, allocator slack"))

    def __post_init__(self):
        _check(self.gpus >= 1, "gpus must be >= 1")
        _check(self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}")
        _check(self.strategy != "none" or self.gpus == 1, "strategy=none runs on one GPU: set gpus=1 or a strategy")
        _check(self.dtype in DTYPE_BYTES, "dtype must be bf16, fp16 or fp32")
        _check(self.lora_rank >= 0, "lora_rank must be >= 0")
        _check(self.optimizer_bytes in (0, 4, 8, 12, 16), "optimizer_bytes must be 0 (auto), 4, 8, 12 or 16")
        _check(min(self.micro_batch, self.frames, self.group_size, self.completion_tokens) >= 1,
               "micro_batch, frames, group_size and completion_tokens must be >= 1")
        _check(min(self.text_tokens, self.prompt_text_tokens, self.update_sequences) >= 0,
               "text_tokens, prompt_text_tokens and update_sequences must be >= 0")
        _check(self.frame_pixels >= 28 * 28, "frame_pixels must be >= 784 (one 28x28 merged patch)")
        _check(self.reference in ("auto", "none", "copy"), "reference must be auto, none or copy")
        _check(self.logit_chunk >= 1, "logit_chunk must be >= 1")
        _check(self.gpu_memory_gib > 0 and self.overhead_gib >= 0, "gpu_memory_gib > 0 and overhead_gib >= 0")

    @property
    def adam_bytes(self) -> int:
        if self.optimizer_bytes:
            return self.optimizer_bytes
        return 8 if self.lora_rank else 12  # fp32 adapters need no master copy

    @property
    def shards(self) -> int:
        return self.gpus if self.strategy in ("fsdp", "zero3") else 1


# --- parameter counting -----------------------------------------------------------------------


@dataclass
class ModelShape:
    """The numbers of a Qwen2.5-VL config JSON that memory depends on."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tie_word_embeddings: bool
    vision_depth: int
    vision_hidden_size: int
    vision_intermediate_size: int
    vision_out_hidden_size: int
    patch_size: int
    temporal_patch_size: int
    spatial_merge_size: int
    in_channels: int

    @classmethod
    def from_config(cls, config: dict) -> ModelShape:
        # transformers 5 nests the language model under text_config; older hub files keep it at the top
        text = config.get("text_config") or config
        vision = config.get("vision_config")
        try:
            _check(isinstance(vision, dict), "the config has no vision_config")
            hidden, heads = int(text["hidden_size"]), int(text["num_attention_heads"])
            tied = text.get("tie_word_embeddings", config.get("tie_word_embeddings", False))
            return cls(
                vocab_size=int(text["vocab_size"]), hidden_size=hidden,
                intermediate_size=int(text["intermediate_size"]), num_layers=int(text["num_hidden_layers"]),
                num_heads=heads, num_kv_heads=int(text.get("num_key_value_heads") or heads),
                head_dim=int(text.get("head_dim") or hidden // heads), tie_word_embeddings=bool(tied),
                vision_depth=int(vision["depth"]), vision_hidden_size=int(vision["hidden_size"]),
                vision_intermediate_size=int(vision["intermediate_size"]),
                vision_out_hidden_size=int(vision.get("out_hidden_size") or hidden),
                patch_size=int(vision.get("patch_size", 14)),
                temporal_patch_size=int(vision.get("temporal_patch_size", 2)),
                spatial_merge_size=int(vision.get("spatial_merge_size", 2)),
                in_channels=int(vision.get("in_channels", vision.get("in_chans", 3))),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"not a Qwen2.5-VL config: missing or bad {error}") from None

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim


def vision_parameters(shape: ModelShape) -> int:
    """Qwen2.5-VL vision tower: conv patch embedding (no bias); per block two RMSNorms, fused qkv and
    output projection (with biases), gated MLP (with biases); the patch merger (RMSNorm + 2 linears)."""
    h, i = shape.vision_hidden_size, shape.vision_intermediate_size
    patch = shape.in_channels * shape.temporal_patch_size * shape.patch_size**2 * h
    block = 2 * h + (3 * h * h + 3 * h) + (h * h + h) + 2 * (h * i + i) + (i * h + h)
    merged = h * shape.spatial_merge_size**2
    merger = h + (merged * merged + merged) + (merged * shape.vision_out_hidden_size + shape.vision_out_hidden_size)
    return patch + shape.vision_depth * block + merger


def language_parameters(shape: ModelShape) -> int:
    """Qwen2 decoder: embeddings; per layer two RMSNorms, q/k/v with biases (GQA: k and v have
    num_kv_heads heads), o without bias, gate/up/down without bias; final norm; lm_head unless tied."""
    h, i = shape.hidden_size, shape.intermediate_size
    attention = (h * shape.q_dim + shape.q_dim) + 2 * (h * shape.kv_dim + shape.kv_dim) + shape.q_dim * h
    layer = 2 * h + attention + 3 * h * i
    lm_head = 0 if shape.tie_word_embeddings else shape.vocab_size * h
    return shape.vocab_size * h + shape.num_layers * layer + h + lm_head


def lora_parameters(shape: ModelShape, rank: int) -> int:
    """A (rank x in) and B (out x rank) for q, k, v and o of every decoder layer."""
    h = shape.hidden_size
    per_layer = rank * ((h + shape.q_dim) + 2 * (h + shape.kv_dim) + (shape.q_dim + h))
    return shape.num_layers * per_layer


def meta_parameter_count(config: dict) -> int:
    """The same count from transformers itself: the model built on the ``meta`` device (no memory)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig.from_dict(config))
    return sum(parameter.numel() for parameter in model.parameters())


def read_model_config(path: Path | str) -> dict:
    path = Path(path)
    if not path.is_file() and (MODELS_DIR / f"{path}.json").is_file():
        path = MODELS_DIR / f"{path}.json"  # a shipped name such as qwen2.5-vl-7b
    if not path.is_file():
        raise ConfigError(f"model config {path} does not exist")
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"model config {path}: {error}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"model config {path} must hold a JSON object")
    return loaded


# --- the plan ---------------------------------------------------------------------------------


def recipe_defaults(recipe: str, config_file: Path | str | None = None) -> tuple[dict, list[str]]:
    """Plan options and stages from a training config (default: the recipe's example in configs/)."""
    if recipe == "checklist-linear":
        raise ConfigError("checklist-linear trains a logistic regression on CPU: there is no GPU memory to plan")
    path = Path(config_file) if config_file else CONFIG_DIR / f"{recipe}-qwen2.5-vl-7b.yaml"
    train = load_config(path, [], recipe=recipe, model_path="(not loaded by plan)")
    # max_text_tokens caps the whole sequence, video placeholders included: the text is what is left
    videos = 1 if recipe in ("descore", "rapo", "checklist-vlm") else 2
    # an unset budget is the model folder's at run time, not read here: the default stands in for it
    frame_pixels = train.video.max_pixels or DEFAULT_MAX_PIXELS
    visual = videos * math.ceil(train.video.max_frames / 2) * (frame_pixels // 28**2)
    strategy = {"none": "none", "ddp": "ddp", "fsdp": "fsdp", "deepspeed": "zero3"}[train.distributed]
    # the start reference after a cold start is a copy even with LoRA (its adapter merged into the base); with no
    # stage before GRPO it is the base, as with grpo.reference=base
    trained_before_grpo = train.stages.atomic_steps + train.stages.reasoning_steps + train.stages.sft_steps > 0
    start_reference_is_a_copy = train.grpo.reference == "start" and trained_before_grpo
    defaults = {
        "strategy": strategy,
        "dtype": "fp32" if train.mixed_precision == "no" else train.mixed_precision,
        "lora_rank": train.lora_rank,
        "gradient_checkpointing": train.optim.gradient_checkpointing,
        "micro_batch": train.optim.batch_size,
        "text_tokens": max(train.max_text_tokens - visual, 0),
        "frames": train.video.max_frames,
        "frame_pixels": frame_pixels,
        "group_size": train.grpo.num_generations,
        "completion_tokens": train.grpo.max_new_tokens,
        "reference": "none" if train.grpo.kl_beta == 0 else "copy" if start_reference_is_a_copy else "auto",
    }
    if recipe == "descore":  # the reasoning SFT is lighter than the scoring stage; the dual RL stage is GRPO
        stages = ["descore"] + (["grpo"] if train.stages.grpo_steps > 0 and train.descore.use_cot else [])
    else:
        stages = (["sft"] if train.stages.atomic_steps + train.stages.sft_steps > 0 else []) + (
            ["grpo"] if train.stages.grpo_steps > 0 else [])
    return defaults, stages


def plan_options(defaults: dict, overrides: list[str]) -> PlanOptions:
    """Defaults <- ``key=value`` overrides, type-checked like the training config. More than one GPU
    without a strategy given means DDP (the example configs without one are single-GPU recipes)."""
    given = parse_overrides(overrides)
    values = {**defaults, **given}
    if values.get("strategy") == "none" and "strategy" not in given and values.get("gpus", 1) != 1:
        values["strategy"] = "ddp"
    return build_config(PlanOptions, values)


def visual_tokens_per_video(shape: ModelShape, options: PlanOptions) -> int:
    """Merged visual tokens the language model sees for one video: frames are grouped by the
    temporal patch (2), each frame cut into (patch x merge)^2 = 28x28-pixel tokens."""
    groups = math.ceil(options.frames / shape.temporal_patch_size)
    return groups * (options.frame_pixels // (shape.patch_size * shape.spatial_merge_size) ** 2)


@dataclass
class Budget:
    """Bytes per GPU, by term; ``peak`` adds the larger of the training and the generation phase."""

    stage: str
    sequences: int
    tokens_per_sequence: int
    lines: dict[str, float]
    static: tuple[str, ...]
    training: tuple[str, ...]
    generation: tuple[str, ...]
    notes: list[str]

    @property
    def peak(self) -> float:
        static = sum(self.lines[name] for name in self.static)
        training = sum(self.lines[name] for name in self.training)
        generation = sum(self.lines[name] for name in self.generation)
        return static + max(training, generation)


def _layer_activation_bytes(hidden: int, kv_dim: int, intermediate: int, dtype_bytes: int) -> int:
    """Tensors one decoder layer keeps per token for backward (flash / SDPA attention: no
    seq x seq matrix): the two residual inputs and norm outputs (4h), q and attention output (2h),
    k and v (2 kv_dim), the MLP's gate, up, activated gate and product (4 intermediate)."""
    return dtype_bytes * (6 * hidden + 2 * kv_dim + 4 * intermediate)


def stage_budget(shape: ModelShape, options: PlanOptions, recipe: str, stage: str) -> Budget:
    dtype_bytes = DTYPE_BYTES[options.dtype]
    shards = options.shards
    total = vision_parameters(shape) + language_parameters(shape)
    lora = lora_parameters(shape, options.lora_rank)
    # peft keeps adapters in fp32 when the base is bf16; trainable = the adapters, or everything
    trainable = lora if options.lora_rank else total
    trainable_bytes = 4 if options.lora_rank else dtype_bytes
    videos = 1 if recipe in ("descore", "rapo", "checklist-vlm") else 2
    visual = videos * visual_tokens_per_video(shape, options)
    notes = []

    # descore's dual RL stage samples K reasonings of each video of a pair: two prompts a pair
    prompts = options.micro_batch * (2 if recipe == "descore" else 1)
    group = prompts * options.group_size
    if stage == "grpo":
        sequences = options.update_sequences or group
        prompt = visual + options.prompt_text_tokens
        tokens = prompt + options.completion_tokens
    else:
        sequences = options.micro_batch * (2 if stage == "descore" else 1)  # descore scores each video alone
        tokens = visual + options.text_tokens

    lines: dict[str, float] = {}
    lines["weights"] = (total * dtype_bytes + lora * 4) / shards
    lines["optimizer states"] = trainable * options.adam_bytes / shards
    gradient_copies = 2 if options.strategy == "ddp" else 1  # DDP's bucket copy (gradient_as_bucket_view off)
    lines["gradients"] = trainable * trainable_bytes * gradient_copies / shards

    layer = _layer_activation_bytes(shape.hidden_size, shape.kv_dim, shape.intermediate_size, dtype_bytes)
    if options.gradient_checkpointing:
        language = sequences * tokens * (shape.num_layers * shape.hidden_size * dtype_bytes + layer)
    else:
        language = sequences * tokens * shape.num_layers * layer
    vision = 0
    if not options.lora_rank:
        # a trained vision tower keeps its activations too; it sees 4 patches per merged token
        patches = sequences * visual * shape.spatial_merge_size**2
        vision_hidden = shape.vision_hidden_size
        vision_layer = _layer_activation_bytes(vision_hidden, 2 * vision_hidden, shape.vision_intermediate_size,
                                               dtype_bytes)
        per_patch = (shape.vision_depth * vision_hidden * dtype_bytes + vision_layer
                     if options.gradient_checkpointing else shape.vision_depth * vision_layer)
        vision = patches * per_patch
    lines["activations"] = language + vision
    if stage == "grpo" and recipe == "descore":
        # the policy's pass over the reasonings and the head's pass over the same sequences (the BT part of the
        # dual loss) are both kept for one backward
        lines["activations"] *= 2
        notes.append("descore's dual RL: the GRPO pass and the reward head's pass over the same sequences "
                     "are both kept for one backward")

    if stage == "descore":
        lines["logits"] = 0.0
        notes.append("descore reads the [Reward] token's hidden state: no vocabulary logits")
    elif stage == "sft":
        # transformers computes logits at every position: bf16 logits, the loss's fp32 copy and its gradient
        lines["logits"] = sequences * tokens * shape.vocab_size * (dtype_bytes + 4 + 4)
        notes.append("SFT: full-sequence logits (bf16 + fp32 copy in the loss + fp32 gradient), as transformers "
                     "computes them")
    else:
        completion = sequences * options.completion_tokens
        chunk = min(options.logit_chunk, completion)
        # completion tokens only (as TRL's GRPO): bf16 logits and bf16 log-softmax kept for backward, plus one
        # fp32 chunk being worked on (values and gradient)
        lines["logits"] = completion * shape.vocab_size * 2 * dtype_bytes + chunk * shape.vocab_size * 8
        notes.append(f"GRPO logits: completion tokens only, log-softmax in fp32 chunks of {chunk} tokens; the "
                     "bf16 logits and log-probs of every completion token stay alive until backward")

    reference = options.reference
    if reference == "auto":
        reference = "none" if options.lora_rank else "copy"
    lines["reference model"] = total * dtype_bytes / shards if stage == "grpo" and reference == "copy" else 0.0
    if stage == "grpo":
        notes.append("reference: " + ("a frozen copy, sharded like the policy" if reference == "copy" else
                                      "none extra (LoRA: the base with the adapter disabled)"
                                      if options.lora_rank else "none (kl_beta 0)"))

    if stage == "grpo":
        lines["generation KV cache"] = group * tokens * shape.num_layers * 2 * shape.kv_dim * dtype_bytes
        # ZeRO-3 / FSDP gather the whole policy for generate (TRL's ds3_gather_for_generation)
        lines["gathered weights (generate)"] = total * dtype_bytes * (1 - 1 / shards)
        notes.append("generation and the update do not overlap: peak = fixed terms + the larger of "
                     "(gradients + activations + logits) and (KV cache + gathered weights)")
    lines["overhead"] = options.overhead_gib * GIB
    static = ("weights", "optimizer states", "reference model", "overhead")
    training = ("gradients", "activations", "logits")
    generation = ("generation KV cache", "gathered weights (generate)") if stage == "grpo" else ()
    notes.append("activations: flash/SDPA attention; with checkpointing each decoder layer keeps its input and "
                 "one layer is recomputed at a time" if options.gradient_checkpointing else
                 "activations: flash/SDPA attention, every decoder layer's tensors kept (no checkpointing)")
    return Budget(stage, sequences, tokens, lines, static, training, generation, notes)


def plan(shape: ModelShape, options: PlanOptions, recipe: str, stages: list[str]) -> list[Budget]:
    return [stage_budget(shape, options, recipe, stage) for stage in stages]


def _gib(value: float) -> str:
    return f"{value / GIB:8.2f} GiB"


def format_plan(shape: ModelShape, options: PlanOptions, recipe: str, budgets: list[Budget]) -> str:
    vision, language = vision_parameters(shape), language_parameters(shape)
    trainable = lora_parameters(shape, options.lora_rank) if options.lora_rank else vision + language
    tuning = f"LoRA rank {options.lora_rank}" if options.lora_rank else "full fine-tune"
    out = [
        f"{recipe}: {(vision + language) / 1e9:.2f} B parameters (vision {vision / 1e9:.2f} B, language "
        f"{language / 1e9:.2f} B), {tuning} ({trainable / 1e6:,.1f} M trainable)",
        f"{options.gpus} x GPU of {options.gpu_memory_gib:g} GiB, {options.strategy}, {options.dtype}, "
        f"checkpointing {'on' if options.gradient_checkpointing else 'off'}, AdamW {options.adam_bytes} "
        f"bytes/param, micro-batch {options.micro_batch}, {options.frames} frames of {options.frame_pixels} px",
    ]
    for budget in budgets:
        shape_text = f"{budget.sequences} x {budget.tokens_per_sequence:,} tokens per forward"
        if budget.stage == "grpo":
            shape_text += f" (K = {options.group_size}, {options.completion_tokens} completion tokens)"
        out.append(f"stage {budget.stage}: {shape_text}")
        for name, value in budget.lines.items():
            if value or name in ("weights", "activations"):
                out.append(f"  {name:<28}{_gib(value)}")
        limit = options.gpu_memory_gib * GIB
        verdict = "fits" if budget.peak <= limit else "does NOT fit"
        out.append(f"  {'peak per GPU':<28}{_gib(budget.peak)} of {options.gpu_memory_gib:g} GiB -> {verdict}")
        out.extend(f"  note: {note}" for note in budget.notes)
    return "\n".join(out)


def plan_help() -> list[str]:
    return [f"  {item.name} (default {item.default!r}): {item.metadata['help']}"
            for item in dataclasses.fields(PlanOptions)]
