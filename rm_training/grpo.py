"""GRPO building blocks for VLM policies: group sampling through ``model.generate``, completion
masks, rewards -> advantages, and the clipped loss against a frozen reference (seeds 000 / 004)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from rm_training.config import GRPOConfig, TrainConfig
from rm_training.data import ChatEncoder, collate, prompt_messages
from rm_training.distributed import prepare_reference
from rm_training.generation import CompletionGenerator, TransformersGenerator
from rm_training.losses import grpo_clipped_loss, grpo_group_advantages, selective_log_softmax
from rm_training.modeling import (
    REWARD_HEAD_FILE,
    VIDEO_INPUT_KEYS,
    DescoreModel,
    base_model,
    generation_options,
    load_lora_checkpoint,
    load_vlm,
    model_inputs,
)


@dataclass
class Rollout:
    """K completions for each of B prompts, as one batch of B*K full sequences."""

    batch: dict  # input_ids (prompt + completion), attention_mask, video tensors
    completion_mask: torch.Tensor  # 1 on completion tokens up to and including the first eos
    texts: list[str]
    prompt_length: int
    videos_per_row: int = 0
    stats: dict[str, float] = field(default_factory=dict)  # logged with the step, e.g. the share in the format


def repeat_batch(batch: dict, times: int, videos_per_row: int) -> dict:
    """Each row repeated ``times`` in place (row i -> rows i*times .. i*times+times-1), videos too."""
    repeated = {key: batch[key].repeat_interleave(times, dim=0)
                for key in ("input_ids", "attention_mask", "mm_token_type_ids")}
    if "video_grid_thw" in batch:
        grids = batch["video_grid_thw"]
        patches = grids.prod(-1).tolist()
        chunks = list(torch.split(batch["pixel_values_videos"], patches))
        seconds = batch["second_per_grid_ts"]
        pixel, grid, second = [], [], []
        for row in range(batch["input_ids"].shape[0]):
            span = range(row * videos_per_row, (row + 1) * videos_per_row)
            for _ in range(times):
                pixel += [chunks[v] for v in span]
                grid += [grids[v] for v in span]
                second += [seconds[v] for v in span]
        repeated.update(pixel_values_videos=torch.cat(pixel), video_grid_thw=torch.stack(grid),
                        second_per_grid_ts=torch.stack(second))
    return repeated


@dataclass
class PromptBatch:
    """A GRPO micro-batch's prompts, encoded and collated (left-padded) ahead of the step, in
    ``video.num_workers`` DataLoader workers (the stage's ``prepare``)."""

    indices: list[int]  # of the rows the prompts come from
    batch: dict
    videos_per_row: int


def encode_prompt_batch(encoder: ChatEncoder, rows: list[dict], indices: list[int]) -> PromptBatch:
    """The prompts (the messages without the assistant turn) of ``rows[i]`` for each of ``indices``,
    their videos decoded and packed."""
    prompts = [encoder.encode(prompt_messages(rows[index]["messages"])) for index in indices]
    batch = collate(prompts, encoder.tokenizer.pad_token_id, encoder.video_token_id, "left")
    return PromptBatch(indices=list(indices), batch=batch, videos_per_row=len(prompts[0].videos))


def completion_mask_after(generated: torch.Tensor, prompt_length: int, eos_token_id: int) -> torch.Tensor:
    """1 on generated tokens up to and including the first eos, 0 on the prompt and after eos."""
    completion = generated[:, prompt_length:]
    is_eos = completion == eos_token_id
    after_eos = (is_eos.cumsum(dim=1) - is_eos.int()) > 0
    mask = torch.zeros_like(generated)
    mask[:, prompt_length:] = (~after_eos).long()
    return mask


@torch.no_grad()
def sample(policy: nn.Module, prompt_batch: dict, tokenizer, options: GRPOConfig, videos_per_row: int,
           generator: CompletionGenerator | None = None) -> Rollout:
    """K sampled completions per prompt (``prompt_batch`` must be left-padded), by ``generator``
    (:mod:`rm_training.generation`; default: ``generate`` on the policy itself)."""
    from accelerate.utils import extract_model_from_parallel

    expanded = repeat_batch(prompt_batch, options.num_generations, videos_per_row)
    generator = generator or TransformersGenerator(tokenizer)
    completions = generator.generate(policy, expanded, videos_per_row, options)
    video_token_id = base_model(extract_model_from_parallel(policy)).config.video_token_id
    return rollout_from_completions(expanded, completions, tokenizer, video_token_id, videos_per_row)


def rollout_from_completions(expanded: dict, completions: torch.Tensor, tokenizer, video_token_id: int,
                             videos_per_row: int) -> Rollout:
    """The rollout of one completion per row of ``expanded``: ``completions`` are ``(rows, length)``
    ids padded on the right after each eos, as ``generate`` returns them after the prompt."""
    eos = generation_options(tokenizer)["eos_token_id"]
    generated = torch.cat([expanded["input_ids"], completions.to(expanded["input_ids"].device)], dim=1)
    prompt_length = expanded["input_ids"].shape[1]
    completion_mask = completion_mask_after(generated, prompt_length, eos)
    attention = torch.cat([expanded["attention_mask"], completion_mask[:, prompt_length:]], dim=1)
    batch = {"input_ids": generated, "attention_mask": attention}
    batch["mm_token_type_ids"] = (generated == video_token_id).int() * 2
    for key in VIDEO_INPUT_KEYS:
        if key in expanded and key != "mm_token_type_ids":
            batch[key] = expanded[key]
    texts = tokenizer.batch_decode(generated[:, prompt_length:], skip_special_tokens=True)
    return Rollout(batch=batch, completion_mask=completion_mask, texts=texts, prompt_length=prompt_length,
                   videos_per_row=videos_per_row)


LOGPROB_CHUNK_TOKENS = 256


def completion_logprobs(
    model: nn.Module, batch: dict, prompt_length: int, chunk_tokens: int = LOGPROB_CHUNK_TOKENS,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Log-probability of each completion token given its prefix, ``(rows, completion_length)``, under the
    distribution the completions were sampled from (``temperature``: the logits divided by it, as TRL's GRPO
    does; at 0.7 the policy gradient of the temperature-1 log-probs pushes a different distribution).

    Only the positions that predict completion tokens go through the LM head (``logits_to_keep``), so
    the logits are ``(rows, completion_length, vocabulary)`` in the model's dtype whatever the prompt's
    length (a 2,000-token video prompt used to cost 2,000 rows of full-vocabulary float32), and the
    log-softmax upcasts one chunk of ``chunk_tokens`` rows at a time (:func:`selective_log_softmax`).
    The call goes through ``model`` itself, so DDP / FSDP / ZeRO-3 wrappers see a normal forward.
    """
    input_ids = batch["input_ids"]
    positions = torch.arange(prompt_length - 1, input_ids.shape[1] - 1, device=input_ids.device)
    logits = model(**model_inputs(batch), use_cache=False, logits_to_keep=positions).logits
    return selective_log_softmax(logits, input_ids[:, prompt_length:], chunk_tokens, temperature)


def select_rows(rollout: Rollout, rows: range) -> dict:
    """The model inputs of ``rows`` of a rollout's batch, with those rows' videos."""
    batch = {key: rollout.batch[key][rows.start:rows.stop] for key in ("input_ids", "attention_mask",
                                                                         "mm_token_type_ids")
             if key in rollout.batch}
    if "video_grid_thw" in rollout.batch:
        grids = rollout.batch["video_grid_thw"]
        first, last = rows.start * rollout.videos_per_row, rows.stop * rollout.videos_per_row
        patches = grids.prod(-1)
        patch_start, patch_stop = int(patches[:first].sum()), int(patches[:last].sum())
        batch.update(pixel_values_videos=rollout.batch["pixel_values_videos"][patch_start:patch_stop],
                     video_grid_thw=grids[first:last],
                     second_per_grid_ts=rollout.batch["second_per_grid_ts"][first:last])
    return batch


class Reference:
    """The frozen reference policy of the KL penalty.

    With LoRA it is the policy itself with its adapter disabled (peft's ``disable_adapter``): the base
    weights, no second copy. Without LoRA it is ``model``, a frozen copy loaded from the model folder
    the way the policy was (:func:`load_reference_model`), never a ``deepcopy`` of the policy (33 GB
    more at 7B, and a copy of one shard under ZeRO-3).
    """

    def __init__(self, model: nn.Module | None = None):
        self.model = model

    @torch.no_grad()
    def logprobs(self, policy: nn.Module, batch: dict, prompt_length: int, temperature: float = 1.0) -> torch.Tensor:
        if self.model is not None:
            return completion_logprobs(self.model, batch, prompt_length, temperature=temperature)
        from accelerate.utils import extract_model_from_parallel

        adapted = extract_model_from_parallel(policy)
        if not hasattr(adapted, "disable_adapter"):
            raise ValueError("a reference without its own model needs a LoRA (peft) policy to disable the adapter of")
        # the forward still goes through the wrapper (FSDP gathers its shards in it)
        with adapted.disable_adapter():
            return completion_logprobs(policy, batch, prompt_length, temperature=temperature)


def load_reference_model(model_path: str, dtype: str = "auto") -> nn.Module:
    """The base model of ``model_path`` in ``dtype`` with gradients off: the reference of a full
    fine-tuning run (prepare it with the run's accelerator so it sits where the policy does)."""
    model, _ = load_vlm(model_path, dtype=dtype)
    model.eval()
    model.requires_grad_(False)
    return model


GRPO_START_REFERENCE = "grpo-reference"  # under the run folder: the policy as its GRPO stage started


def reference_for_run(config: TrainConfig, trainer, extend: Callable[[nn.Module], None] | None = None
                      ) -> Reference | None:
    """The reference of a run's GRPO stage (None without a KL penalty), as TRL anchors to the model it is given.
    ``grpo.reference = start``: the policy as the stage starts (:func:`start_policy_reference`), once a stage
    before it has trained it; with no step before, that policy is the base. ``base``, or ``start`` at step 0: the
    base model of ``config.model_path``, through the LoRA adapter disabled or a frozen copy (``extend`` adds to
    the copy what the recipe added to the policy, descore's ``[Reward]`` row). A copy is placed like the policy
    by :func:`rm_training.distributed.prepare_reference` (sharded under FSDP and ZeRO-3; no DDP wrapper, no
    optimizer). Every process must call it, when the GRPO stage starts."""
    if config.grpo.kl_beta == 0:
        return None
    if config.grpo.reference == "start" and (trainer.step > 0 or (trainer.run.path / GRPO_START_REFERENCE).is_dir()):
        return Reference(prepare_reference(trainer.accelerator, start_policy_reference(config, trainer)))
    if config.lora_rank:
        return Reference()
    model = load_reference_model(config.model_path, config.dtype)
    if extend is not None:
        extend(model)
    return Reference(prepare_reference(trainer.accelerator, model))


def start_policy_reference(config: TrainConfig, trainer) -> nn.Module:
    """The policy's weights as the GRPO stage starts, frozen: written once to the run folder's
    ``grpo-reference`` (gathered under sharding), so a run resumed in the middle of GRPO anchors to the same
    weights, not to its resumed ones; a LoRA policy's adapter is merged into its base. Of a descore policy, the
    backbone that writes the reasoning (its ``[Reward]`` row included), without the head."""
    from peft import PeftModel

    path = trainer.run.path / GRPO_START_REFERENCE
    if not path.is_dir():
        trainer.save_weights(path)
    if (path / REWARD_HEAD_FILE).is_file():
        model = DescoreModel.load(path, config.model_path, dtype=config.dtype)[0].vlm
    elif (path / "adapter_config.json").is_file():
        model, _ = load_lora_checkpoint(path, config.model_path, False, dtype=config.dtype)
    else:
        model, _ = load_vlm(path, dtype=config.dtype)
    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
    model.eval()
    model.requires_grad_(False)
    return model


# called with a micro-batch as the stage hands it over: a PromptBatch in the recipes, prepared ahead
RolloutFactory = Callable[[Any], tuple[Rollout, torch.Tensor]]


class GRPOUpdates:
    """The GRPO stage's loss function: several optimisation steps per rollout (seeds 000 / 004).

    Each call returns the loss of one mini-batch: a rollout of B prompts x K completions is sampled
    (``new_rollout(indices) -> (rollout, rewards of shape (B, K))``) and then reused for
    ``updates_per_rollout`` passes of ``mini_batches`` calls each, so a rollout serves
    ``updates_per_rollout * mini_batches`` calls (micro-batches of the loop; an optimizer step every
    ``optim.gradient_accumulation_steps`` of them). The prompt indices of the calls that reuse a rollout
    are not sampled (each call's batch is a fresh shuffled draw).

    The old log-probs of the ratio are taken at sampling time, before any update, one mini-batch at a
    time (the same shapes as the update's forward, so the first update's ratio is exactly 1 on CPU);
    the reference log-probs are taken then too, once per rollout. With one call per rollout the old
    log-probs are the current ones detached (as TRL does), and no extra forward runs.
    """

    def __init__(self, policy: nn.Module, options: GRPOConfig, reference: Reference | None,
                 new_rollout: RolloutFactory):
        self.policy = policy
        self.options = options
        self.reference = reference if options.kl_beta > 0 else None
        self.new_rollout = new_rollout
        self._pending: list[tuple[int, int]] = []

    @property
    def calls_per_rollout(self) -> int:
        return self.options.updates_per_rollout * self.options.mini_batches

    def _start(self, indices: list[int]) -> None:
        rollout, rewards = self.new_rollout(indices)
        num_rows = rollout.batch["input_ids"].shape[0]
        if num_rows < self.options.mini_batches:
            raise ValueError(f"grpo.mini_batches={self.options.mini_batches} but a rollout has only {num_rows} "
                             "completions")
        parts = self.options.mini_batches
        bounds = [round(part * num_rows / parts) for part in range(parts + 1)]
        self.parts = [range(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
        self.rollout, self.rewards = rollout, rewards
        self.advantages = grpo_group_advantages(rewards).flatten()
        self.old_logprobs = self.reference_logprobs = None
        inputs = [select_rows(rollout, rows) for rows in self.parts]
        with torch.no_grad():
            if self.calls_per_rollout > 1:
                self.old_logprobs = [completion_logprobs(self.policy, batch, rollout.prompt_length,
                                                         temperature=self.options.temperature)
                                     for batch in inputs]
            if self.reference is not None:
                self.reference_logprobs = [self.reference.logprobs(self.policy, batch, rollout.prompt_length,
                                                                   temperature=self.options.temperature)
                                           for batch in inputs]
        self._pending = [(update, part) for update in range(self.options.updates_per_rollout)
                         for part in range(self.options.mini_batches)]

    def __call__(self, indices: list[int]) -> tuple[torch.Tensor, dict]:
        if not self._pending:
            self._start(indices)
        update, part = self._pending.pop(0)
        rollout, rows = self.rollout, self.parts[part]
        logprobs = completion_logprobs(self.policy, select_rows(rollout, rows), rollout.prompt_length,
                                       temperature=self.options.temperature)
        old_logprobs = self.old_logprobs[part] if self.old_logprobs is not None else logprobs.detach()
        reference_logprobs = self.reference_logprobs[part] if self.reference_logprobs is not None else None
        mask = rollout.completion_mask[rows.start:rows.stop, rollout.prompt_length:]
        loss, stats = grpo_clipped_loss(
            logprobs, old_logprobs, self.advantages[rows.start:rows.stop].to(logprobs.device), mask,
            reference_logprobs=reference_logprobs, epsilon_low=self.options.epsilon_low,
            epsilon_high=self.options.epsilon_high, beta=self.options.kl_beta,
        )
        stats = {key: float(value) for key, value in stats.items()}
        stats.update(rollout.stats)
        stats.update(update=float(update), reward_mean=float(self.rewards.mean()),
                     reward_std=float(self.rewards.std(unbiased=False)),
                     completion_tokens=float(mask.sum(dim=1).float().mean()))
        return loss, stats


RewardFunction = Callable[[str, dict], float]
