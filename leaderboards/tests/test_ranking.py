"""The Davidson fit against choix (no ties) and against its closed form (ties), and the bootstrap intervals.

Pure numpy: no database."""

from __future__ import annotations

import math

import choix
import numpy as np
import pytest

from leaderboards.ranking import Comparison, davidson_fit, outcomes_count, ranking_fit, win_rates

# (winner, loser) of 34 decisive comparisons of four generators: everyone beats everyone sometimes.
DECISIVE = (
    [(0, 1)] * 5 + [(1, 0)] * 2 + [(1, 2)] * 4 + [(2, 1)] * 3 + [(0, 2)] * 6 + [(2, 0)] * 1
    + [(3, 0)] * 2 + [(0, 3)] * 3 + [(3, 2)] * 2 + [(2, 3)] * 2 + [(1, 3)] * 3 + [(3, 1)] * 1
)  # fmt: skip


def decisive_comparisons() -> list[Comparison]:
    return [Comparison(first=winner, second=loser, outcome=1) for winner, loser in DECISIVE]


def test_without_ties_the_scores_are_choix_bradley_terry_scores_up_to_a_constant():
    fit = davidson_fit(outcomes_count(decisive_comparisons(), 4))
    expected = choix.opt_pairwise(4, DECISIVE, alpha=1e-6)

    assert fit.converged
    assert fit.tie_parameter == 0.0
    np.testing.assert_allclose(fit.scores - fit.scores.mean(), expected - expected.mean(), atol=1e-4)


def test_without_ties_the_outcome_may_be_given_from_either_side():
    """B beating A, written as (first=A, second=B, outcome=-1), counts as (first=B, second=A, outcome=+1)."""
    flipped = [Comparison(first=loser, second=winner, outcome=-1) for winner, loser in DECISIVE]

    np.testing.assert_allclose(
        davidson_fit(outcomes_count(flipped, 4)).scores,
        davidson_fit(outcomes_count(decisive_comparisons(), 4)).scores,
        atol=1e-6,
    )


def test_two_generators_with_ties_match_the_closed_form():
    """Two generators, 6 wins for the first, 3 for the second, 4 ties. The model has two free parameters for a
    three-outcome multinomial, so the fit reproduces the observed shares:
        pi_1 / pi_2 = P(1 wins) / P(2 wins) = 6 / 3          => theta_1 - theta_2 = log 2 = 0.693147
        nu = P(tie) / sqrt(P(1 wins) P(2 wins)) = (4/13) / sqrt((6/13)(3/13)) = 4 / sqrt(18) = 0.942809
    """
    comparisons = [Comparison(0, 1, 1)] * 6 + [Comparison(0, 1, -1)] * 3 + [Comparison(1, 0, 0)] * 4

    fit = davidson_fit(outcomes_count(comparisons, 2), ridge=0.0)

    assert fit.scores[0] - fit.scores[1] == pytest.approx(math.log(2), abs=1e-6)
    assert fit.tie_parameter == pytest.approx(4 / math.sqrt(18), abs=1e-6)
    assert fit.scores.sum() == pytest.approx(0.0, abs=1e-12)


def test_two_equal_generators_that_always_tie_get_equal_scores():
    comparisons = [Comparison(0, 1, 1)] * 2 + [Comparison(0, 1, -1)] * 2 + [Comparison(0, 1, 0)] * 10

    fit = davidson_fit(outcomes_count(comparisons, 2), ridge=0.0)

    assert fit.scores[0] == pytest.approx(fit.scores[1], abs=1e-6)
    assert fit.tie_parameter == pytest.approx(10 / 2, abs=1e-5)  # t / sqrt(w1 w2) = 10 / 2


def test_a_weight_counts_as_that_many_comparisons():
    weighted = [Comparison(0, 1, 1, weight=3.0), Comparison(0, 1, -1, weight=1.0), Comparison(0, 1, 0, weight=2.0)]
    repeated = [Comparison(0, 1, 1)] * 3 + [Comparison(0, 1, -1)] + [Comparison(0, 1, 0)] * 2

    by_weight = davidson_fit(outcomes_count(weighted, 2), ridge=0.0)
    by_repetition = davidson_fit(outcomes_count(repeated, 2), ridge=0.0)

    np.testing.assert_allclose(by_weight.scores, by_repetition.scores, atol=1e-6)
    assert by_weight.tie_parameter == pytest.approx(by_repetition.tie_parameter, abs=1e-6)


def test_win_rates_count_a_tie_as_half_and_leave_generators_that_never_met_undefined():
    comparisons = [Comparison(0, 1, 1)] * 3 + [Comparison(0, 1, 0)] * 2  # 0 and 1 met 5 times; 2 met nobody

    rates = win_rates(outcomes_count(comparisons, 3))

    assert rates[0, 1] == pytest.approx((3 + 1) / 5)
    assert rates[1, 0] == pytest.approx((0 + 1) / 5)
    assert np.isnan(rates[0, 2]) and np.isnan(rates[2, 1])


def test_leaderboard_orders_generators_and_counts_their_comparisons():
    ranking = ranking_fit(["a", "b", "c", "d"], decisive_comparisons(), n_resamples=0)

    expected = choix.opt_pairwise(4, DECISIVE, alpha=1e-6)
    assert [row["generator"] for row in ranking.rows()] == [["a", "b", "c", "d"][i] for i in np.argsort(-expected)]
    assert [row["rank"] for row in ranking.rows()] == [1, 2, 3, 4]
    n_of_a = {row["generator"]: row["n"] for row in ranking.rows()}["a"]
    assert n_of_a == sum(1 for winner, loser in DECISIVE if 0 in (winner, loser))
    assert ranking.cell_counts[0, 1] == 7 and ranking.cell_counts[1, 0] == 7


def test_bootstrap_intervals_are_reproducible_with_a_seed_and_contain_the_estimate_here():
    first = ranking_fit(["a", "b", "c", "d"], decisive_comparisons(), n_resamples=100, seed=7)
    again = ranking_fit(["a", "b", "c", "d"], decisive_comparisons(), n_resamples=100, seed=7)
    other_seed = ranking_fit(["a", "b", "c", "d"], decisive_comparisons(), n_resamples=100, seed=8)

    np.testing.assert_array_equal(first.ci_low, again.ci_low)
    np.testing.assert_array_equal(first.ci_high, again.ci_high)
    assert not np.array_equal(first.ci_low, other_seed.ci_low)
    assert np.all(first.ci_low < first.scores) and np.all(first.scores < first.ci_high)
    assert first.n_resamples == 100


def test_intervals_narrow_as_the_same_evidence_is_repeated():
    once = ranking_fit(["a", "b", "c", "d"], decisive_comparisons(), n_resamples=100)
    four_times = ranking_fit(["a", "b", "c", "d"], decisive_comparisons() * 4, n_resamples=100)

    assert np.all((four_times.ci_high - four_times.ci_low) < (once.ci_high - once.ci_low))


def test_a_generator_that_never_won_gets_a_finite_score_at_the_bottom():
    comparisons = [Comparison(0, 1, 1)] * 5 + [Comparison(0, 2, 1)] * 3 + [Comparison(2, 1, 1)] * 2

    ranking = ranking_fit(["strong", "hopeless", "middle"], comparisons, n_resamples=20)

    assert np.all(np.isfinite(ranking.scores))
    assert [row["generator"] for row in ranking.rows()] == ["strong", "middle", "hopeless"]


def test_the_module_imports_without_django():
    import subprocess
    import sys

    code = "import sys, leaderboards.ranking, leaderboards.reliability; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
