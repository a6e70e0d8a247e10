"""Run configuration: dataclasses with help per field, validated in ``__post_init__``.

A config is built from defaults, then a YAML file (same nesting as the dataclasses), then
``section.key=value`` overrides from the command line (values parsed as YAML scalars).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RECIPES = ("checklist-linear", "checklist-vlm", "descore", "aesrm-base", "aesrm-cot", "rapo")
RECIPE_FORMATS: dict[str, tuple[str, ...]] = {
    "checklist-linear": ("aesrm-pairwise",),
    "checklist-vlm": ("checklist-qa",),
    "descore": ("cot-sft", "aesrm-pairwise"),
    "aesrm-base": ("aesrm-base-sft",),
    "aesrm-cot": ("cot-sft",),
    "rapo": ("rl-prompts",),
}
VLM_RECIPES = ("descore", "aesrm-base", "aesrm-cot", "rapo", "checklist-vlm")


class ConfigError(ValueError):
    """A config value is invalid or cannot run on this machine."""


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


# Metadata flag of the fields that whoever launches a run sets (the recipe and every folder it reads or writes): the
# web app's training jobs set them itself and never take them as hyper-parameter overrides.
SET_BY_LAUNCHER = "set_by_launcher"


def _launcher_help(text: str, **extra) -> dict:
    return _help(text, **extra, **{SET_BY_LAUNCHER: True})


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


LR_SCHEDULERS = ("constant", "linear", "cosine")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class OptimConfig:
    learning_rate: float = field(default=1e-4, metadata=_help("AdamW peak learning rate"))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay"))
    warmup_steps: int = field(default=0, metadata=_help("linear warm-up steps from 0 to learning_rate"))
    lr_scheduler: str = field(
        default="constant",
        metadata=_help("after warm-up: constant, linear decay to 0 or cosine decay to 0 at the last step",
                       choices=LR_SCHEDULERS),
    )
    batch_size: int = field(default=2, metadata=_help("examples per device per micro-batch"))
    gradient_accumulation_steps: int = field(default=1, metadata=_help("micro-batches per optimizer step"))
    max_grad_norm: float = field(default=1.0, metadata=_help("gradient clipping norm (0 disables)"))
    gradient_checkpointing: bool = field(default=False, metadata=_help("recompute activations in backward"))
    sft_learning_rate: float = field(
        default=0.0,
        metadata=_help("learning rate of the atomic and SFT stages, constant after warm-up; optim.lr_scheduler then "
                       "runs from learning_rate over the GRPO steps only (0: one schedule over every step)"),
    )

    def __post_init__(self):
        _check(self.learning_rate > 0, "optim.learning_rate must be > 0")
        _check(self.sft_learning_rate >= 0, "optim.sft_learning_rate must be >= 0")
        _check(self.weight_decay >= 0, "optim.weight_decay must be >= 0")
        _check(self.warmup_steps >= 0, "optim.warmup_steps must be >= 0")
        _check(self.lr_scheduler in LR_SCHEDULERS, f"optim.lr_scheduler must be one of {', '.join(LR_SCHEDULERS)}")
        _check(self.batch_size >= 1, "optim.batch_size must be >= 1")
        _check(self.gradient_accumulation_steps >= 1, "optim.gradient_accumulation_steps must be >= 1")
        _check(self.max_grad_norm >= 0, "optim.max_grad_norm must be >= 0")


@dataclass
class VideoConfig:
    fps: float = field(default=2.0, metadata=_help("frames sampled per second of video"))
    max_frames: int = field(default=16, metadata=_help("upper bound on sampled frames per video"))
    max_pixels: int | None = field(
        default=None,
        metadata=_help("pixel budget per frame (height x width); unset: the model folder's processor config "
                       "(video_preprocessor_config.json, else preprocessor_config.json), else 448 x 448"),
    )
    min_pixels: int | None = field(
        default=None,
        metadata=_help("smallest frame area after resizing; unset: the model folder's processor config, else 56 x 56"),
    )
    cache_bytes: int = field(
        default=2 * 1024**3,
        metadata=_help("packed clips kept in memory per process (least recently used evicted first); 0 keeps none"),
    )
    num_workers: int = field(
        default=0,
        metadata=_help("DataLoader worker processes decoding the next batches during the step (0: in the step)"),
    )

    def __post_init__(self):
        _check(self.fps > 0, "video.fps must be > 0")
        _check(self.max_frames >= 1, "video.max_frames must be >= 1")
        for name in ("min_pixels", "max_pixels"):
            value = getattr(self, name)
            _check(value is None or (isinstance(value, int) and not isinstance(value, bool)),
                   f"video.{name} must be an integer (or unset: the model's processor config)")
        _check(self.min_pixels is None or self.min_pixels >= 28 * 28,
               "video.min_pixels must be >= 784 (one 28x28 merged patch)")
        _check(None in (self.min_pixels, self.max_pixels) or self.max_pixels >= self.min_pixels,
               "video.max_pixels must be >= video.min_pixels")
        _check(self.cache_bytes >= 0, "video.cache_bytes must be >= 0")
        _check(self.num_workers >= 0, "video.num_workers must be >= 0")


@dataclass
class DescoreConfig:
    ties: bool = field(default=False, metadata=_help("use the Rao-Kupper BT-with-ties loss (else ties are skipped)"))
    tie_log_theta: float = field(default=0.5, metadata=_help("Rao-Kupper log(theta) > 0"))
    cot_mask_probability: float = field(
        default=0.3,
        metadata=_help("BT stage: probability that a sequence's whole reasoning is hidden from the [Reward] token, "
                       "so the head also learns to score from the video alone"),
    )
    use_cot: bool = field(default=True, metadata=_help("score the reasoning (think-then-score); false: video only"))
    eval_cot_tokens: int = field(
        default=128, metadata=_help("validation and eval: reasoning tokens the model writes (greedy) before scoring"),
    )
    rl_bt_weight: float = field(
        default=1.0,
        metadata=_help("dual RL stage (stages.grpo_steps): weight of the BT loss on the head, added to the GRPO loss "
                       "on the reasoning"),
    )

    def __post_init__(self):
        _check(self.tie_log_theta > 0, "descore.tie_log_theta must be > 0")
        _check(0 <= self.cot_mask_probability < 1, "descore.cot_mask_probability must be in [0, 1)")
        _check(self.eval_cot_tokens >= 0, "descore.eval_cot_tokens must be >= 0")
        _check(self.rl_bt_weight >= 0, "descore.rl_bt_weight must be >= 0")


@dataclass
class StagesConfig:
    atomic_steps: int = field(default=0, metadata=_help(
        "aesrm stage 1: atomic SFT steps, yes/no questions about one video from the rows' checklist answers and "
        "severe flags"))
    reasoning_steps: int = field(
        default=0,
        metadata=_help("descore stage 1: SFT steps teaching the model to write each video's reasoning "
                       "(cot-sft export)"),
    )
    sft_steps: int = field(default=20, metadata=_help("cold-start SFT steps (descore: BT steps on the [Reward] head)"))
    grpo_steps: int = field(
        default=0, metadata=_help("GRPO steps after SFT (descore: dual-objective RL; 0 skips the stage)"),
    )

    def __post_init__(self):
        steps = (self.atomic_steps, self.reasoning_steps, self.sft_steps, self.grpo_steps)
        _check(min(steps) >= 0, "stages.*_steps must be >= 0")
        _check(sum(steps) > 0, "stages: at least one step in total")


@dataclass
class GRPOConfig:
    num_generations: int = field(default=4, metadata=_help("K completions sampled per prompt"))
    max_new_tokens: int = field(default=64, metadata=_help("completion length limit"))
    temperature: float = field(default=1.0, metadata=_help("sampling temperature"))
    epsilon_low: float = field(default=0.2, metadata=_help("lower clip: ratio >= 1 - epsilon_low"))
    epsilon_high: float = field(default=0.28, metadata=_help("upper clip: ratio <= 1 + epsilon_high (DAPO)"))
    kl_beta: float = field(default=0.01, metadata=_help("weight of the KL penalty to the frozen reference"))
    reference: str = field(
        default="start",
        metadata=_help("the KL penalty's frozen reference: 'start' (the policy as the GRPO stage starts: the "
                       "cold-start weights, as TRL and the seeds anchor to the model they are given; the base model "
                       "when no stage trained it before) or 'base' (the base model of model_path)",
                       choices=("base", "start")),
    )
    updates_per_rollout: int = field(
        default=1,
        metadata=_help("optimisation passes over each sampled rollout (TRL's num_iterations); > 1 lets the "
                       "clipped objective clip, with old log-probs from sampling time"),
    )
    mini_batches: int = field(
        default=1,
        metadata=_help("mini-batches each pass splits the rollout's B*K completions into, one loss call "
                       "(micro-batch) each; optim.gradient_accumulation_steps equal to it makes a pass one "
                       "optimizer step"),
    )
    format_weight: float = field(default=1.0, metadata=_help("weight of the format reward"))
    accuracy_weight: float = field(default=1.0, metadata=_help("weight of the per-dimension accuracy reward"))
    process_weight: float = field(default=1.0, metadata=_help("weight of the CoT process reward (aesrm-cot)"))
    consistency_weight: float = field(
        default=1.0,
        metadata=_help("weight of the CoT consistency reward (aesrm-cot): share of dimensions whose verdict is "
                       "the one the answer's own criteria and Severe flags imply (a severe flag on one video "
                       "decides against it, else the criteria's majority)"),
    )
    backend: str = field(
        default="transformers",
        metadata=_help("generation backend: transformers (generate on the policy; CPU and GPU) or vllm (a vLLM engine "
                       "colocated on each GPU, sent the policy's weights after every optimizer step)",
                       choices=("transformers", "vllm")),
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.3,
        metadata=_help("grpo.backend=vllm: share of each GPU's memory the colocated vLLM engine reserves for its "
                       "weights and KV cache; training gets the rest"),
    )
    vllm_max_model_len: int = field(
        default=0,
        metadata=_help("grpo.backend=vllm: longest prompt + completion vLLM reserves KV cache for "
                       "(0: max_text_tokens + grpo.max_new_tokens)"),
    )
    rapo_sigma: float = field(default=0.1, metadata=_help("rapo: sigma of the Gaussian absolute-error reward"))
    data: str = field(
        default="",
        metadata=_launcher_help(
            "aesrm-*: rl-prompts export whose pair rows feed GRPO (default: the SFT rows' prompts)"
        ),
    )

    def __post_init__(self):
        _check(self.num_generations >= 2, "grpo.num_generations must be >= 2 (advantages are group-relative)")
        _check(self.max_new_tokens >= 1, "grpo.max_new_tokens must be >= 1")
        _check(self.temperature > 0, "grpo.temperature must be > 0")
        _check(0 < self.epsilon_low < 1 and self.epsilon_high > 0, "grpo.epsilon_low in (0, 1), epsilon_high > 0")
        _check(self.kl_beta >= 0, "grpo.kl_beta must be >= 0")
        _check(self.reference in ("base", "start"), "grpo.reference must be 'base' or 'start'")
        _check(self.updates_per_rollout >= 1, "grpo.updates_per_rollout must be >= 1")
        _check(self.mini_batches >= 1, "grpo.mini_batches must be >= 1")
        _check(self.backend in ("transformers", "vllm"), "grpo.backend must be 'transformers' or 'vllm'")
        _check(0 < self.vllm_gpu_memory_utilization < 1, "grpo.vllm_gpu_memory_utilization must be in (0, 1)")
        _check(self.vllm_max_model_len >= 0, "grpo.vllm_max_model_len must be >= 0")
        _check(self.rapo_sigma > 0, "grpo.rapo_sigma must be > 0")


@dataclass
class ChecklistConfig:
    solver: str = field(
        default="newton",
        metadata=_help("Algorithm 1's step: newton (full-batch projected Newton, converges, seed-free) or sgd "
                       "(the paper's per-pair SGD at learning_rate)", choices=("newton", "sgd")),
    )
    learning_rate: float = field(default=0.005, metadata=_help("sgd solver: step size (unused by newton)"))
    batch_size: int = field(default=1, metadata=_help("sgd solver: pairs per update (1 = the paper's per-pair SGD)"))
    l2: float = field(
        default=1e-4,
        metadata=_help("newton solver: l2/2 * ||w||^2 added to the mean log-loss; keeps the weights finite when the "
                       "pairs are separable (0 = the paper's unpenalised loss)"),
    )
    max_epochs: int = field(default=200, metadata=_help("upper bound on Algorithm 1 iterations"))
    tolerance: float = field(
        default=1e-6, metadata=_help("stop when ||w - w_old|| <= tolerance after an iteration (0: run max_epochs)")
    )
    mpo_total_threshold: float = field(
        default=0.6,
        metadata=_help("mpo-select: the dominating video's total reward must exceed the other's by at least this "
                       "(the paper's MPO ablation uses 0.6)"),
    )

    def __post_init__(self):
        _check(self.solver in ("newton", "sgd"), "checklist.solver must be newton or sgd")
        _check(self.learning_rate > 0, "checklist.learning_rate must be > 0")
        _check(self.batch_size >= 1 and self.max_epochs >= 1, "checklist.batch_size and max_epochs must be >= 1")
        _check(self.tolerance >= 0 and self.l2 >= 0, "checklist.tolerance and checklist.l2 must be >= 0")
        _check(self.mpo_total_threshold >= 0, "checklist.mpo_total_threshold must be >= 0")


@dataclass
class ChecklistVLMConfig:
    linear_run: str = field(
        default="",
        metadata=_help("checklist-linear run folder whose weights turn this model's answers into rewards (copied "
                       "into the run); empty: the model answers the checklist only"),
    )
    balance: str = field(
        default="resample",
        metadata=_help("resample: each question's yes and no rows drawn equally often (the minority repeated); "
                       "none: the rows as exported", choices=("resample", "none")),
    )

    def __post_init__(self):
        _check(self.balance in ("resample", "none"), "checklist_vlm.balance must be resample or none")


@dataclass
class TrainConfig:
    recipe: str = field(default="checklist-linear", metadata=_launcher_help("recipe to run", choices=RECIPES))
    data: str = field(default="", metadata=_launcher_help("export folder (EXPORT_DIR)"))
    out: str = field(default="", metadata=_launcher_help("run folder (RUN_DIR)"))
    model_path: str = field(default="", metadata=_launcher_help("local Hugging Face folder of the base VLM"))
    seed: int = field(default=0, metadata=_help("random seed"))
    mixed_precision: str = field(default="no", metadata=_help("no / bf16 / fp16", choices=("no", "bf16", "fp16")))
    distributed: str = field(
        default="none", metadata=_help("none / ddp / fsdp / deepspeed", choices=("none", "ddp", "fsdp", "deepspeed"))
    )
    dtype: str = field(
        default="auto",
        metadata=_help("dtype the model weights are loaded in (auto: bfloat16 on a CUDA GPU with bf16, else float32)",
                       choices=DTYPES),
    )
    lora_rank: int = field(default=0, metadata=_help("LoRA rank via peft (0 = full fine-tuning)"))
    save_every: int = field(default=50, metadata=_help("checkpoint every N optimizer steps (and at the end)"))
    log_every: int = field(default=1, metadata=_help("log metrics every N optimizer steps"))
    keep_checkpoints: int = field(default=2, metadata=_help("checkpoints kept on disk"))
    max_text_tokens: int = field(default=1024, metadata=_help("truncate text beyond this many tokens"))
    optim: OptimConfig = field(default_factory=OptimConfig, metadata=_help("optimiser"))
    video: VideoConfig = field(default_factory=VideoConfig, metadata=_help("video decoding"))
    stages: StagesConfig = field(default_factory=StagesConfig, metadata=_help("training stages"))
    descore: DescoreConfig = field(default_factory=DescoreConfig, metadata=_help("descore recipe"))
    grpo: GRPOConfig = field(default_factory=GRPOConfig, metadata=_help("GRPO stage"))
    checklist: ChecklistConfig = field(default_factory=ChecklistConfig, metadata=_help("checklist-linear recipe"))
    checklist_vlm: ChecklistVLMConfig = field(
        default_factory=ChecklistVLMConfig, metadata=_help("checklist-vlm recipe")
    )

    def __post_init__(self):
        _check(self.recipe in RECIPES, f"unknown recipe {self.recipe!r}; expected one of {', '.join(RECIPES)}")
        _check(self.mixed_precision in ("no", "bf16", "fp16"), "mixed_precision must be no, bf16 or fp16")
        _check(
            self.distributed in ("none", "ddp", "fsdp", "deepspeed"), "distributed must be none, ddp, fsdp or deepspeed"
        )
        _check(self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}")
        _check(self.lora_rank >= 0, "lora_rank must be >= 0")
        _check(self.save_every >= 1 and self.log_every >= 1, "save_every and log_every must be >= 1")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1")
        _check(self.max_text_tokens >= 16, "max_text_tokens must be >= 16")
        if self.recipe in VLM_RECIPES:
            _check(bool(self.model_path), f"recipe {self.recipe} needs model_path (a local model folder)")
        if self.recipe == "rapo":
            _check(self.stages.atomic_steps == 0,
                   "rapo has no atomic stage (AesCoT cold-start SFT, then GRPO): set stages.atomic_steps=0")
            _check(self.optim.batch_size >= 2, "rapo's rank reward compares videos: optim.batch_size must be >= 2")
        _check(self.grpo.mini_batches <= self.optim.batch_size * self.grpo.num_generations,
               "grpo.mini_batches must be <= optim.batch_size * grpo.num_generations (the completions of a rollout)")
        if self.recipe == "checklist-vlm":
            _check(self.stages.atomic_steps == 0 and self.stages.grpo_steps == 0 and self.stages.sft_steps > 0,
                   "checklist-vlm trains only yes/no SFT: set stages.atomic_steps=0, grpo_steps=0, sft_steps > 0")
        if self.recipe == "descore":
            _check(self.stages.atomic_steps == 0, "descore has no atomic stage: set stages.atomic_steps=0")
            _check(self.descore.use_cot or self.stages.reasoning_steps + self.stages.grpo_steps == 0,
                   "descore.use_cot=false scores the video alone: the reasoning stages need stages.reasoning_steps=0 "
                   "and stages.grpo_steps=0")
        else:
            _check(self.stages.reasoning_steps == 0, "stages.reasoning_steps is descore's stage 1 only")

    @property
    def total_steps(self) -> int:
        return self.stages.atomic_steps + self.stages.reasoning_steps + self.stages.sft_steps + self.stages.grpo_steps


# --- building from YAML and overrides ---------------------------------------------------------


def _field_type(owner: type, name: str) -> Any:
    return typing.get_type_hints(owner)[name]


def _is_dataclass_type(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _coerce(value: Any, kind: Any, dotted: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{dotted}: expected true/false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{dotted}: expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, str):
            # YAML 1.1 reads "1e-3" as a string; accept any numeric literal.
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{dotted}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{dotted}: expected a number, got {value!r}")
        return float(value)
    if kind is str:
        return "" if value is None else str(value)
    return value


def _build(cls: type, values: dict, prefix: str = "") -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(prefix + key for key in unknown)}")
    kwargs = {}
    for name, value in values.items():
        kind = _field_type(cls, name)
        if _is_dataclass_type(kind):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{name}: expected a mapping")
            kwargs[name] = _build(kind, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, kind, prefix + name)
    return cls(**kwargs)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
    node[parts[-1]] = value


def override_key_normalise(key: str) -> str:
    """The key an override sets, as ``parse_overrides`` reads it: surrounding whitespace is dropped."""
    return key.strip()


def parse_overrides(overrides: list[str]) -> dict:
    tree: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: {error}") from error
        _set_dotted(tree, override_key_normalise(key), value)
    return tree


def config_fields(cls: type = TrainConfig, prefix: str = "") -> dict[str, dataclasses.Field]:
    """Every leaf field of the config by its dotted name (``optim.learning_rate``)."""
    found: dict[str, dataclasses.Field] = {}
    for item in dataclasses.fields(cls):
        kind = _field_type(cls, item.name)
        if _is_dataclass_type(kind):
            found.update(config_fields(kind, f"{prefix}{item.name}."))
        else:
            found[prefix + item.name] = item
    return found


def check_hyperparameter_key(key: str) -> str:
    """The normalised key of a hyper-parameter override, refused unless it names one leaf field that is not set by
    the launcher: no unknown key, no whole section (a mapping value could reach any field in it), no folder."""
    normalised = override_key_normalise(key)
    fields = config_fields()
    if normalised not in fields:
        sections = {name.rsplit(".", 1)[0] for name in fields if "." in name}
        if normalised in sections:
            raise ConfigError(f"{normalised} is a section; set its fields one by one ({normalised}.<field>)")
        close = difflib.get_close_matches(normalised, fields, n=1)
        hint = f"; did you mean {close[0]}?" if close else "; rm_training train --help lists the keys"
        raise ConfigError(f"unknown key {key!r}{hint}")
    if fields[normalised].metadata.get(SET_BY_LAUNCHER):
        launcher = ", ".join(name for name, item in fields.items() if item.metadata.get(SET_BY_LAUNCHER))
        raise ConfigError(f"{normalised} is set by the job itself ({launcher}), not by an override")
    return normalised


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Defaults of one recipe where the shared ones do not fit it: rapo's are seed 004's (appendix C) that are not
# already the shared defaults (K = 4, epsilon_high 0.28, kl_beta 0.01, sigma 0.1 are). Its SFT stage is off by
# default: the cold start needs accepted AesCoT critiques, which an export may not carry.
RECIPE_DEFAULTS: dict[str, dict] = {
    "rapo": {
        "optim": {"learning_rate": 1e-6, "lr_scheduler": "linear", "sft_learning_rate": 1e-5},
        "stages": {"sft_steps": 0},
    },
}


def recipe_default(recipe: str, dotted: str) -> Any:
    """The default of field ``dotted`` (``optim.learning_rate``) in a run of ``recipe``: the recipe's own, else the
    shared one."""
    node: Any = RECIPE_DEFAULTS.get(recipe, {})
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return config_fields()[dotted].default
        node = node[part]
    return node


def load_config(
    config_file: Path | str | None = None, overrides: list[str] | None = None, **values: Any
) -> TrainConfig:
    """Defaults (the recipe's own, :data:`RECIPE_DEFAULTS`, over the shared ones) <- YAML file <- ``values``
    (CLI flags) <- ``key=value`` overrides."""
    tree: dict = {}
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping")
        tree = loaded
    tree = _merge(tree, {key: value for key, value in values.items() if value is not None})
    tree = _merge(tree, parse_overrides(overrides or []))
    recipe = tree.get("recipe")
    tree = _merge(RECIPE_DEFAULTS.get(recipe, {}) if isinstance(recipe, str) else {}, tree)
    return _build(TrainConfig, tree)


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def config_help(cls: type = TrainConfig, prefix: str = "") -> list[str]:
    """One line per leaf field: ``dotted.name (default): help``; used for ``--help``."""
    lines = []
    for item in dataclasses.fields(cls):
        kind = _field_type(cls, item.name)
        if _is_dataclass_type(kind):
            lines.extend(config_help(kind, f"{prefix}{item.name}."))
            continue
        default = item.default if item.default is not dataclasses.MISSING else None
        choices = item.metadata.get("choices")
        suffix = f" [{'/'.join(choices)}]" if choices else ""
        lines.append(f"  {prefix}{item.name} (default {default!r}){suffix}: {item.metadata.get('help', '')}")
    return lines


# --- checks that need this machine ------------------------------------------------------------


def check_machine(config: TrainConfig, cuda_available: bool | None = None) -> None:
    """Refuse options that cannot run here, with a message saying what to change."""
    import importlib.util

    import torch

    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if config.recipe not in VLM_RECIPES:
        return
    model_dir = Path(config.model_path)
    if not model_dir.is_dir() or not (model_dir / "config.json").is_file():
        raise ConfigError(f"model_path {config.model_path!r} is not a local model folder (no config.json there)")
    if not cuda_available:
        if config.mixed_precision == "fp16":
            raise ConfigError("mixed_precision=fp16 needs a CUDA GPU; this machine has none (use mixed_precision=no)")
        # mixed_precision=bf16 and dtype=bfloat16 run on CPU (autocast), slowly: asked for, not refused
        if config.dtype == "float16":
            raise ConfigError("dtype=float16 needs a CUDA GPU; this machine has none (use dtype=auto or bfloat16)")
        if config.distributed in ("fsdp", "deepspeed"):
            raise ConfigError(f"distributed={config.distributed} needs CUDA GPUs; this machine has none")
        if config.grpo.backend == "vllm":
            raise ConfigError("grpo.backend=vllm needs a CUDA GPU; use grpo.backend=transformers on CPU")
    elif "bf16" in (config.mixed_precision, config.dtype.replace("bfloat16", "bf16")) and not (
        torch.cuda.is_bf16_supported()
    ):
        raise ConfigError("bf16 (mixed_precision or dtype) but this GPU does not support bf16 (use fp16 or no)")
    if config.grpo.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ConfigError("grpo.backend=vllm but vllm is not installed (install it on the GPU host)")
    if config.distributed == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("distributed=deepspeed but deepspeed is not installed")
