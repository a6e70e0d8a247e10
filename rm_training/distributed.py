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


def transformers_model(model: nn.Module) -> nn.Module:
    """The transformers model inside ``model``, whatever holds it (peft, a DescoreModel, a wrapper): the
    outermost module with a transformers config."""
    for module in model.modules():
        if hasattr(getattr(module, "config", None), "get_text_config"):
            return module
    raise ConfigError(f"{type(model).__name__} holds no transformers model")


def decoder_layer_classes(model: nn.Module) -> list[str]:
    """Class names FSDP wraps one unit each: the model's ``_no_split_modules`` (decoder layers and
    vision blocks for Qwen-VL)."""
    names = list(getattr(transformers_model(model), "_no_split_modules", None) or [])
    if not names:
        raise ConfigError(
            f"{type(transformers_model(model)).__name__} names no _no_split_modules: FSDP has no layer class to wrap"
        )
    return names


def deepspeed_zero3_config(config: TrainConfig, hidden_size: int | None = None) -> dict:
    """The DeepSpeed ZeRO-3 config of a run: micro batch, accumulation, clipping and precision from the
    run config; 16-bit weights gathered on save so a checkpoint is a plain ``save_pretrained`` folder.

    No ``optimizer`` and no ``scheduler`` block: DeepSpeed steps the run's own AdamW, and the run's learning
    rate schedule (:func:`rm_training.loop.learning_rate_scheduler`) sets the learning rate in that AdamW's
    parameter groups, which the ZeRO optimizer wraps. With ``hidden_size`` (the text model's) the bucket
    sizes are set from it as accelerate would; accelerate itself cannot (a Qwen-VL config has its hidden
    size under ``text_config``, a DescoreModel has no config)."""
    precision = config.mixed_precision
    settings = {
        "train_micro_batch_size_per_gpu": config.optim.batch_size,
        "gradient_accumulation_steps": config.optim.gradient_accumulation_steps,
        # 0 is DeepSpeed's "no clipping"
        "gradient_clipping": config.optim.max_grad_norm if config.optim.max_grad_norm > 0 else 0.0,
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
    if hidden_size is not None:
        settings["zero_optimization"].update(zero3_bucket_sizes(hidden_size))
    return settings


def zero3_bucket_sizes(hidden_size: int) -> dict:
    """The ZeRO-3 bucket sizes accelerate and TRL derive from the hidden size (accelerate's ``auto``)."""
    return {
        "reduce_bucket_size": hidden_size * hidden_size,
        "stage3_prefetch_bucket_size": int(0.9 * hidden_size * hidden_size),
        "stage3_param_persistence_threshold": 10 * hidden_size,
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

        hidden_size = transformers_model(model).config.get_text_config().hidden_size
        return {"deepspeed_plugin": DeepSpeedPlugin(hf_ds_config=deepspeed_zero3_config(config, hidden_size))}
    return {}


# --- checkpoints of sharded models ----------------------------------------------------------------
# Every function below is collective under FSDP and ZeRO-3: all processes call it, together.

OPTIMIZER_FILE = "optimizer.pt"
DEEPSPEED_CHECKPOINT_TAG = "deepspeed"  # engine checkpoint sub-folder: each rank's optimizer partition


def _fsdp_version(accelerator) -> int | None:
    from accelerate.utils import DistributedType

    if accelerator.distributed_type != DistributedType.FSDP:
        return None
    return accelerator.state.fsdp_plugin.fsdp_version


def gathered_state_dict(accelerator, model: nn.Module) -> dict:
    """The full state dict of a prepared ``model``, keyed as the unwrapped model's: complete on the main
    process (other processes may get an empty dict). Every process must call it: under FSDP and ZeRO-3 it
    gathers the shards (``accelerator.get_state_dict``).

    The one exception to going through accelerate: FSDP (version 1) on CPU. accelerate gathers with
    ``offload_to_cpu=True``, which segfaults in torch 2.13 when the parameters already live on the CPU
    (reproduced with gloo), so there the same full state dict is gathered without the offload."""
    if _fsdp_version(accelerator) == 1 and accelerator.device.type == "cpu":
        from torch.distributed.fsdp import FullStateDictConfig, StateDictType
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        full = FullStateDictConfig(offload_to_cpu=False, rank0_only=True)
        with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, full):
            return model.state_dict()
    return accelerator.get_state_dict(model)


def _gather_options(accelerator):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # gathered onto the main process's CPU memory on a GPU; on CPU the offload is what segfaults (above)
    return StateDictOptions(full_state_dict=True, cpu_offload=accelerator.device.type != "cpu")


def save_optimizer_state(accelerator, model: nn.Module, optimizer, directory) -> None:
    """Write the optimizer state of a prepared ``model`` / ``optimizer`` under ``directory``.

    Without DeepSpeed the state is gathered whole and keyed by parameter name (torch's distributed
    checkpoint ``get_optimizer_state_dict``), so a checkpoint written by N FSDP processes resumes in one
    process or under DDP, and the other way round. Under DeepSpeed each process writes its own partition
    through the engine (``save_checkpoint``); such a checkpoint resumes with the same number of processes.
    """
    from pathlib import Path

    import torch
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    directory = Path(directory)
    if _is_deepspeed(model):
        model.save_checkpoint(str(directory), tag=DEEPSPEED_CHECKPOINT_TAG, save_latest=False)
        return
    # torch's distributed checkpoint sees through FSDP and DDP wrappers: names are the unwrapped model's
    state = get_optimizer_state_dict(model, _torch_optimizer(optimizer), options=_gather_options(accelerator))
    if accelerator.is_main_process:
        torch.save(state, directory / OPTIMIZER_FILE)


def load_optimizer_state(accelerator, model: nn.Module, optimizer, directory) -> None:
    """Restore what :func:`save_optimizer_state` wrote into a prepared ``model`` / ``optimizer``, whatever
    the number of processes and the sharding it was written with (DeepSpeed: the same number)."""
    from pathlib import Path

    import torch
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    directory = Path(directory)
    if _is_deepspeed(model):
        # the weights were loaded from the checkpoint's model folder already; the engine adds its partitions
        model.load_checkpoint(str(directory), tag=DEEPSPEED_CHECKPOINT_TAG, load_module_strict=False,
                              load_optimizer_states=True, load_lr_scheduler_states=False)
        return
    state = torch.load(directory / OPTIMIZER_FILE, map_location="cpu", weights_only=False)
    if any(isinstance(key, int) for key in state.get("state", {})):
        # written before checkpoints were gathered by name: torch's own optimizer.state_dict(), keyed by parameter
        # position, which only the same unsharded model and optimizer can take back
        _torch_optimizer(optimizer).load_state_dict(state)
        return
    # every process read the whole state; each keeps its shard. Not strict: a trainable parameter no loss
    # has reached yet (a DescoreModel's unused LM head) has no Adam state to restore
    set_optimizer_state_dict(model, _torch_optimizer(optimizer), state,
                             options=StateDictOptions(full_state_dict=True, strict=False))


def _is_deepspeed(model: nn.Module) -> bool:
    # a DeepSpeedEngine (any ZeRO stage), recognised without importing deepspeed
    return callable(getattr(model, "zero_optimization_stage", None))


def _torch_optimizer(optimizer):
    # accelerate's AcceleratedOptimizer holds the torch optimizer the parameters were registered with
    return getattr(optimizer, "optimizer", optimizer)


# --- the GRPO reference under sharding ------------------------------------------------------------


def deepspeed_reference_config(policy_config: dict, hidden_size: int) -> dict:
    """The DeepSpeed config of a frozen reference model, from the policy's (as TRL's ``prepare_deepspeed``):
    under ZeRO-3 the reference is sharded like the policy (bucket sizes from ``hidden_size``); under
    ZeRO-1/2, which shard only optimizer state and gradients, each process holds it whole (stage 0). No
    optimizer, no scheduler: it is never stepped."""
    import copy

    settings = copy.deepcopy(policy_config)
    settings.pop("optimizer", None)
    settings.pop("scheduler", None)
    zero = settings.setdefault("zero_optimization", {})
    if zero.get("stage") == 3:
        zero.update(zero3_bucket_sizes(hidden_size))
    else:
        zero["stage"] = 0
    return settings


def prepare_reference(accelerator, model: nn.Module) -> nn.Module:
    """Place a frozen reference model the way the run's policy is placed, in evaluation mode.

    FSDP: wrapped with the run's FSDP settings (the same layer units and mixed precision), so each
    process holds a shard, as TRL's ``prepare_fsdp`` does; accelerate's ``prepare_model(...,
    evaluation_mode=True)`` would leave a whole copy on every process. ZeRO-3: a DeepSpeed inference
    engine with :func:`deepspeed_reference_config`. Otherwise (one process, DDP): on the run's device, no
    DDP wrapper (nothing to synchronise). Every process must call it under FSDP and ZeRO-3.
    """
    from accelerate.utils import DistributedType

    model.eval()
    model.requires_grad_(False)
    if _fsdp_version(accelerator) is not None:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        if _fsdp_version(accelerator) != 1:
            raise ConfigError("the GRPO reference is prepared for FSDP version 1 (the plugin sharding_plugins builds)")
        plugin = accelerator.state.fsdp_plugin
        plugin.set_auto_wrap_policy(model)
        reference = FSDP(
            model,
            sharding_strategy=plugin.sharding_strategy or plugin.reshard_after_forward,
            cpu_offload=plugin.cpu_offload,
            auto_wrap_policy=plugin.auto_wrap_policy,
            mixed_precision=plugin.mixed_precision_policy,
            sync_module_states=plugin.sync_module_states,
            backward_prefetch=plugin.backward_prefetch,
            forward_prefetch=plugin.forward_prefetch,
            use_orig_params=plugin.use_orig_params,
            limit_all_gathers=plugin.limit_all_gathers,
            device_id=accelerator.device,
        )
        reference.eval()
        return reference
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        import deepspeed

        hidden_size = transformers_model(model).config.get_text_config().hidden_size
        settings = deepspeed_reference_config(accelerator.state.deepspeed_plugin.deepspeed_config, hidden_size)
        engine, *_ = deepspeed.initialize(model=model, config=settings)
        engine.eval()
        return engine
    return accelerator.prepare_model(model, evaluation_mode=True)


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


def process_group_close(*, wait: bool = True) -> None:
    """Wait for every process (unless `wait` is False: a process that failed alone would wait forever), then
    destroy the process group; once, as a process ends (accelerate keeps using it until then). Left to the
    interpreter's exit, gloo's threads can outlive it and abort the process ("terminate called without an active
    exception") after its work is done."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if wait:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()
