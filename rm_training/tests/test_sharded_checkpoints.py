"""Checkpoints and the GRPO reference under FSDP, run for real in two CPU processes over gloo
(``fsdp_cpu_driver.py`` says how FSDP is turned on there), and the DeepSpeed ZeRO-3 settings, which
cannot run here (``deepspeed`` is not installed: it builds its ops against CUDA).

Under FSDP each process holds a shard of every parameter: a checkpoint must gather them on every
process and write the full tensors once; the module the main process holds alone has shards (a
``save_pretrained`` of it writes zero-sized tensors)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rm_training.cli import main
from rm_training.config import load_config
from rm_training.distributed import (
    deepspeed_reference_config,
    deepspeed_zero3_config,
    gathered_state_dict,
    load_optimizer_state,
    prepare_reference,
    save_optimizer_state,
    sharding_plugins,
)
from rm_training.modeling import DescoreModel, load_lora_checkpoint, load_vlm

FAST = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "optim.batch_size=1",
        "optim.learning_rate=1e-2"]

# two cold-start steps, then one GRPO step anchored to the policy as GRPO starts
START_ANCHORED = ["stages.sft_steps=2", "stages.grpo_steps=1", "grpo.kl_beta=0.1", "grpo.reference=start",
                  "grpo.max_new_tokens=6", "grpo.num_generations=2"]


@pytest.fixture(scope="module")
def fsdp_runs(make_export, tiny_model_path, tmp_path_factory):
    """One two-process FSDP launch: the reference check, then four short trainings, each with a witness
    of its trained weights gathered by ``summon_full_params`` (not the checkpoint's code path)."""
    work = tmp_path_factory.mktemp("fsdp")
    sizes = {"sizes": {"train": 4, "validation": 1, "test": 1}}
    base_export, cot_export = make_export("aesrm-base-sft", **sizes), make_export("cot-sft", **sizes)
    trainings = {
        "full": ("aesrm-base", base_export, ["stages.atomic_steps=1", "stages.sft_steps=1", "save_every=1"]),
        "lora": ("aesrm-cot", cot_export, ["stages.sft_steps=2", "lora_rank=4"]),
        "descore": ("descore", cot_export, ["stages.sft_steps=1"]),
        "grpo": ("aesrm-cot", cot_export, ["stages.sft_steps=0", "stages.grpo_steps=1", "grpo.max_new_tokens=6",
                                           "grpo.num_generations=2"]),
        "grpo-start": ("aesrm-base", base_export, [*START_ANCHORED, "save_every=2"]),
        "grpo-start-lora": ("aesrm-base", base_export, [*START_ANCHORED, "lora_rank=4"]),
    }
    jobs = [{"kind": "reference", "model_path": str(tiny_model_path), "out": str(work / "reference.json")}]
    for name, (recipe, export, overrides) in trainings.items():
        jobs.append({"kind": "train", "recipe": recipe, "data": str(export), "out": str(work / name),
                     "model_path": str(tiny_model_path), "overrides": [*FAST, *overrides],
                     "witness": str(work / f"{name}-witness.pt")})
    (work / "jobs.json").write_text(json.dumps(jobs))
    driver = Path(__file__).with_name("fsdp_cpu_driver.py")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         str(driver), str(work / "jobs.json")],
        capture_output=True, text=True, env=environment, timeout=900,
    )
    assert launched.returncode == 0, launched.stderr[-4000:]
    return work, base_export


def _witness(work: Path, name: str) -> dict:
    return torch.load(work / f"{name}-witness.pt")


def _assert_identical(loaded: dict, witness: dict) -> None:
    assert set(loaded) == set(witness["weights"])
    for name, value in witness["weights"].items():
        assert torch.equal(loaded[name], value), name


def test_each_fsdp_process_holds_half_of_the_weights(fsdp_runs):
    witness = _witness(fsdp_runs[0], "full")
    assert witness["held_per_process"] == [witness["total"] // 2] * 2


def test_a_full_checkpoint_written_by_two_fsdp_processes_reloads_in_one_process_with_identical_weights(
    fsdp_runs, tiny_model_path
):
    work, _ = fsdp_runs
    witness = _witness(work, "full")
    reloaded, _ = load_vlm(work / "full" / "checkpoints" / "step-000002")
    _assert_identical(dict(reloaded.named_parameters()), witness)
    initial, _ = load_vlm(tiny_model_path)
    assert not torch.equal(initial.lm_head.weight, witness["weights"]["lm_head.weight"])  # two steps trained it


def test_a_lora_adapter_written_by_two_fsdp_processes_reloads_with_identical_weights(fsdp_runs, tiny_model_path):
    work, _ = fsdp_runs
    adapter = work / "lora" / "checkpoints" / "step-000002"
    assert (adapter / "adapter_model.safetensors").is_file() and not (adapter / "model.safetensors").exists()
    reloaded, _ = load_lora_checkpoint(adapter, str(tiny_model_path))
    _assert_identical(dict(reloaded.named_parameters()), _witness(work, "lora"))


def test_a_descore_model_and_head_written_by_two_fsdp_processes_reload_with_identical_weights(
    fsdp_runs, tiny_model_path
):
    work, _ = fsdp_runs
    reloaded, _ = DescoreModel.load(work / "descore" / "checkpoints" / "step-000001", str(tiny_model_path))
    _assert_identical(dict(reloaded.named_parameters()), _witness(work, "descore"))


def test_a_run_checkpointed_by_two_fsdp_processes_resumes_in_one_process(fsdp_runs, tiny_model_path):
    """Adam's step count shows the optimizer state came back: 2 sharded steps, then 1 more here."""
    work, export = fsdp_runs
    run = work / "full"
    assert main(["train", "--recipe", "aesrm-base", "--data", str(export), "--out", str(run),
                 f"model_path={tiny_model_path}", *FAST, "stages.atomic_steps=1", "stages.sft_steps=2",
                 "save_every=1"]) == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(entry["step"], entry["processes"]) for entry in logged] == [(1, 2), (2, 2), (3, 1)]
    sharded = torch.load(run / "checkpoints" / "step-000002" / "optimizer.pt", weights_only=False)
    resumed = torch.load(run / "checkpoints" / "step-000003" / "optimizer.pt", weights_only=False)
    weights = dict(load_vlm(run / "checkpoints" / "step-000003")[0].named_parameters())
    assert set(sharded["state"]) == set(weights)
    for name, state in resumed["state"].items():
        assert float(sharded["state"][name]["step"]) == 2 and float(state["step"]) == 3, name
        assert state["exp_avg"].shape == weights[name].shape, name


def test_the_fsdp_reference_is_sharded_frozen_and_gives_the_unsharded_model_s_log_probs(fsdp_runs):
    reports = json.loads((fsdp_runs[0] / "reference.json").read_text())
    assert [report["process"] for report in reports] == [0, 1]
    for report in reports:
        assert report["is_fsdp"] and not report["training"] and not report["requires_grad"]
        assert report["held"] == report["total"] // 2
        assert torch.equal(torch.tensor(report["from_shards"]), torch.tensor(report["from_whole"]))
    assert reports[0]["from_whole"] != reports[1]["from_whole"]  # each process scored its own batch


def test_a_grpo_step_samples_and_scores_against_the_sharded_reference_under_fsdp(fsdp_runs):
    """Full fine-tuning, so the reference is the frozen copy prepared by ``prepare_reference``; before the
    first update the policy is the reference, so the KL is exactly 0."""
    logged = [json.loads(line) for line in (fsdp_runs[0] / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert [(entry["step"], entry["processes"], entry["grpo/kl"]) for entry in logged] == [(1, 2, 0.0)]
    assert logged[0]["grpo/completion_tokens"] > 0


def _first_grpo_step(run: Path) -> dict:
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return next(entry for entry in logged if entry["stage"] == "grpo")


def test_a_start_reference_is_gathered_once_by_two_fsdp_processes_and_anchors_at_kl_0(fsdp_runs):
    """grpo.reference=start under FSDP: the cold-started policy's shards are gathered into one full copy in the
    run folder (the last SFT step's weights, tensor for tensor), reloaded and sharded again as the reference,
    so the first GRPO step's KL is 0 on both processes."""
    from safetensors.torch import load_file

    run = fsdp_runs[0] / "grpo-start"
    first = _first_grpo_step(run)
    assert first["processes"] == 2 and first["grpo/kl"] == pytest.approx(0.0, abs=1e-7)
    anchored = load_file(run / "grpo-reference" / "model.safetensors")
    after_sft = load_file(run / "checkpoints" / "step-000002" / "model.safetensors")
    assert anchored.keys() == after_sft.keys()
    assert all(torch.equal(anchored[name], after_sft[name]) for name in anchored)
    assert not list(run.glob(".*.partial"))


def test_a_lora_start_reference_written_under_fsdp_is_the_adapter_and_anchors_at_kl_0(fsdp_runs):
    run = fsdp_runs[0] / "grpo-start-lora"
    first = _first_grpo_step(run)
    assert first["processes"] == 2 and first["grpo/kl"] == pytest.approx(0.0, abs=1e-6)
    assert (run / "grpo-reference" / "adapter_config.json").is_file()
    assert not (run / "grpo-reference" / "model.safetensors").exists()


# --- one process: the same functions without sharding ---------------------------------------------


def test_without_sharding_the_state_dict_and_optimizer_state_round_trip(tiny_model_path, tmp_path):
    from accelerate import Accelerator

    model, _ = load_vlm(tiny_model_path)
    accelerator = Accelerator(cpu=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    prepared, optimizer = accelerator.prepare(model, optimizer)
    input_ids = torch.tensor([[30, 31, 32, 33]])
    prepared(input_ids=input_ids, labels=input_ids).loss.backward()
    optimizer.step()
    assert gathered_state_dict(accelerator, prepared).keys() == model.state_dict().keys()
    save_optimizer_state(accelerator, prepared, optimizer, tmp_path)
    optimizer.zero_grad(set_to_none=True)  # as at a resume: no gradients yet
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-2)
    load_optimizer_state(accelerator, prepared, fresh, tmp_path)
    stepped = [parameter for parameter in model.parameters() if parameter in optimizer.optimizer.state]
    assert stepped  # the text-only step reached the language model
    for parameter in stepped:
        assert torch.equal(optimizer.optimizer.state[parameter]["exp_avg_sq"], fresh.state[parameter]["exp_avg_sq"])


def test_an_optimizer_state_written_before_name_keyed_checkpoints_still_resumes(tiny_model_path, tmp_path):
    """Runs checkpointed by the earlier code hold torch's own ``optimizer.state_dict()`` (keyed by position):
    resuming one must not fail with ``KeyError: 'state.0.step'``."""
    from accelerate import Accelerator

    model, _ = load_vlm(tiny_model_path)
    accelerator = Accelerator(cpu=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    prepared, optimizer = accelerator.prepare(model, optimizer)
    input_ids = torch.tensor([[30, 31, 32, 33]])
    prepared(input_ids=input_ids, labels=input_ids).loss.backward()
    optimizer.step()
    torch.save(optimizer.optimizer.state_dict(), tmp_path / "optimizer.pt")
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-2)

    load_optimizer_state(accelerator, prepared, fresh, tmp_path)

    stepped = [parameter for parameter in model.parameters() if parameter in optimizer.optimizer.state]
    assert stepped
    for parameter in stepped:
        assert torch.equal(optimizer.optimizer.state[parameter]["exp_avg"], fresh.state[parameter]["exp_avg"])


def test_without_sharding_the_reference_is_frozen_and_unwrapped(tiny_model_path):
    from accelerate import Accelerator

    model, _ = load_vlm(tiny_model_path)
    reference = prepare_reference(Accelerator(cpu=True), model)
    assert reference is model and not reference.training
    assert not any(parameter.requires_grad for parameter in reference.parameters())


# --- DeepSpeed ZeRO-3: settings only (not run here) ------------------------------------------------


def _zero3_run_config(*overrides):
    return load_config(None, ["distributed=deepspeed", "mixed_precision=bf16", "optim.batch_size=2",
                              "optim.gradient_accumulation_steps=4", *overrides],
                       recipe="rapo", model_path="m", stages={"sft_steps": 0, "grpo_steps": 1})


def test_zero3_steps_our_optimizer_with_our_schedule_and_clips_as_configured():
    """No optimizer / scheduler block: DeepSpeed wraps our AdamW, whose learning rate our scheduler sets
    (accelerate would refuse a scheduler block next to our scheduler). Clipping 0 is DeepSpeed's 'off'."""
    settings = deepspeed_zero3_config(_zero3_run_config("optim.max_grad_norm=0"))
    assert "optimizer" not in settings and "scheduler" not in settings
    assert settings["gradient_clipping"] == 0.0
    assert (settings["train_micro_batch_size_per_gpu"], settings["gradient_accumulation_steps"]) == (2, 4)


def test_zero3_bucket_sizes_come_from_the_text_model_s_hidden_size(tiny_model_path):
    """accelerate fills the 'auto' bucket sizes from ``model.config.hidden_size``, which a Qwen2.5-VL config
    keeps under ``text_config`` (and a DescoreModel has no config): hidden 32 -> 32 * 32 = 1024,
    int(0.9 * 1024) = 921, 10 * 32 = 320."""
    model, _ = load_vlm(tiny_model_path)
    settings = deepspeed_zero3_config(_zero3_run_config(), hidden_size=32)["zero_optimization"]
    assert (settings["reduce_bucket_size"], settings["stage3_prefetch_bucket_size"],
            settings["stage3_param_persistence_threshold"]) == (1024, 921, 320)
    descore = DescoreModel(model)
    assert model.config.get_text_config().hidden_size == 32 and not hasattr(model.config, "hidden_size")
    config = load_config(None, ["distributed=fsdp"], recipe="descore", model_path=str(tiny_model_path))
    plugin = sharding_plugins(config, descore)["fsdp_plugin"]  # a DescoreModel's layers are found too
    assert "Qwen2_5_VLDecoderLayer" in plugin.transformer_cls_names_to_wrap


def test_the_zero3_reference_is_sharded_like_the_policy_without_optimizer_or_scheduler():
    policy = deepspeed_zero3_config(_zero3_run_config())
    policy["scheduler"] = {"type": "WarmupLR"}  # as a hand-written config might have
    reference = deepspeed_reference_config(policy, hidden_size=64)
    assert "optimizer" not in reference and "scheduler" not in reference
    assert reference["zero_optimization"]["stage"] == 3
    assert reference["zero_optimization"]["reduce_bucket_size"] == 64 * 64
    assert reference["bf16"] == {"enabled": True}
    assert policy["scheduler"] == {"type": "WarmupLR"}  # the policy's own config is left alone


def test_under_zero2_the_reference_is_held_whole():
    policy = deepspeed_zero3_config(_zero3_run_config())
    policy["zero_optimization"]["stage"] = 2
    assert deepspeed_reference_config(policy, hidden_size=64)["zero_optimization"]["stage"] == 0


def test_the_schedule_sets_the_learning_rate_of_the_adamw_that_accelerate_and_deepspeed_wrap(tmp_path):
    """Our scheduler is not handed to ``prepare``: accelerate gives DeepSpeed only DeepSpeed's own scheduler
    classes and would wrap ours in its AcceleratedScheduler, which steps once per process. It is bound
    to the torch AdamW itself, the optimizer accelerate wraps (and the ZeRO optimizer steps under
    DeepSpeed). Linear, no warm-up, 10 steps, peak 1e-3: after one step 9 / 10 * 1e-3."""
    from accelerate.scheduler import AcceleratedScheduler

    from rm_training.loop import Trainer
    from rm_training.run_dir import RunDir

    config = load_config(None, ["optim.lr_scheduler=linear", "optim.learning_rate=1e-3", "optim.warmup_steps=0",
                                "stages.sft_steps=10"], recipe="checklist-linear")
    trainer = Trainer(config, RunDir(tmp_path / "run"), torch.nn.Linear(2, 1), lambda module, path, state_dict: None)
    assert not isinstance(trainer.scheduler, AcceleratedScheduler)
    assert trainer.scheduler.optimizer is trainer.optimizer.optimizer
    trainer.optimizer.step()  # no gradients: nothing moves, but the order is the loop's
    trainer.scheduler.step()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.9e-3, abs=1e-15)
