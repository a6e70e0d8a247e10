"""Active pairing: which generators the next round of judgments should compare to settle the leaderboard's order.

Plain numpy and scipy: this module never imports Django; the app's `active` pairing strategy (leaderboards.pairing)
and benchmarks/adaptive.py use it as it is.

The rule, on the Davidson fit of the judgments so far (leaderboards.ranking) with a N(0, 1) prior on each
log-strength (ranking_for_selection):

- Information of one comparison of i and j about d_ij = theta_i - theta_j: with y = 1 when i wins, 1/2 for a tie,
  0 when j wins, the model is an exponential family in theta with statistic y, so
  f_ij = Var(y) = P(i wins) + P(tie) / 4 - (P(i wins) + P(tie) / 2)^2 (1/4 for two equal generators without ties).
- Uncertainty of the scores (Laplace): Sigma = (I + sum over comparisons of f_ij c c^T)^-1, c = e_i - e_j, the
  identity being the prior. v_ij = c^T Sigma c is the variance of d_ij, indirect evidence included: i beat k and k
  beat j narrows d_ij without a direct comparison.
- Order uncertainty: P_ij = Phi(-|d_ij| / sqrt(v_ij)), the probability that the fitted order of i and j is wrong.
- Priority of one more comparison of i and j: P_ij * f_ij v_ij / (1 + f_ij v_ij). The second factor is the share of
  v_ij that comparison removes (Sherman-Morrison: v_ij becomes v_ij / (1 + f_ij v_ij)); it is small for a pair
  compared often already and for a lopsided pair, whose outcome is foregone (f_ij small).
- A round is chosen greedily: the pair of highest priority, then Sigma is updated as if that comparison were made
  (its outcome unknown, the scores unchanged) and the next pick is made the same way, so one very uncertain pair may
  get several comparisons in a round, each worth less than the one before.
- Cold start: while a candidate generator has no comparison (none judged, none picked yet this round) the pick is a
  pair with such a generator, the one whose two generators have the fewest comparisons: round-robin until every
  generator has been compared once.
- Equal priorities go to the pair with fewer comparisons, then to a random order fixed by the seed.

Why the prior: without it a generator that won its only comparison has an unbounded maximum-likelihood score and a
variance that grows with it, so the pair looks both certain and uncertain at once (the Hauck-Donner effect).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from leaderboards import ranking
from leaderboards.ranking import Comparison, Ranking

# Precision of the N(0, 1) prior on each log-strength: a generator's score is rarely more than 2-3 from the mean.
SELECTION_RIDGE = 1.0

GeneratorPair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class ActivePick:
    """One comparison chosen for the round: generators `first` < `second` (indices into the ranking's generators)."""

    first: int
    second: int
    order_uncertainty: float  # P_ij of the fitted leaderboard, before this round
    comparisons: float  # n_ij before this round
    priority: float  # when picked, this round's earlier picks counted
    cold_start: bool  # picked because a generator had no comparison yet


def ranking_for_selection(generators: Sequence[str], comparisons: Sequence[Comparison]) -> Ranking:
    """The fit the rule reads: ranking_fit with a ridge of SELECTION_RIDGE (the prior), no bootstrap."""
    return ranking.ranking_fit(generators, comparisons, n_resamples=0, ridge=SELECTION_RIDGE)


def comparison_information(fitted: Ranking) -> np.ndarray:
    """f[i, j]: Fisher information of one comparison of i and j about theta_i - theta_j under the fitted model."""
    theta = fitted.scores
    first, second = theta[:, np.newaxis], theta[np.newaxis, :]
    # Divide by exp(max) first: the same probabilities, no overflow.
    top = np.maximum(first, second)
    win = np.exp(first - top)
    tie = fitted.tie_parameter * np.exp((first + second) / 2 - top)
    denominator = win + np.exp(second - top) + tie
    win, tie = win / denominator, tie / denominator
    return win + tie / 4 - (win + tie / 2) ** 2


def score_covariance(fitted: Ranking, information: np.ndarray, *, ridge: float = SELECTION_RIDGE) -> np.ndarray:
    """Sigma = (ridge I + sum over pairs of n_ij f_ij c c^T)^-1: the Laplace covariance of the log-strengths."""
    precision = -fitted.cell_counts * information
    np.fill_diagonal(precision, 0.0)
    np.fill_diagonal(precision, -precision.sum(axis=1))
    return np.linalg.inv(precision + ridge * np.eye(len(fitted.generators)))


def _difference_variance(covariance: np.ndarray) -> np.ndarray:
    """v[i, j] = Sigma_ii + Sigma_jj - 2 Sigma_ij."""
    diagonal = np.diag(covariance)
    return diagonal[:, np.newaxis] + diagonal[np.newaxis, :] - 2 * covariance


def order_uncertainty(fitted: Ranking, *, ridge: float = SELECTION_RIDGE) -> np.ndarray:
    """P[i, j] = Phi(-|theta_i - theta_j| / sqrt(v_ij)): the probability that the fitted order of i and j is wrong."""
    variance = _difference_variance(score_covariance(fitted, comparison_information(fitted), ridge=ridge))
    difference = np.abs(fitted.scores[:, np.newaxis] - fitted.scores[np.newaxis, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        uncertainty = norm.cdf(-difference / np.sqrt(variance))
    np.fill_diagonal(uncertainty, 0.0)
    return uncertainty


def _normalised(capacity: Mapping[GeneratorPair, int]) -> dict[GeneratorPair, int]:
    """{(i, j) with i < j: how many comparisons of i and j this round may take}, both orders summed."""
    pairs: dict[GeneratorPair, int] = {}
    for (first, second), available in capacity.items():
        if first != second and available > 0:
            key = (min(first, second), max(first, second))
            pairs[key] = pairs.get(key, 0) + int(available)
    return pairs


def active_pairs_choose(
    fitted: Ranking,
    capacity: Mapping[GeneratorPair, int],
    *,
    round_size: int,
    seed: int,
    ridge: float = SELECTION_RIDGE,
) -> list[ActivePick]:
    """The next round: up to `round_size` comparisons of generator pairs, in the order picked, by the module's rule.

    fitted: the leaderboard of the judgments so far from ranking_for_selection, over every generator that may be
    paired (one never judged is simply in no comparison). capacity: {(i, j): how many new comparisons of i and j can
    still be made}, e.g. their unpaired generations within shared prompts; pairs absent or at 0 are never picked.
    The same inputs and seed give the same round."""
    left = _normalised(capacity)
    if round_size <= 0 or not left:
        return []
    n_generators = len(fitted.generators)
    information = comparison_information(fitted)
    covariance = score_covariance(fitted, information, ridge=ridge)
    uncertainty = order_uncertainty(fitted, ridge=ridge)
    difference = np.abs(fitted.scores[:, np.newaxis] - fitted.scores[np.newaxis, :])
    generator_comparisons = fitted.comparisons.astype(float).copy()
    candidates = sorted(left)
    firsts = np.array([first for first, _ in candidates])
    seconds = np.array([second for _, second in candidates])
    remaining = np.array([left[pair] for pair in candidates])
    pair_information = information[firsts, seconds]
    pair_comparisons = fitted.cell_counts[firsts, seconds].astype(float)
    tie_break = np.random.default_rng(seed).permutation(len(candidates))

    picks: list[ActivePick] = []
    while len(picks) < round_size and remaining.any():
        variance = covariance[firsts, firsts] + covariance[seconds, seconds] - 2 * covariance[firsts, seconds]
        wrong_order = norm.cdf(-difference[firsts, seconds] / np.sqrt(variance))
        removed_share = pair_information * variance / (1 + pair_information * variance)
        priority = np.round(wrong_order * removed_share, 12)
        cold = (np.minimum(generator_comparisons[firsts], generator_comparisons[seconds]) == 0) & (remaining > 0)
        if cold.any():
            together = generator_comparisons[firsts] + generator_comparisons[seconds]
            # np.lexsort sorts by its last key first: cold pairs, then fewest comparisons, then the seeded order.
            chosen = np.lexsort((tie_break, together, ~cold))[0]
        else:
            chosen = np.lexsort((tie_break, pair_comparisons, -priority, remaining == 0))[0]
        first, second = int(firsts[chosen]), int(seconds[chosen])
        picks.append(
            ActivePick(
                first=first,
                second=second,
                order_uncertainty=float(uncertainty[first, second]),
                comparisons=float(fitted.cell_counts[first, second]),
                priority=float(priority[chosen]),
                cold_start=bool(cold.any()),
            )
        )
        # The pick as a comparison made: Sherman-Morrison update of Sigma with f c c^T.
        direction = np.zeros(n_generators)
        direction[[first, second]] = (1.0, -1.0)
        projected = covariance @ direction
        covariance = covariance - pair_information[chosen] * np.outer(projected, projected) / (
            1 + pair_information[chosen] * direction @ projected
        )
        remaining[chosen] -= 1
        pair_comparisons[chosen] += 1
        generator_comparisons[[first, second]] += 1
    return picks
