"""Loading in the configured dtype, bf16 training on CPU, and the sharding settings built from the run
config and the model (FSDP wrap policy, DeepSpeed ZeRO-3 config)."""

import importlib.util

import pytest
import torch

from rm_training.config import ConfigError, check_machine, load_config
from rm_training.distributed import (
    decoder_layer_classes,
    deepspeed_zero3_config,
    sharding_plugins,
    unwrap_for_generation,
)
from rm_training.modeling import apply_lora, load_vlm, resolve_dtype

FAST = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "optim.batch_size=2", "save_every=1000"]


def test_auto_dtype_is_bfloat16_on_a_gpu_and_float32_on_cpu():
    assert resolve_dtype("auto", cuda_available=False) is torch.float32
    assert resolve_dtype("bfloat16", cuda_available=False) is torch.bfloat16
    assert resolve_dtype("float32", cuda_available=True) is torch.float32


def test_model_loads_in_the_configured_dtype(tiny_model_path):
    model, _ = load_vlm(tiny_model_path, dtype="bfloat16")
    assert {parameter.dtype for parameter in model.parameters()} == {torch.bfloat16}
    model, _ = load_vlm(tiny_model_path)  # auto, no GPU here
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}


@pytest.fixture
def fresh_accelerator_state():
    """accelerate keeps one process-wide state, fixed by the first Accelerator (an earlier test's
    mixed_precision=no); a run in another precision needs it cleared, as a new process would have it."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_bf16_weights_with_autocast_train_on_cpu_and_the_checkpoint_round_trips(
    make_export, tiny_model_path, tmp_path, fresh_accelerator_state
):
    from rm_training.export import open_export
    from rm_training.recipes.aesrm import fit_session
    from rm_training.run_dir import RunDir

    export = make_export("aesrm-base-sft", sizes={"train": 2, "validation": 1, "test": 1})
    config = load_config(None, [*FAST, "stages.sft_steps=2", "dtype=bfloat16", "mixed_precision=bf16",
                                "optim.learning_rate=1e-2"],
                         recipe="aesrm-base", model_path=str(tiny_model_path), data=str(export), out=str(tmp_path))
    check_machine(config, cuda_available=False)  # bf16 on CPU is asked for here, not refused
    run = RunDir(tmp_path / "run")
    trainer, _, metrics = fit_session(config, open_export(export, ("aesrm-base-sft",)), run)
    assert trainer.accelerator.mixed_precision == "bf16"
    assert all(torch.isfinite(torch.tensor(loss)) for loss in metrics["train_losses"])
    trained = trainer.unwrapped.state_dict()
    assert {value.dtype for value in trained.values() if value.is_floating_point()} == {torch.bfloat16}
    original, _ = load_vlm(tiny_model_path, dtype="bfloat16")
    assert not torch.equal(original.lm_head.weight, trained["lm_head.weight"])  # the step changed the weights
    reloaded, _ = load_vlm(run.last_checkpoint(), dtype="bfloat16")
    for name, value in reloaded.state_dict().items():
        assert torch.equal(value, trained[name]), name


def test_float16_weights_are_refused_on_cpu(tiny_model_path):
    config = load_config(None, ["dtype=float16"], recipe="descore", model_path=str(tiny_model_path))
    with pytest.raises(ConfigError, match="float16 needs a CUDA GPU"):
        check_machine(config, cuda_available=False)


def test_generation_unwraps_peft_to_the_transformers_model(tiny_model_path):
    model, _ = load_vlm(tiny_model_path)
    with unwrap_for_generation(apply_lora(model, 4)) as generator:
        assert generator is model
        assert generator.config.video_token_id is not None


def test_fsdp_wraps_the_model_s_own_decoder_layers(tiny_model_path):
    model, _ = load_vlm(tiny_model_path)
    assert "Qwen2_5_VLDecoderLayer" in decoder_layer_classes(apply_lora(model, 4))
    config = load_config(None, ["distributed=fsdp", "mixed_precision=bf16"], recipe="descore",
                         model_path=str(tiny_model_path))
    plugin = sharding_plugins(config, model)["fsdp_plugin"]
    assert plugin.auto_wrap_policy.__name__ == "transformer_auto_wrap_policy"
    assert plugin.transformer_cls_names_to_wrap == decoder_layer_classes(model)
    assert plugin.mixed_precision_policy.param_dtype is torch.bfloat16


def test_zero3_config_takes_batch_accumulation_clipping_and_precision_from_the_run():
    config = load_config(None, ["distributed=deepspeed", "mixed_precision=bf16", "optim.batch_size=8",
                                "optim.gradient_accumulation_steps=4", "optim.max_grad_norm=0.5"],
                         recipe="rapo", model_path="m", stages={"sft_steps": 0, "grpo_steps": 1})
    settings = deepspeed_zero3_config(config)
    assert settings["zero_optimization"]["stage"] == 3
    assert settings["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert (settings["train_micro_batch_size_per_gpu"], settings["gradient_accumulation_steps"]) == (8, 4)
    assert settings["gradient_clipping"] == 0.5
    assert settings["bf16"] == {"enabled": True} and settings["fp16"] == {"enabled": False}


def test_zero3_without_deepspeed_installed_is_a_clear_error(tiny_model_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "deepspeed" else real_find_spec(name))
    config = load_config(None, ["distributed=deepspeed"], recipe="descore", model_path=str(tiny_model_path))
    with pytest.raises(ConfigError, match="needs the deepspeed package"):
        sharding_plugins(config, torch.nn.Linear(1, 1))


def test_gradient_checkpointing_with_lora_still_trains_the_adapters(tiny_model_path):
    """Frozen embeddings give the checkpointed layers inputs without grad; non-reentrant checkpointing
    still carries the gradient to the LoRA weights inside them."""
    model, tokenizer = load_vlm(tiny_model_path, gradient_checkpointing=True)
    assert model.is_activation_checkpointing
    model = apply_lora(model, 4)
    model.train()
    input_ids = torch.tensor([tokenizer("Video A is better in visual aesthetics")["input_ids"]])
    model(input_ids=input_ids, labels=input_ids, use_cache=False).loss.backward()
    adapters = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert adapters and all(p.grad is not None for p in adapters)
    assert any(float(p.grad.abs().sum()) > 0 for p in adapters)
