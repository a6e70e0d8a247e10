import math

import pytest
import torch

from rm_training.losses import (
    bradley_terry_loss,
    bradley_terry_with_ties_loss,
    grpo_clipped_loss,
    grpo_group_advantages,
    grpo_kl_penalty,
    rao_kupper_log_probabilities,
)


def test_bradley_terry_loss_matches_hand_values():
    """chosen - rejected = 0 -> -log(1/2) = log 2 = 0.693147;
    chosen - rejected = log 3 -> sigmoid = 3/4 -> -log(3/4) = 0.287682.
    Mean = (0.693147 + 0.287682) / 2 = 0.490415."""
    chosen = torch.tensor([1.0, math.log(3.0)])
    rejected = torch.tensor([1.0, 0.0])
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(0.490415, abs=1e-5)


def test_rao_kupper_probabilities_match_hand_values_and_sum_to_one():
    """theta = 2 (log_theta = log 2), pi_a = 2, pi_b = 1 (rewards log 2 and 0):
    P(A) = 2 / (2 + 2*1) = 1/2; P(B) = 1 / (1 + 2*2) = 1/5;
    P(tie) = (4 - 1) * 2 * 1 / ((2 + 2) * (4 + 1)) = 6/20 = 3/10; total 1."""
    log_a, log_b, log_tie = rao_kupper_log_probabilities(
        torch.tensor([math.log(2.0)]), torch.tensor([0.0]), math.log(2.0)
    )
    assert log_a.exp().item() == pytest.approx(0.5)
    assert log_b.exp().item() == pytest.approx(0.2)
    assert log_tie.exp().item() == pytest.approx(0.3)


def test_bradley_terry_with_ties_loss_uses_the_outcome_probability():
    """Equal rewards, theta = 2: P(A) = P(B) = 1/3 and P(tie) = 3 / (3*3) = 1/3,
    so every outcome costs log 3 = 1.098612. With rewards (log 2, 0): A win costs -log(1/2) =
    0.693147, B win -log(1/5) = 1.609438, tie -log(3/10) = 1.203973; mean = 1.168853."""
    zeros = torch.zeros(3)
    outcomes = torch.tensor([1, -1, 0])
    assert bradley_terry_with_ties_loss(zeros, zeros, outcomes, math.log(2.0)).item() == pytest.approx(
        math.log(3.0)
    )
    reward_a = torch.full((3,), math.log(2.0))
    loss = bradley_terry_with_ties_loss(reward_a, zeros, outcomes, math.log(2.0))
    assert loss.item() == pytest.approx(1.168853, abs=1e-5)


def test_bradley_terry_with_ties_rejects_theta_not_above_one():
    with pytest.raises(ValueError, match="log_theta > 0"):
        bradley_terry_with_ties_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), 0.0)


def test_group_advantages_are_normalised_within_each_group():
    """Group [1, 0, 0, 1]: mean 0.5, population std 0.5 -> [1, -1, -1, 1].
    Group [2, 2, 2, 2]: std 0 -> all zero (no signal)."""
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    advantages = grpo_group_advantages(rewards)
    assert torch.allclose(advantages[0], torch.tensor([1.0, -1.0, -1.0, 1.0]), atol=1e-5)
    assert torch.equal(advantages[1], torch.zeros(4))


def test_kl_penalty_matches_hand_value():
    """pi_ref / pi = 2: 2 - log 2 - 1 = 0.306853; equal policies: 0."""
    kl = grpo_kl_penalty(torch.tensor([0.0, -1.0]), torch.tensor([math.log(2.0), -1.0]))
    assert kl.tolist() == pytest.approx([0.306853, 0.0], abs=1e-6)


def test_clipped_loss_clips_asymmetrically():
    """eps_low = 0.2, eps_high = 0.28, beta = 0.
    seq 1: ratio 1.5, A = +1 -> min(1.5, 1.28) = 1.28.
    seq 2: ratio 1.5, A = -1 -> min(-1.5, -1.28) = -1.5 (pessimistic side, not clipped).
    seq 3: ratio 0.5, A = -1 -> min(-0.5, -0.8) = -0.8.
    Objective mean = (1.28 - 1.5 - 0.8) / 3 = -0.34, so loss = 0.34."""
    old = torch.zeros(3, 1)
    new = torch.log(torch.tensor([[1.5], [1.5], [0.5]]))
    advantages = torch.tensor([1.0, -1.0, -1.0])
    loss, stats = grpo_clipped_loss(new, old, advantages, torch.ones(3, 1), beta=0.0)
    assert loss.item() == pytest.approx(0.34, abs=1e-6)
    assert stats["clip_fraction"].item() == pytest.approx(2 / 3)


def test_clipped_loss_averages_tokens_per_sequence_then_sequences_and_adds_kl():
    """Ratio 1 everywhere (new == old), so each token term is A.
    seq 1: A = 1, two real tokens, reference = new - log 2 on both: KL per token
    = 1/2 - log(1/2) - 1 = 0.193147; token term 1 - 0.1 * 0.193147 = 0.980685.
    seq 2: A = 0, one real token (the second is padding), KL 0 -> 0.
    Objective = (0.980685 + 0) / 2 = 0.490343 -> loss -0.490343."""
    new = torch.zeros(2, 2)
    reference = torch.tensor([[-math.log(2.0), -math.log(2.0)], [0.0, 5.0]])
    mask = torch.tensor([[1, 1], [1, 0]])
    loss, stats = grpo_clipped_loss(
        new, new.detach(), torch.tensor([1.0, 0.0]), mask, reference_logprobs=reference, beta=0.1
    )
    assert loss.item() == pytest.approx(-0.490343, abs=1e-5)
    assert stats["kl"].item() == pytest.approx(0.193147 / 2, abs=1e-5)


def test_clipped_loss_gradient_vanishes_where_clipped():
    new = torch.log(torch.tensor([[1.5]])).requires_grad_()
    loss, _ = grpo_clipped_loss(new, torch.zeros(1, 1), torch.tensor([1.0]), torch.ones(1, 1), beta=0.0)
    loss.backward()
    assert new.grad.item() == 0.0
