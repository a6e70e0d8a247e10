"""Active pairing: which generators the next round of judgments should compare to settle the leaderboard's order.

Plain numpy: this module never imports Django; the app's `active` pairing strategy (leaderboards.pairing) and
benchmarks/adaptive.py use it as it is.

The rule, on a leaderboard fitted with bootstrap resamples (leaderboards.ranking.ranking_fit):

- Order uncertainty of generators i and j: p_ij = the share of bootstrap resamples in which theta_i > theta_j (equal
  scores count half) and u_ij = min(p_ij, 1 - p_ij): 0 when every resample orders them alike, 1/2 for a coin toss.
  The bootstrap sees indirect evidence too: i beat k, and k beat j, settles i over j without a direct comparison.
- Priority of one more comparison of i and j: u_ij / (1 + n_ij), n_ij being their comparisons so far. The discount
  stops a pair that stays a coin toss (two generators of equal strength) from taking every round: its priority
  halves once it has as many comparisons again as it had.
- A round is chosen greedily: the pair of highest priority, then that pair's n_ij counts one more and the next pick
  is made the same way, so one very uncertain pair may get several comparisons in a round.
- Cold start: while a candidate generator has no comparison (none judged, none picked yet this round) the pick is a
  pair with such a generator, the one whose two generators have the fewest comparisons: round-robin until every
  generator has been compared once.
- Equal priorities go to the pair with fewer comparisons, then to a random order fixed by the seed.

A ranking fitted without resamples says nothing about its uncertainty: every pair then counts as a coin toss
(u_ij = 1/2), which spreads the round over the least compared pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from leaderboards import ranking
from leaderboards.ranking import Comparison, Ranking

# Two bootstrap scores closer than this are equal (generators that no resample saw sit at the same score).
EQUAL_SCORES = 1e-9
COIN_TOSS = 0.5
SELECTION_RIDGE = 1.0

GeneratorPair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class ActivePick:
    """One comparison chosen for the round: generators `first` < `second` (indices into the ranking's generators)."""

    first: int
    second: int
    order_uncertainty: float  # u_ij of the fitted leaderboard
    comparisons: float  # n_ij before this round
    cold_start: bool  # picked because a generator had no comparison yet


def ranking_for_selection(
    generators: Sequence[str], comparisons: Sequence[Comparison], *, seed: int, n_resamples: int = 200
) -> Ranking:
    """The fit the rule reads: ranking_fit with a ridge of SELECTION_RIDGE, i.e. a normal prior N(0, 1) on each
    log-strength. Without it a generator that won its only comparison gets an unbounded score in every resample
    that holds that win, so the bootstrap calls it settled above generators it never met."""
    return ranking.ranking_fit(generators, comparisons, n_resamples=n_resamples, seed=seed, ridge=SELECTION_RIDGE)


def order_uncertainty(ranking: Ranking) -> np.ndarray:
    """u[i, j] = min(p, 1 - p), p the share of bootstrap resamples with theta_i > theta_j (equal counting half)."""
    n_generators = len(ranking.generators)
    if ranking.resampled_scores is None:
        return np.full((n_generators, n_generators), COIN_TOSS)
    scores = ranking.resampled_scores
    differences = scores[:, :, np.newaxis] - scores[:, np.newaxis, :]
    above = (differences > EQUAL_SCORES).mean(axis=0) + 0.5 * (np.abs(differences) <= EQUAL_SCORES).mean(axis=0)
    return np.minimum(above, 1 - above)


def _normalised(capacity: Mapping[GeneratorPair, int]) -> dict[GeneratorPair, int]:
    """{(i, j) with i < j: how many comparisons of i and j this round may take}, both orders summed."""
    pairs: dict[GeneratorPair, int] = {}
    for (first, second), available in capacity.items():
        if first != second and available > 0:
            key = (min(first, second), max(first, second))
            pairs[key] = pairs.get(key, 0) + int(available)
    return pairs


def active_pairs_choose(
    ranking: Ranking, capacity: Mapping[GeneratorPair, int], *, round_size: int, seed: int
) -> list[ActivePick]:
    """The next round: up to `round_size` comparisons of generator pairs, best first, by the rule of this module.

    capacity: {(i, j): how many new comparisons of generators i and j can still be made}, e.g. the number of
    unpaired generations of the two within shared prompts; pairs absent or at 0 are never picked. The same ranking,
    capacity and seed give the same round."""
    left = _normalised(capacity)
    if round_size <= 0 or not left:
        return []
    uncertainty = order_uncertainty(ranking)
    pair_comparisons = ranking.cell_counts
    generator_comparisons = ranking.comparisons.astype(float).copy()
    random_order = np.random.default_rng(seed).permutation(len(left))
    tie_break = dict(zip(sorted(left), random_order.tolist(), strict=True))
    picked_of_pair = dict.fromkeys(left, 0)

    def comparisons_of(pair: GeneratorPair) -> float:
        return float(pair_comparisons[pair]) + picked_of_pair[pair]

    def priority(pair: GeneratorPair) -> float:
        return round(float(uncertainty[pair]) / (1 + comparisons_of(pair)), 12)

    picks: list[ActivePick] = []
    while len(picks) < round_size:
        available = [pair for pair in sorted(left) if left[pair] > 0]
        if not available:
            break
        cold = [pair for pair in available if min(generator_comparisons[list(pair)]) == 0]
        if cold:
            chosen = min(cold, key=lambda pair: (generator_comparisons[list(pair)].sum(), tie_break[pair]))
        else:
            chosen = min(available, key=lambda pair: (-priority(pair), comparisons_of(pair), tie_break[pair]))
        picks.append(
            ActivePick(
                first=chosen[0],
                second=chosen[1],
                order_uncertainty=float(uncertainty[chosen]),
                comparisons=float(pair_comparisons[chosen]),
                cold_start=bool(cold),
            )
        )
        left[chosen] -= 1
        picked_of_pair[chosen] += 1
        generator_comparisons[list(chosen)] += 1
    return picks
