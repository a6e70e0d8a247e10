"""The active-pairing rule (leaderboards.active) on fixed data: the next comparisons go where the leaderboard's
bootstrap most often swaps two generators' order, per comparison they already have; generators never compared come
first; a round is picked greedily, each pick counting as one more comparison of its pair.

No database: rankings are built by hand (bootstrap rows written out) or fitted with ranking_fit."""

from __future__ import annotations

import numpy as np
import pytest

from leaderboards.active import active_pairs_choose, order_uncertainty
from leaderboards.ranking import Comparison, Ranking, ranking_fit

A, B, C, D = 0, 1, 2, 3


def ranking_by_hand(resampled_scores: list[list[float]], cell_counts: list[list[float]]) -> Ranking:
    """A Ranking with the given bootstrap rows and comparison counts (scores are the rows' mean; only the rows and
    counts matter to the rule)."""
    rows, counts = np.array(resampled_scores, dtype=float), np.array(cell_counts, dtype=float)
    n_generators = rows.shape[1]
    return Ranking(
        generators=[f"g{index}" for index in range(n_generators)],
        scores=rows.mean(axis=0),
        ci_low=rows.min(axis=0),
        ci_high=rows.max(axis=0),
        tie_parameter=0.0,
        tie_parameter_ci=(0.0, 0.0),
        comparisons=counts.sum(axis=1),
        win_rate=np.full((n_generators, n_generators), np.nan),
        cell_counts=counts,
        n_comparisons=int(counts.sum() / 2),
        n_resamples=len(rows),
        seed=0,
        confidence=0.95,
        resampled_scores=rows,
    )


# Ten bootstrap rows of three generators. A vs B: B above in rows 1-5, A above in rows 6-10, a coin toss (u = 1/2).
# B vs C: C above in rows 7 and 8 only (u = 2/10). A vs C: A above in every row (u = 0).
TEN_ROWS = [[5, 6, 0]] * 5 + [[5, 4, 4.5]] * 2 + [[5, 4, 0]] * 3
# A and B met 9 times, B and C once, A and C never.
COUNTS = [[0, 9, 0], [9, 0, 1], [0, 1, 0]]


def test_order_uncertainty_is_the_share_of_bootstrap_rows_in_the_minority_order():
    uncertainty = order_uncertainty(ranking_by_hand(TEN_ROWS, COUNTS))

    assert uncertainty[A, B] == uncertainty[B, A] == pytest.approx(0.5)
    assert uncertainty[B, C] == pytest.approx(0.2)
    assert uncertainty[A, C] == 0


def test_equal_bootstrap_scores_count_half_each_way():
    # Row 1 A above, row 2 equal, rows 3-4 B above: p(A above B) = (1 + 0.5) / 4 = 0.375.
    rows = [[1, 0], [0, 0], [0, 1], [0, 1]]

    assert order_uncertainty(ranking_by_hand(rows, [[0, 4], [4, 0]]))[A, B] == pytest.approx(0.375)


def test_priority_is_uncertainty_per_comparison_and_each_pick_counts_as_one_more():
    """Priorities u / (1 + n): B-C 0.2 / 2 = 0.1, A-B 0.5 / 10 = 0.05, A-C 0. Picks: B-C (0.1); B-C again
    (0.2 / 3 = 0.067); B-C a third time (0.2 / 4 = 0.05 ties A-B's 0.05, and B-C has fewer comparisons, 3 < 9);
    then A-B (0.05 beats 0.2 / 5 = 0.04)."""
    every_pair = {(A, B): 10, (B, C): 10, (A, C): 10}

    picks = active_pairs_choose(ranking_by_hand(TEN_ROWS, COUNTS), every_pair, round_size=4, seed=0)

    assert [(pick.first, pick.second) for pick in picks] == [(B, C), (B, C), (B, C), (A, B)]
    assert picks[0].order_uncertainty == pytest.approx(0.2) and picks[0].comparisons == 1
    assert not any(pick.cold_start for pick in picks)


def test_a_pair_is_never_picked_more_often_than_it_can_be_made_and_never_when_absent():
    picks = active_pairs_choose(ranking_by_hand(TEN_ROWS, COUNTS), {(C, B): 1, (A, C): 5}, round_size=3, seed=0)

    # B-C once (its capacity, given as (C, B)), then only A-C is left; A-B is no candidate.
    assert [(pick.first, pick.second) for pick in picks] == [(B, C), (A, C), (A, C)]


def test_when_a_is_settled_above_b_and_b_against_c_is_not_the_next_pairs_are_b_against_c():
    """A beat B ten times out of ten; B and C won five each. Every bootstrap resample keeps A above B (and so above
    C), while B and C swap about half the time: B-C's priority is near 0.5 / 11, A-B's and A-C's 0."""
    comparisons = [Comparison(A, B, +1)] * 10 + [Comparison(B, C, +1)] * 5 + [Comparison(B, C, -1)] * 5
    fitted = ranking_fit(["A", "B", "C"], comparisons, n_resamples=200, seed=0)

    picks = active_pairs_choose(fitted, {(A, B): 5, (B, C): 5, (A, C): 5}, round_size=3, seed=0)

    uncertainty = order_uncertainty(fitted)
    assert uncertainty[A, B] == 0 and uncertainty[A, C] == 0
    assert 0.3 < uncertainty[B, C] <= 0.5
    assert [(pick.first, pick.second) for pick in picks] == [(B, C)] * 3


def test_a_generator_never_compared_is_paired_first_with_the_least_compared_other():
    """D has no comparison: the first pick pairs it, with C (1 comparison) rather than A (9) or B (10), whatever
    the uncertainties say."""
    rows = [row + [0.0] for row in TEN_ROWS]
    counts = [row + [0] for row in COUNTS] + [[0, 0, 0, 0]]
    every_pair = {(first, second): 5 for first in range(4) for second in range(first + 1, 4)}

    first_pick = active_pairs_choose(ranking_by_hand(rows, counts), every_pair, round_size=1, seed=0)[0]

    assert (first_pick.first, first_pick.second) == (C, D) and first_pick.cold_start


def test_with_no_judgment_yet_a_round_compares_every_generator_once_before_any_twice():
    fitted = ranking_fit(["A", "B", "C", "D"], [], n_resamples=200, seed=0)
    every_pair = {(first, second): 5 for first in range(4) for second in range(first + 1, 4)}

    picks = active_pairs_choose(fitted, every_pair, round_size=2, seed=3)

    compared = [pick.first for pick in picks] + [pick.second for pick in picks]
    assert sorted(compared) == [A, B, C, D]
    assert all(pick.cold_start for pick in picks)


def test_the_same_ranking_and_seed_give_the_same_round_and_the_seed_breaks_ties():
    fitted = ranking_fit([f"g{index}" for index in range(6)], [], n_resamples=0)
    every_pair = {(first, second): 3 for first in range(6) for second in range(first + 1, 6)}

    rounds = {
        seed: [(p.first, p.second) for p in active_pairs_choose(fitted, every_pair, round_size=9, seed=seed)]
        for seed in (1, 2, 3)
    }
    again = [(p.first, p.second) for p in active_pairs_choose(fitted, every_pair, round_size=9, seed=1)]

    assert again == rounds[1]
    assert len({tuple(pairs) for pairs in rounds.values()}) > 1
    # Nothing known: every pair is a coin toss, so the nine picks go to nine different pairs.
    assert len(set(rounds[1])) == 9
