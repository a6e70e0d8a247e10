"""Pure loss functions: pairwise preference losses and the GRPO clipped objective.

Every function takes tensors and returns tensors; nothing here knows about models or data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Mean of ``-log sigmoid(chosen - rejected)`` (Bradley-Terry negative log-likelihood)."""
    return -F.logsigmoid(chosen - rejected).mean()


def rao_kupper_log_probabilities(
    reward_a: torch.Tensor, reward_b: torch.Tensor, log_theta: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-probabilities of (A wins, B wins, tie) under the Rao-Kupper (1967) model.

    With strengths ``pi = exp(reward)`` and tie parameter ``theta = exp(log_theta) > 1``::

        P(A > B) = pi_a / (pi_a + theta pi_b)                 = sigmoid(d - log_theta)
        P(B > A) = pi_b / (pi_b + theta pi_a)                 = sigmoid(-d - log_theta)
        P(tie)   = (theta^2 - 1) pi_a pi_b / ((pi_a + theta pi_b) (theta pi_a + pi_b))

    where ``d = reward_a - reward_b``. The three sum to one.
    """
    log_theta = torch.as_tensor(log_theta, dtype=reward_a.dtype, device=reward_a.device)
    if bool((log_theta <= 0).any()):
        raise ValueError("Rao-Kupper needs log_theta > 0 (theta > 1)")
    difference = reward_a - reward_b
    log_a_wins = F.logsigmoid(difference - log_theta)
    log_b_wins = F.logsigmoid(-difference - log_theta)
    log_tie = (
        torch.log(torch.expm1(2 * log_theta))
        + reward_a
        + reward_b
        - torch.logaddexp(reward_a, log_theta + reward_b)
        - torch.logaddexp(log_theta + reward_a, reward_b)
    )
    return log_a_wins, log_b_wins, log_tie


def bradley_terry_with_ties_loss(
    reward_a: torch.Tensor,
    reward_b: torch.Tensor,
    outcome: torch.Tensor,
    log_theta: float | torch.Tensor = 0.5,
) -> torch.Tensor:
    """Mean negative log-likelihood of the Rao-Kupper tie extension of Bradley-Terry.

    ``outcome`` holds +1 (A better), -1 (B better) or 0 (tie), like the export labels.
    Rao-Kupper (not Davidson) because it is the tie model DeScore (seed 001) and VideoAlign cite.
    """
    log_a_wins, log_b_wins, log_tie = rao_kupper_log_probabilities(reward_a, reward_b, log_theta)
    outcome = outcome.to(reward_a.device)
    log_likelihood = torch.where(outcome > 0, log_a_wins, torch.where(outcome < 0, log_b_wins, log_tie))
    return -log_likelihood.mean()


def grpo_group_advantages(rewards: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    """Group-normalised advantages ``(r_k - mean(R)) / (std(R) + epsilon)`` (seed 004, eq. 9).

    ``rewards`` has shape ``(num_prompts, K)``: one row per group of K generations for a prompt.
    ``std`` is the population standard deviation of the group; a group whose rewards are all equal
    gets zero advantages (it carries no learning signal).
    """
    if rewards.dim() != 2:
        raise ValueError(f"rewards must have shape (num_prompts, K), got {tuple(rewards.shape)}")
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True, unbiased=False)
    return (rewards - mean) / (std + epsilon)


def grpo_kl_penalty(logprobs: torch.Tensor, reference_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token KL estimate ``pi_ref/pi - log(pi_ref/pi) - 1`` (seed 004, eq. 12); always >= 0."""
    log_ratio = reference_logprobs - logprobs
    return torch.exp(log_ratio) - log_ratio - 1


def grpo_clipped_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    completion_mask: torch.Tensor,
    reference_logprobs: torch.Tensor | None = None,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.28,
    beta: float = 0.01,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Negative of the RAPO / DAPO-style GRPO objective (seed 004, eq. 10).

    Shapes: ``logprobs``, ``old_logprobs``, ``reference_logprobs``, ``completion_mask`` are
    ``(num_sequences, num_tokens)``; ``advantages`` is ``(num_sequences,)`` (one per completion,
    shared by its tokens). Per sequence the token terms are averaged over its ``|o|`` completion
    tokens, then sequences are averaged (the ``1/K sum_k 1/|o_k| sum_t`` of eq. 10).
    Returns ``(loss, stats)`` where ``loss = -objective``.
    """
    mask = completion_mask.to(logprobs.dtype)
    ratio = torch.exp(logprobs - old_logprobs)
    per_token_advantage = advantages.unsqueeze(1)
    unclipped = ratio * per_token_advantage
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high) * per_token_advantage
    per_token_objective = torch.minimum(unclipped, clipped)
    kl = torch.zeros_like(per_token_objective)
    if reference_logprobs is not None and beta != 0:
        kl = grpo_kl_penalty(logprobs, reference_logprobs)
        per_token_objective = per_token_objective - beta * kl
    tokens_per_sequence = mask.sum(dim=1).clamp(min=1)
    per_sequence_objective = (per_token_objective * mask).sum(dim=1) / tokens_per_sequence
    loss = -per_sequence_objective.mean()
    with torch.no_grad():
        was_clipped = ((clipped < unclipped) & (mask > 0)).to(logprobs.dtype)
        completion_ratios = ratio[mask > 0]
        if completion_ratios.numel() == 0:
            completion_ratios = torch.ones(1, dtype=ratio.dtype, device=ratio.device)
        stats = {
            "kl": ((kl * mask).sum(dim=1) / tokens_per_sequence).mean(),
            "clip_fraction": was_clipped.sum() / mask.sum().clamp(min=1),
            "ratio_min": completion_ratios.min(),
            "ratio_max": completion_ratios.max(),
        }
    return loss, stats


class _SelectiveLogSoftmax(torch.autograd.Function):
    """``log_softmax(logits / temperature)[target]`` a chunk of rows at a time: only one chunk is ever upcast to
    float32; backward keeps the logits (in their own dtype) and one float32 log-normaliser per row."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, chunk_rows: int, temperature: float) -> torch.Tensor:
        rows = logits.reshape(-1, logits.shape[-1])
        row_targets = targets.reshape(-1, 1)
        compute_dtype = torch.promote_types(logits.dtype, torch.float32)
        chosen = torch.empty(rows.shape[0], dtype=compute_dtype, device=logits.device)
        normalisers = torch.empty_like(chosen)
        for start in range(0, rows.shape[0], chunk_rows):
            chunk = rows[start:start + chunk_rows].to(compute_dtype)
            if temperature != 1.0:
                chunk = chunk / temperature
            normalisers[start:start + chunk_rows] = torch.logsumexp(chunk, dim=-1)
            chosen[start:start + chunk_rows] = chunk.gather(-1, row_targets[start:start + chunk_rows]).squeeze(-1)
        ctx.save_for_backward(logits, targets, normalisers)
        ctx.chunk_rows = chunk_rows
        ctx.temperature = temperature
        return (chosen - normalisers).view(targets.shape)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        logits, targets, normalisers = ctx.saved_tensors
        temperature = ctx.temperature
        rows = logits.reshape(-1, logits.shape[-1])
        row_targets = targets.reshape(-1, 1)
        # d/dx_j (x_t / T - logsumexp(x / T)) = ([j == t] - softmax(x / T)_j) / T
        row_grads = grad_output.reshape(-1, 1).to(normalisers.dtype) / temperature
        grad_logits = torch.empty_like(rows)
        for start in range(0, rows.shape[0], ctx.chunk_rows):
            end = start + ctx.chunk_rows
            scaled = rows[start:end].to(normalisers.dtype)
            if temperature != 1.0:
                scaled = scaled / temperature
            softmax = torch.exp(scaled - normalisers[start:end, None])
            grad = softmax.mul_(-row_grads[start:end])
            grad.scatter_add_(-1, row_targets[start:end], row_grads[start:end])
            grad_logits[start:end] = grad.to(grad_logits.dtype)
        return grad_logits.view_as(logits), None, None, None


def selective_log_softmax(
    logits: torch.Tensor, targets: torch.Tensor, chunk_rows: int = 256, temperature: float = 1.0
) -> torch.Tensor:
    """``log_softmax(logits / temperature, -1).gather(-1, targets)`` without a full-vocabulary float32 tensor.

    ``logits`` is ``(..., vocabulary)`` in any float dtype, ``targets`` the matching ``(...)`` token ids;
    the result is float32 (float64 for float64 logits) ``(...)``. Each chunk of ``chunk_rows`` rows is
    upcast to float32 for its log-normaliser (as ``.float().log_softmax()`` would, so bf16 logits lose
    no precision), and only that chunk: at Qwen2.5-VL's 151,936 tokens a 256-row chunk is 156 MB,
    where the whole sequence in float32 was tens of GB. Backward rebuilds each chunk's softmax the
    same way. ``temperature`` scales each chunk after the upcast, so no scaled copy of the logits is made.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    return _SelectiveLogSoftmax.apply(logits, targets, chunk_rows, float(temperature))
