"""The training loop: setup -> fit -> (validate) -> save, on accelerate.

A recipe hands over trainable modules, how to save/load them, and one or more *stages*; each stage
is a step budget and a function computing the loss of one micro-batch of example indices. The
global optimizer-step count runs across stages, so a resumed run skips finished stages and
continues the current one where its last checkpoint left it.
"""

from __future__ import annotations

import functools
import json
import math
import random
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from rm_training.config import TrainConfig
from rm_training.data import batch_indices, prepared_batches
from rm_training.distributed import (
    gathered_state_dict,
    load_optimizer_state,
    save_optimizer_state,
    sharding_plugins,
)
from rm_training.run_dir import RunDir

LossFunction = Callable[[list[int]], tuple[torch.Tensor, dict]]


@dataclass
class Stage:
    name: str
    steps: int
    num_examples: int
    compute_loss: LossFunction
    batch_size: int | None = None  # examples per micro-batch; defaults to optim.batch_size
    on_start: Callable[[], None] | None = None
    # Decodes and encodes a micro-batch of indices ahead of the step, in video.num_workers DataLoader
    # workers; compute_loss then receives what it returns instead of the indices.
    prepare: Callable[[list[int]], object] | None = None


def peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def learning_rate_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """``optim.lr_scheduler`` over the run's optimizer steps (transformers' ``get_scheduler``): linear
    warm-up from 0 over ``optim.warmup_steps``, then constant, linear decay to 0 or cosine decay to 0
    at ``total_steps``. Stepped once per optimizer step, whatever the number of processes."""
    from transformers import get_scheduler

    if config.optim.sft_learning_rate > 0 and config.stages.atomic_steps + config.stages.sft_steps > 0:
        return cold_start_then_grpo_scheduler(optimizer, config)
    name = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[config.optim.lr_scheduler]
    return get_scheduler(name, optimizer, num_warmup_steps=config.optim.warmup_steps,
                         num_training_steps=config.total_steps)


def cold_start_then_grpo_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """Two learning rates in one run (seed 004 trains its cold start at 1e-5, then RAPO from 1e-6 with linear
    decay): ``optim.sft_learning_rate`` over the atomic and SFT steps (after the linear warm-up of
    ``optim.warmup_steps``), then ``optim.lr_scheduler`` from ``optim.learning_rate`` over the GRPO steps
    (constant, linear decay to 0 or cosine decay to 0 at the last step)."""
    cold_steps = config.stages.atomic_steps + config.stages.sft_steps
    grpo_steps = max(config.stages.grpo_steps, 1)
    cold_ratio = config.optim.sft_learning_rate / config.optim.learning_rate
    warmup = config.optim.warmup_steps
    shape = config.optim.lr_scheduler

    def factor(step: int) -> float:
        if step < cold_steps:
            return cold_ratio * (step / warmup if step < warmup else 1.0)
        progress = (step - cold_steps) / grpo_steps
        if shape == "linear":
            return max(0.0, 1.0 - progress)
        if shape == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        run: RunDir,
        model: nn.Module,
        save_model: Callable[[nn.Module, Path, dict], None],
    ):
        from accelerate import Accelerator

        self.config = config
        self.run = run
        self.accelerator = Accelerator(
            gradient_accumulation_steps=config.optim.gradient_accumulation_steps,
            mixed_precision=config.mixed_precision,
            cpu=not torch.cuda.is_available(),
            **sharding_plugins(config, model),
        )
        self._save_model = save_model
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            parameters, lr=config.optim.learning_rate, weight_decay=config.optim.weight_decay
        )
        # not prepared: accelerate's scheduler wrapper steps once per process on each optimizer step.
        # Under DeepSpeed too (accelerate hands the engine only DeepSpeed's own scheduler classes and would
        # wrap this one the same way): it sets the learning rate in this AdamW's parameter groups, which
        # the ZeRO optimizer steps, and the loop steps it once per optimizer step.
        self.scheduler = learning_rate_scheduler(optimizer, config)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.step = 0
        self._writer = None

    @property
    def unwrapped(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)

    # --- checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self, stage: str) -> Path:
        """Every process calls this: under FSDP / ZeRO-3 the weights and the optimizer state are gathered
        from all of them (the main process writes)."""
        path = self.run.checkpoint_path(self.step)
        if self.accelerator.is_main_process:
            path.mkdir(parents=True, exist_ok=True)
        self.accelerator.wait_for_everyone()
        state_dict = gathered_state_dict(self.accelerator, self.model)
        save_optimizer_state(self.accelerator, self.model, self.optimizer, path)
        if self.accelerator.is_main_process:
            self._save_model(self.unwrapped, path, state_dict)
            torch.save(self.scheduler.state_dict(), path / "scheduler.pt")
            # sampling (CoT masking, GRPO generations) continues the same random stream on resume
            torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, path / "rng.pt")
            # state.json last: a checkpoint without it is incomplete and ignored on resume
            (path / "state.json").write_text(json.dumps({"step": self.step, "stage": stage}))
            self.run.prune_checkpoints(self.config.keep_checkpoints)
        self.accelerator.wait_for_everyone()
        return path

    def save_weights(self, path: Path) -> None:
        """The policy's weights alone, as a save_pretrained folder (gathered under FSDP / ZeRO-3), written
        beside ``path`` and renamed into place, so a folder that exists is complete. Every process calls this."""
        partial = path.with_name(f".{path.name}.partial")
        if self.accelerator.is_main_process:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        state_dict = gathered_state_dict(self.accelerator, self.model)
        if self.accelerator.is_main_process:
            self._save_model(self.unwrapped, partial, state_dict)
            partial.rename(path)
        self.accelerator.wait_for_everyone()

    def resume(self, checkpoint: Path | None) -> int:
        """Restore optimizer, scheduler and step count from ``checkpoint`` (the recipe has already
        built its model from the same checkpoint); return the step."""
        if checkpoint is None:
            return 0
        configured = list(self.scheduler.base_lrs)
        load_optimizer_state(self.accelerator, self.model, self.optimizer, checkpoint)
        self.scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", map_location="cpu"))
        self._schedule_from_config(configured)
        self.step = json.loads((checkpoint / "state.json").read_text())["step"]
        if (checkpoint / "rng.pt").is_file():
            states = torch.load(checkpoint / "rng.pt", map_location="cpu", weights_only=False)
            torch.set_rng_state(states["torch"])
            random.setstate(states["python"])
        return self.step

    def _schedule_from_config(self, base_rates: list[float]) -> None:
        """The saved schedule's position with this run's learning rates. A checkpoint holds the rates of the run
        that wrote it; a run continued with other ones (GRPO at ``optim.learning_rate`` after a cold start at
        another rate) trained at the old rate before, whatever its config said."""
        step = self.scheduler.last_epoch
        self.scheduler.base_lrs = list(base_rates)
        rates = [base * factor(step) for base, factor in zip(base_rates, self.scheduler.lr_lambdas, strict=True)]
        for group, base, rate in zip(self.optimizer.param_groups, base_rates, rates, strict=True):
            group["initial_lr"], group["lr"] = base, rate
        self.scheduler._last_lr = rates

    # --- logging --------------------------------------------------------------------------------

    def _log(self, metrics: dict) -> None:
        if not self.accelerator.is_main_process:
            return
        self.run.log_metrics(self.step, metrics)
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run.path / "tensorboard"))
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(key, value, self.step)

    # --- fit ------------------------------------------------------------------------------------

    def fit(self, stages: list[Stage]) -> dict:
        total = sum(stage.steps for stage in stages)
        accumulation = self.config.optim.gradient_accumulation_steps
        history: list[float] = []
        bar = tqdm(total=total, initial=min(self.step, total), desc=self.config.recipe, unit="step",
                   disable=not self.accelerator.is_main_process, dynamic_ncols=True)
        stage_start = 0
        for index, stage in enumerate(stages):
            stage_end = stage_start + stage.steps
            if self.step >= stage_end or stage.steps == 0:
                stage_start = stage_end
                continue
            if stage.on_start is not None:
                stage.on_start()
            batch_size = stage.batch_size or self.config.optim.batch_size
            processes = self.accelerator.num_processes
            make_batches = functools.partial(
                batch_indices, stage.num_examples, batch_size, seed=self.config.seed + index,
                start_batch=(self.step - stage_start) * accumulation * processes + self.accelerator.process_index,
                stride=processes,
            )
            if stage.prepare is None:
                batches = make_batches()
            else:
                batches = prepared_batches(make_batches, stage.prepare, self.config.video.num_workers)
            self.model.train()
            while self.step < stage_end:
                started = time.perf_counter()
                losses, extra = [], {}
                for _ in range(accumulation):
                    with self.accelerator.accumulate(self.model):
                        loss, metrics = stage.compute_loss(next(batches))
                        self.accelerator.backward(loss)
                        if self.accelerator.sync_gradients and self.config.optim.max_grad_norm > 0:
                            self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.optim.max_grad_norm)
                        self.optimizer.step()
                        if self.accelerator.sync_gradients:
                            self.scheduler.step()
                        self.optimizer.zero_grad()
                    losses.append(float(loss.detach()))
                    for key, value in metrics.items():
                        extra[key] = extra.get(key, 0.0) + float(value) / accumulation
                self.step += 1
                elapsed = time.perf_counter() - started
                loss_value = sum(losses) / len(losses)
                history.append(loss_value)
                record = {
                    "stage": stage.name,
                    f"{stage.name}/loss": loss_value,
                    "loss": loss_value,
                    "learning_rate": self.scheduler.get_last_lr()[0],
                    "steps_per_second": 1.0 / elapsed,
                    "samples_per_second": batch_size * accumulation * processes / elapsed,
                    "processes": processes,
                    "peak_memory_mb": peak_memory_mb(),
                    **{f"{stage.name}/{key}": value for key, value in extra.items()},
                }
                if self.step % self.config.log_every == 0 or self.step == stage_end:
                    self._log(record)
                bar.update(1)
                bar.set_postfix(stage=stage.name, loss=f"{loss_value:.4f}",
                                samples_s=f"{record['samples_per_second']:.2f}",
                                mem_mb=f"{record['peak_memory_mb']:.0f}")
                if self.step % self.config.save_every == 0 or self.step == stage_end:
                    self.save_checkpoint(stage.name)
            stage_start = stage_end
        bar.close()
        if self._writer is not None:
            self._writer.flush()
        return {"final_step": self.step, "losses": history}
