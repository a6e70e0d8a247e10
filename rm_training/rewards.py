"""Pure reward functions for GRPO: RAPO rewards (seed 004) and AesRM rule rewards (seed 000)."""

from __future__ import annotations

import math

import torch

from rm_training.parsing import (
    DIMENSIONS,
    LABEL_TO_VERDICT,
    AnswerParseError,
    parse_answer,
)
from rm_training.rubric import dimension_of_criterion, dimension_verdict_from_criteria, labels_with_severe


def rapo_rank_reward(
    predicted: torch.Tensor, target: torch.Tensor, gamma: float = 1e-6, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """FRank relative rank reward (seed 004, eqs. 3-5).

    ``predicted``: ``(N, K)`` -- K sampled scores ``o_ik`` for each of the N items of the batch.
    ``target``: ``(N,)`` ground-truth scores ``s_i``. Returns ``(N, K)`` rewards in ``[0, 1]``::

        mu_j      = mean_k o_jk,   sigma_i^2 = population variance of o_i.
        p_ik(j)   = Phi((o_ik - mu_j) / sqrt(sigma_i^2 + sigma_j^2 + gamma))
        p_c(i, j) = 1 if s_i >= s_j else 0
        r_ik      = 1/(N-1) sum_{j != i} [sqrt(p_c p_ik) + sqrt((1 - p_c)(1 - p_ik))]

    Reading of eq. 4: the ``1/(N-1)`` averages the whole fidelity term over the other items.
    ``valid`` (optional ``(N, K)`` bool) marks samples that produced a score: means and variances use
    valid samples only, items without any are no comparison partner (the average runs over the
    partners left), and invalid samples get reward 0.
    """
    if predicted.dim() != 2 or target.dim() != 1 or predicted.shape[0] != target.shape[0]:
        raise ValueError("predicted must be (N, K) and target (N,)")
    count = predicted.shape[0]
    if count < 2:
        raise ValueError("the rank reward needs at least two items in the batch")
    valid_mask = torch.ones_like(predicted, dtype=torch.bool) if valid is None else valid.bool()
    weights = valid_mask.double()
    predicted = torch.where(valid_mask, predicted.double(), torch.zeros_like(predicted, dtype=torch.float64))
    target = target.double()
    samples = weights.sum(dim=1)
    mean = (predicted * weights).sum(dim=1) / samples.clamp(min=1)
    variance = (((predicted - mean[:, None]) ** 2) * weights).sum(dim=1) / samples.clamp(min=1)
    # [i, k, j]; the clamp only matters for gamma = 0 with constant samples: 0 / 0 becomes Phi(0)
    scale = torch.sqrt(variance[:, None, None] + variance[None, None, :] + gamma).clamp(min=1e-12)
    probability = torch.special.ndtr((predicted[:, :, None] - mean[None, None, :]) / scale)
    preferred = (target[:, None] >= target[None, :]).double()[:, None, :]
    fidelity = torch.sqrt(preferred * probability) + torch.sqrt((1 - preferred) * (1 - probability))
    partner = (1 - torch.eye(count, dtype=torch.float64)) * (samples > 0).double()[None, :]
    partners = partner.sum(dim=1).clamp(min=1)
    reward = (fidelity * partner[:, None, :]).sum(dim=2) / partners[:, None]
    return reward * weights


def rapo_absolute_error_reward(
    predicted: torch.Tensor, target: torch.Tensor, sigma: float = 0.1, epsilon: float = 1e-4
) -> torch.Tensor:
    """Gaussian absolute-error reward ``exp(-1/2 (|o - s| / sigma)^2) + epsilon`` (seed 004, eq. 6).

    ``target`` broadcasts against ``predicted`` (e.g. ``(N, 1)`` against ``(N, K)``).
    """
    return torch.exp(-0.5 * ((predicted - target).abs() / sigma) ** 2) + epsilon


def rapo_reward(
    predicted: torch.Tensor, target: torch.Tensor, sigma: float = 0.1, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """``r = r_rank + r_abs`` (seed 004, eq. 7) for ``(N, K)`` predictions; invalid samples get 0."""
    rank = rapo_rank_reward(predicted, target, valid=valid)
    reward = rank + rapo_absolute_error_reward(predicted, target[:, None], sigma)
    return reward if valid is None else reward * valid.to(reward.dtype)


def _labels_as_verdicts(labels: dict[str, object]) -> dict[str, int]:
    verdicts = {}
    for dimension in DIMENSIONS:
        value = labels[dimension]
        verdicts[dimension] = LABEL_TO_VERDICT[value] if isinstance(value, str) else int(value)
    return verdicts


def format_reward(text: object, style: str) -> float:
    """1.0 when the text parses in the AesRM ``style`` ("cot" or "base"), else 0.0."""
    try:
        parse_answer(text, style)
    except AnswerParseError:
        return 0.0
    return 1.0


def dimension_accuracy_reward(
    text: object, labels: dict[str, object], style: str, severe: dict | None = None
) -> float:
    """Share of the three dimension verdicts equal to the labels; 0.0 for an unparsable answer.

    ``labels`` maps VA/VF/VP to "A"/"B"/"tie" (export strings) or +1/-1/0. ``severe`` (an export row's
    severe flags) decides the dimensions it flags on one video only, by :func:`rubric.labels_with_severe`.
    """
    try:
        parsed = parse_answer(text, style)
    except AnswerParseError:
        return 0.0
    expected = _labels_as_verdicts(labels)
    if severe:
        expected = labels_with_severe(expected, severe)
    return sum(parsed.dimensions[d] == expected[d] for d in DIMENSIONS) / len(DIMENSIONS)


def cot_process_reward(text: object, criteria: dict[str, int]) -> float:
    """Share of labelled criteria whose verdict in the CoT equals the label (seed 000 process reward).

    A criterion missing from the CoT counts as wrong; an unparsable answer earns 0.0.
    """
    if not criteria:
        return 0.0
    try:
        parsed = parse_answer(text, "cot")
    except AnswerParseError:
        return 0.0
    correct = sum(
        1 for code, label in criteria.items() if code in parsed.criteria and parsed.criteria[code].verdict == int(label)
    )
    return correct / len(criteria)


def consistency_reward(text: object, dimension_criteria: dict[str, list[str]] | None = None) -> float:
    """Share of the three dimensions whose verdict in a CoT answer is the one the answer's own criterion
    verdicts and ``Severe:`` flags imply (:func:`rubric.dimension_verdict_from_criteria`: a severe flag on one
    video decides against it, else the criteria's majority); 0.0 for an unparsable answer.

    ``dimension_criteria``: dimension code -> criterion codes (the manifest's rubric); without it a criterion
    belongs to the dimension its code's letters name.
    """
    try:
        parsed = parse_answer(text, "cot")
    except AnswerParseError:
        return 0.0
    criteria: dict[str, list[int]] = {dimension: [] for dimension in DIMENSIONS}
    for code, judgement in parsed.criteria.items():
        criteria.setdefault(dimension_of_criterion(code, dimension_criteria), []).append(judgement.verdict)
    consistent = 0
    for dimension in DIMENSIONS:
        implied = dimension_verdict_from_criteria(
            criteria[dimension],
            severe_a=bool(parsed.severe["A"].get(dimension)),
            severe_b=bool(parsed.severe["B"].get(dimension)),
        )
        consistent += parsed.dimensions[dimension] == implied
    return consistent / len(DIMENSIONS)


def parse_score(text: object) -> float | None:
    """A scalar score in an ``<answer>0.62</answer>`` block (single-video RAPO prompts), else None."""
    if not isinstance(text, str):
        return None
    start, end = text.rfind("<answer>"), text.rfind("</answer>")
    if start < 0 or end < start:
        return None
    try:
        value = float(text[start + len("<answer>"): end].strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
