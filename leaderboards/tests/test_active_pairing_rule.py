"""The active-pairing rule (leaderboards.active) on fixed data, worked out by hand: the next comparisons go to the
generator pairs whose fitted order is most likely wrong, weighted by the share of that uncertainty one more
comparison removes; generators never compared come first; a round is picked greedily, each pick counted as made.

No database: rankings are built by hand (scores, tie parameter, counts) or fitted with ranking_for_selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from leaderboards.active import (
    active_pairs_choose,
    comparison_information,
    order_uncertainty,
    ranking_for_selection,
    score_covariance,
)
from leaderboards.ranking import Comparison, Ranking

A, B, C, D = 0, 1, 2, 3


def ranking_by_hand(scores: list[float], cell_counts: list[list[float]], *, tie_parameter: float = 0.0) -> Ranking:
    """A Ranking with the given scores, tie parameter and comparison counts (all the rule reads)."""
    theta, counts = np.array(scores, dtype=float), np.array(cell_counts, dtype=float)
    n_generators = len(theta)
    return Ranking(
        generators=[f"g{index}" for index in range(n_generators)],
        scores=theta,
        ci_low=theta,
        ci_high=theta,
        tie_parameter=tie_parameter,
        tie_parameter_ci=(tie_parameter, tie_parameter),
        comparisons=counts.sum(axis=1),
        win_rate=np.full((n_generators, n_generators), np.nan),
        cell_counts=counts,
        n_comparisons=int(counts.sum() / 2),
        n_resamples=0,
        seed=0,
        confidence=0.95,
    )


def sigmoid(value: float) -> float:
    return 1 / (1 + math.exp(-value))


def test_information_of_one_comparison_is_the_variance_of_its_score_outcome():
    """y = 1 (A wins), 1/2 (tie), 0 (B wins). Equal strengths, no ties: y is 0 or 1 evenly, Var = 1/4. Equal
    strengths, nu = 1: each outcome 1/3, E[y] = 1/2, E[y^2] = 1/3 + 1/12, Var = 5/12 - 1/4 = 1/6. A ahead by 1, no
    ties: p (1 - p) with p = sigmoid(1)."""
    equal = comparison_information(ranking_by_hand([0, 0], [[0, 1], [1, 0]]))
    equal_with_ties = comparison_information(ranking_by_hand([0, 0], [[0, 1], [1, 0]], tie_parameter=1.0))
    apart = comparison_information(ranking_by_hand([0.5, -0.5], [[0, 1], [1, 0]]))

    assert equal[A, B] == pytest.approx(1 / 4)
    assert equal_with_ties[A, B] == pytest.approx(1 / 6)
    assert apart[A, B] == apart[B, A] == pytest.approx(sigmoid(1) * (1 - sigmoid(1)))


def test_order_uncertainty_is_the_normal_tail_of_the_difference_over_its_laplace_standard_error():
    """A ahead of B by 1 after 10 comparisons, no ties. Precision I + 10 f c c^T with c = (1, -1), f = p (1 - p);
    along c it is 1 + 2 * 10 f, so Var(d) = c^T Sigma c = 2 / (1 + 20 f) and P(order wrong) = Phi(-1 / sd)."""
    fitted = ranking_by_hand([0.5, -0.5], [[0, 10], [10, 0]])
    information = sigmoid(1) * (1 - sigmoid(1))
    variance = 2 / (1 + 20 * information)

    covariance = score_covariance(fitted, comparison_information(fitted))
    uncertainty = order_uncertainty(fitted)

    assert covariance[A, A] + covariance[B, B] - 2 * covariance[A, B] == pytest.approx(variance)
    assert uncertainty[A, B] == uncertainty[B, A] == pytest.approx(norm.cdf(-1 / math.sqrt(variance)))
    assert uncertainty[A, A] == 0


def test_priority_is_order_uncertainty_times_the_variance_share_one_comparison_removes_and_picks_count_as_made():
    """Two equal generators, 10 comparisons, no ties: f = 1/4, Var(d) = 2 / (1 + 20/4) = 1/3, f v = 1/12, so the
    priority is 1/2 * (1/12) / (13/12) = 1/26. Counted as made, the pick leaves v = (1/3) / (13/12) = 4/13, f v =
    1/13, and the next priority is 1/2 * (1/13) / (14/13) = 1/28."""
    fitted = ranking_by_hand([0, 0], [[0, 10], [10, 0]])

    picks = active_pairs_choose(fitted, {(A, B): 2}, round_size=2, seed=0)

    assert [pick.priority for pick in picks] == [pytest.approx(1 / 26), pytest.approx(1 / 28)]
    assert picks[0].order_uncertainty == 0.5 and picks[0].comparisons == 10


def test_a_pair_is_never_picked_more_often_than_it_can_be_made_and_never_when_absent():
    fitted = ranking_by_hand([0, 0, 0], [[0, 4, 4], [4, 0, 4], [4, 4, 0]])

    picks = active_pairs_choose(fitted, {(C, B): 1, (A, C): 5}, round_size=3, seed=0)

    # B-C once (its capacity, given as (C, B)), then only A-C is left; A-B is no candidate.
    assert sorted((pick.first, pick.second) for pick in picks) == [(A, C), (A, C), (B, C)]


def test_when_a_is_settled_above_b_and_b_against_c_is_not_the_next_pairs_are_b_against_c():
    """A beat B ten times out of ten; B and C won five each. A is far above B and C; B and C sit close together."""
    comparisons = [Comparison(A, B, +1)] * 10 + [Comparison(B, C, +1)] * 5 + [Comparison(B, C, -1)] * 5
    fitted = ranking_for_selection(["A", "B", "C"], comparisons)

    picks = active_pairs_choose(fitted, {(A, B): 5, (B, C): 5, (A, C): 5}, round_size=3, seed=0)

    uncertainty = order_uncertainty(fitted)
    assert uncertainty[A, B] < 0.05 and uncertainty[A, C] < 0.05
    assert uncertainty[B, C] > 0.3
    assert [(pick.first, pick.second) for pick in picks] == [(B, C)] * 3


def test_a_generator_never_compared_is_paired_first_with_the_least_compared_other():
    """D has no comparison: the first pick pairs it, with C (1 comparison) rather than A (9) or B (10), whatever
    the uncertainties say."""
    counts = [[0, 9, 0, 0], [9, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    every_pair = {(first, second): 5 for first in range(4) for second in range(first + 1, 4)}

    first_pick = active_pairs_choose(ranking_by_hand([0.5, 0.4, -0.9, 0], counts), every_pair, round_size=1, seed=0)[0]

    assert (first_pick.first, first_pick.second) == (C, D) and first_pick.cold_start


def test_with_no_judgment_yet_a_round_compares_every_generator_once_before_any_twice():
    fitted = ranking_for_selection(["A", "B", "C", "D"], [])
    every_pair = {(first, second): 5 for first in range(4) for second in range(first + 1, 4)}

    picks = active_pairs_choose(fitted, every_pair, round_size=2, seed=3)

    compared = [pick.first for pick in picks] + [pick.second for pick in picks]
    assert sorted(compared) == [A, B, C, D]
    assert all(pick.cold_start for pick in picks)


def test_the_same_ranking_and_seed_give_the_same_round_and_the_seed_breaks_ties():
    fitted = ranking_for_selection([f"g{index}" for index in range(6)], [])
    every_pair = {(first, second): 3 for first in range(6) for second in range(first + 1, 6)}

    rounds = {
        seed: [(p.first, p.second) for p in active_pairs_choose(fitted, every_pair, round_size=9, seed=seed)]
        for seed in (1, 2, 3)
    }
    again = [(p.first, p.second) for p in active_pairs_choose(fitted, every_pair, round_size=9, seed=1)]

    assert again == rounds[1]
    assert len({tuple(pairs) for pairs in rounds.values()}) > 1
    # Nothing known: every pair is a coin toss, and a pick lowers its pair's priority below that of pairs never
    # picked, so the nine picks go to nine different pairs.
    assert len(set(rounds[1])) == 9
