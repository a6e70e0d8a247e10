"""Training sessions and a GRPO reference under FSDP in two CPU processes over gloo:
``accelerate launch --multi_gpu --num_processes 2 fsdp_cpu_driver.py JOBS.json``.

accelerate shards with FSDP only on accelerators: on a CPU machine its state stays ``MULTI_CPU`` and the
FSDP plugin is ignored (and ``check_machine`` refuses ``distributed=fsdp`` there, rightly for users).
torch's FSDP (version 1) itself runs on CPU over gloo, so this driver turns accelerate's state to FSDP
when a plugin is given (and its device from "cpu:0" to "cpu"); that is the only thing it changes.
Wrapping, forward / backward, gradient clipping, the gathered checkpoint and the sharded reference are
the real code paths.

JOBS.json is a list of jobs, run in order by every process:
- ``{"kind": "train", "recipe": R, "data": EXPORT, "out": RUN, "model_path": M, "overrides": [...],
  "witness": FILE}``: build and fit the recipe's session with ``distributed=fsdp``; then FILE gets the
  trained parameters gathered another way (``summon_full_params``), and how many of them each process
  held outside it.
- ``{"kind": "reference", "model_path": M, "out": FILE}``: the reference of a full fine-tuning run
  prepared under FSDP; FILE gets, per process, its completion log-probs on a batch next to those of
  the same model loaded whole, unwrapped.
"""

import json
import sys

import torch


def enable_fsdp_on_cpu() -> None:
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedType

    original_init = AcceleratorState.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # every later AcceleratorState() copies the process state (MULTI_CPU) in again: flip it back each time
        plugin = kwargs.get("fsdp_plugin") or getattr(self, "fsdp_plugin", None)
        if plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            if self.mixed_precision != "no":
                plugin.set_mixed_precision(self.mixed_precision)
            self.fsdp_plugin = plugin
            # accelerate names the CPU of rank r "cpu:0"; FSDP compares that with its parameters' "cpu"
            self.device = torch.device("cpu")

    AcceleratorState.__init__ = init


def clean_name(name: str) -> str:
    return name.replace("_fsdp_wrapped_module.", "")


def train(job: dict) -> None:
    """As ``python -m rm_training train`` does it, minus ``check_machine`` (which refuses FSDP on CPU)."""
    from accelerate import PartialState
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from transformers import set_seed

    from rm_training.config import load_config
    from rm_training.export import open_export
    from rm_training.recipes import recipe_module
    from rm_training.run_dir import RunDir

    config = load_config(None, ["distributed=fsdp", *job["overrides"]], recipe=job["recipe"],
                         model_path=job["model_path"], data=job["data"], out=job["out"])
    export = open_export(job["data"])
    run = RunDir(job["out"])
    state = PartialState(cpu=True)
    if state.is_main_process:
        run.start(config, export)
    state.wait_for_everyone()
    set_seed(config.seed)
    trainer = recipe_module(job["recipe"]).fit_session(config, export, run)[0]
    assert isinstance(trainer.model, FSDP), type(trainer.model)
    held = sum(parameter.numel() for parameter in trainer.model.parameters())
    with FSDP.summon_full_params(trainer.model, writeback=False):
        weights = {clean_name(name): parameter.detach().clone()
                   for name, parameter in trainer.unwrapped.named_parameters()}
    totals = [None] * trainer.accelerator.num_processes
    torch.distributed.all_gather_object(totals, held)
    if trainer.accelerator.is_main_process:
        torch.save({"weights": weights, "held_per_process": totals,
                    "total": sum(value.numel() for value in weights.values())}, job["witness"])


def reference(job: dict) -> None:
    from accelerate import Accelerator
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    from rm_training.config import load_config
    from rm_training.distributed import prepare_reference, sharding_plugins
    from rm_training.grpo import completion_logprobs, load_reference_model
    from rm_training.modeling import load_vlm

    config = load_config(None, ["distributed=fsdp"], recipe="aesrm-cot", model_path=job["model_path"])
    model = load_reference_model(job["model_path"])
    accelerator = Accelerator(cpu=True, **sharding_plugins(config, model))
    sharded = prepare_reference(accelerator, model)
    generator = torch.Generator().manual_seed(accelerator.process_index)  # each process its own batch
    input_ids = torch.randint(20, 200, (3, 14), generator=generator)
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    held = sum(parameter.numel() for parameter in sharded.parameters())
    from_shards = completion_logprobs(sharded, batch, prompt_length=8)
    whole, _ = load_vlm(job["model_path"])
    whole.eval()
    with torch.no_grad():
        from_whole = completion_logprobs(whole, batch, prompt_length=8)
    report = {"process": accelerator.process_index, "is_fsdp": isinstance(sharded, FSDP),
              "training": sharded.training, "requires_grad": any(p.requires_grad for p in sharded.parameters()),
              "held": held, "total": sum(p.numel() for p in whole.parameters()),
              "from_shards": from_shards.tolist(), "from_whole": from_whole.tolist()}
    reports = [None] * accelerator.num_processes
    torch.distributed.all_gather_object(reports, report)
    if accelerator.is_main_process:
        with open(job["out"], "w") as handle:
            json.dump(reports, handle)


if __name__ == "__main__":
    enable_fsdp_on_cpu()
    for job in json.loads(open(sys.argv[1]).read()):
        {"train": train, "reference": reference}[job["kind"]](job)
    from rm_training.distributed import process_group_close

    process_group_close()
