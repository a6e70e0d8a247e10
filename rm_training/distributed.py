"""Multi-process pieces: the model to call ``generate`` on under DDP / FSDP / DeepSpeed ZeRO-3, and the
accelerate plugins that shard a model (FSDP wrap policy from the model's own layer classes, a ZeRO-3
config from the run config).

Nothing here is imported by a single-process run unless it asks for sharding; ``deepspeed`` is never a
requirement (it builds its ops against CUDA): the ZeRO-3 config is a plain dict, handed to accelerate
only when ``deepspeed`` is importable.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator

from torch import nn

from rm_training.config import ConfigError, TrainConfig
from rm_training.modeling import base_model


def _is_fsdp(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FullyShardedDataParallel

    return isinstance(model, FullyShardedDataParallel)


def _is_zero3(model: nn.Module) -> bool:
    # a DeepSpeedEngine, recognised without importing deepspeed (absent on CPU machines)
    stage = getattr(model, "zero_optimization_stage", None)
    return callable(stage) and stage() == 3


@contextlib.contextmanager
def unwrap_for_generation(model: nn.Module) -> Iterator[nn.Module]:
    """The transformers model under whatever wraps ``model`` (DDP, FSDP, a DeepSpeed engine, peft), with
    full parameters while the block runs: ``with unwrap_for_generation(policy) as generator:
    generator.generate(...)``.

    DDP's wrapper has neither ``generate`` nor ``config``; FSDP and ZeRO-3 hold a shard of each
    parameter: ZeRO-3 gathers them all for the block (``GatheredParameters``), FSDP the root unit's
    (``summon_full_params``, as TRL's GRPO trainer does); every process must enter the block together.
    The FSDP and ZeRO-3 paths have not run in this repository's tests (no GPU): DDP has.
    """
    from accelerate.utils import extract_model_from_parallel

    if _is_zero3(model):
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None):
            yield base_model(extract_model_from_parallel(model))
        return
    if _is_fsdp(model):
        from torch.distributed.fsdp import FullyShardedDataParallel

        # the root unit only: the wrapped layers inside still gather their own shards in their forward
        # (gathering them all here would make those forwards run inside summon_full_params, refused)
        with FullyShardedDataParallel.summon_full_params(model, writeback=False, recurse=False):
            yield base_model(model.module)
        return
    yield base_model(extract_model_from_parallel(model))


def decoder_layer_classes(model: nn.Module) -> list[str]:
    """Class names FSDP wraps one unit each: the model's ``_no_split_modules`` (decoder layers and
    vision blocks for Qwen-VL)."""
    names = list(getattr(base_model(model), "_no_split_modules", None) or [])
    if not names:
        raise ConfigError(
            f"{type(base_model(model)).__name__} names no _no_split_modules: FSDP has no layer class to wrap"
        )
    return names


def deepspeed_zero3_config(config: TrainConfig) -> dict:
    """The DeepSpeed ZeRO-3 config of a run: micro batch, accumulation, clipping and precision from the
    run config; 16-bit weights gathered on save so a checkpoint is a plain ``save_pretrained`` folder."""
    precision = config.mixed_precision
    return {
        "train_micro_batch_size_per_gpu": config.optim.batch_size,
        "gradient_accumulation_steps": config.optim.gradient_accumulation_steps,
        "gradient_clipping": config.optim.max_grad_norm if config.optim.max_grad_norm > 0 else 1e9,
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16"},
        "zero_optimization": {
            "stage": 3,
            "overlap_comm": True,
            "contiguous_gradients": True,
            "reduce_bucket_size": "auto",
            "stage3_prefetch_bucket_size": "auto",
            "stage3_param_persistence_threshold": "auto",
            "stage3_gather_16bit_weights_on_model_save": True,
        },
    }


def sharding_plugins(config: TrainConfig, model: nn.Module) -> dict:
    """``Accelerator`` keyword arguments for ``config.distributed``: none for ``none`` / ``ddp`` (DDP
    comes from the launcher), an FSDP plugin wrapping the model's layer classes, or a DeepSpeed plugin
    with :func:`deepspeed_zero3_config`."""
    if config.distributed == "fsdp":
        from accelerate import FullyShardedDataParallelPlugin

        precision = config.mixed_precision if config.mixed_precision != "no" else None
        return {"fsdp_plugin": FullyShardedDataParallelPlugin(
            auto_wrap_policy="transformer_based_wrap",
            transformer_cls_names_to_wrap=decoder_layer_classes(model),
            mixed_precision_policy=precision,
            use_orig_params=True,
            activation_checkpointing=False,  # the model's own checkpointing (optim.gradient_checkpointing)
        )}
    if config.distributed == "deepspeed":
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError("distributed=deepspeed needs the deepspeed package (install it on the GPU host)")
        from accelerate import DeepSpeedPlugin

        return {"deepspeed_plugin": DeepSpeedPlugin(hf_ds_config=deepspeed_zero3_config(config))}
    return {}


@contextlib.contextmanager
def full_parameters(model: nn.Module) -> Iterator[nn.Module]:
    """The module under ``model``'s DDP / FSDP / DeepSpeed wrapper (a peft model stays a peft model) with
    every parameter whole while the block runs, for copying the weights out (vLLM's weight sync).

    Unlike :func:`unwrap_for_generation`, FSDP gathers every unit (``recurse=True``): the block reads
    the parameters, it runs no forward. Changes made in the block (a LoRA merge) are not written back
    under FSDP / ZeRO-3, so undo them in the block for the unsharded case. Every process must enter it
    together; the FSDP and ZeRO-3 paths have not run here (no GPU).
    """
    from accelerate.utils import extract_model_from_parallel

    if _is_zero3(model):
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None):
            yield extract_model_from_parallel(model)
        return
    if _is_fsdp(model):
        from torch.distributed.fsdp import FullyShardedDataParallel

        with FullyShardedDataParallel.summon_full_params(model, writeback=False, recurse=True):
            yield model.module
        return
    yield extract_model_from_parallel(model)
