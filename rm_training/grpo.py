"""GRPO building blocks for VLM policies: group sampling through ``model.generate``, completion
masks, rewards -> advantages, and the clipped loss against a frozen reference (seeds 000 / 004)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from rm_training.config import GRPOConfig
from rm_training.losses import grpo_clipped_loss, grpo_group_advantages
from rm_training.modeling import (
    VIDEO_INPUT_KEYS,
    base_model,
    completion_logprobs,
    generation_options,
    model_inputs,
)


@dataclass
class Rollout:
    """K completions for each of B prompts, as one batch of B*K full sequences."""

    batch: dict  # input_ids (prompt + completion), attention_mask, video tensors
    completion_mask: torch.Tensor  # 1 on completion tokens up to and including the first eos
    texts: list[str]
    prompt_length: int


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


def completion_mask_after(generated: torch.Tensor, prompt_length: int, eos_token_id: int) -> torch.Tensor:
    """1 on generated tokens up to and including the first eos, 0 on the prompt and after eos."""
    completion = generated[:, prompt_length:]
    is_eos = completion == eos_token_id
    after_eos = (is_eos.cumsum(dim=1) - is_eos.int()) > 0
    mask = torch.zeros_like(generated)
    mask[:, prompt_length:] = (~after_eos).long()
    return mask


@torch.no_grad()
def sample(policy: nn.Module, prompt_batch: dict, tokenizer, options: GRPOConfig, videos_per_row: int) -> Rollout:
    """K sampled completions per prompt (``prompt_batch`` must be left-padded)."""
    expanded = repeat_batch(prompt_batch, options.num_generations, videos_per_row)
    generate_options = generation_options(tokenizer)
    eos = generate_options["eos_token_id"]
    was_training = policy.training
    policy.eval()
    generated = base_model(policy).generate(
        **model_inputs(expanded), do_sample=True, temperature=options.temperature,
        max_new_tokens=options.max_new_tokens, **generate_options,
    )
    policy.train(was_training)
    prompt_length = expanded["input_ids"].shape[1]
    completion_mask = completion_mask_after(generated, prompt_length, eos)
    attention = torch.cat([expanded["attention_mask"], completion_mask[:, prompt_length:]], dim=1)
    batch = {"input_ids": generated, "attention_mask": attention}
    video_token_id = base_model(policy).config.video_token_id
    batch["mm_token_type_ids"] = (generated == video_token_id).int() * 2
    for key in VIDEO_INPUT_KEYS:
        if key in expanded and key != "mm_token_type_ids":
            batch[key] = expanded[key]
    texts = tokenizer.batch_decode(generated[:, prompt_length:], skip_special_tokens=True)
    return Rollout(batch=batch, completion_mask=completion_mask, texts=texts, prompt_length=prompt_length)


def frozen_copy(model: nn.Module) -> nn.Module:
    reference = copy.deepcopy(base_model(model))
    reference.eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def grpo_step_loss(
    policy: nn.Module,
    reference: nn.Module | None,
    rollout: Rollout,
    rewards: torch.Tensor,
    options: GRPOConfig,
) -> tuple[torch.Tensor, dict]:
    """Loss of one policy update on a rollout; ``rewards`` has shape ``(B, K)``.

    One update per rollout, so the old policy equals the current one (ratio 1 in value, its
    gradient is the policy gradient); clipping matters when ``gradient_accumulation_steps`` or
    repeated updates reuse a rollout.
    """
    advantages = grpo_group_advantages(rewards).flatten()
    mask = rollout.completion_mask
    logprobs = completion_logprobs(policy, rollout.batch, mask)
    reference_logprobs = None
    if reference is not None and options.kl_beta > 0:
        with torch.no_grad():
            reference_logprobs = completion_logprobs(reference, rollout.batch, mask)
    loss, stats = grpo_clipped_loss(
        logprobs, logprobs.detach(), advantages.to(logprobs.device), mask,
        reference_logprobs=reference_logprobs, epsilon_low=options.epsilon_low,
        epsilon_high=options.epsilon_high, beta=options.kl_beta,
    )
    stats = {key: float(value) for key, value in stats.items()}
    stats.update(reward_mean=float(rewards.mean()), reward_std=float(rewards.std(unbiased=False)),
                 completion_tokens=float(mask.sum(dim=1).float().mean()))
    return loss, stats


RewardFunction = Callable[[str, dict], float]
