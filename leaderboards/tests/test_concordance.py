"""The comparison of a reward model's leaderboard with the experts', on fixed data worked out by hand.

Three generators, A=0, B=1, C=2, and nine pairs, three per matchup (+1: the first generator won):

    pairs    matchup   experts     model
    p1-p3    A vs B    +1 +1 -1    +1 +1 -1     same three verdicts
    p4-p6    B vs C    +1 +1 -1    -1 -1 +1     all three opposite
    p7-p9    A vs C    +1 +1 -1    +1 +1 -1     same three verdicts

Experts: A won 4 of 6, B 3 of 6, C 2 of 6, so A > B > C. Model: A 4 of 6, C 3 of 6 (1 against A, 2 against B),
B 2 of 6, so A > C > B. The ranks are A 1, B 2, C 3 against A 1, B 3, C 2:
- Kendall's tau: of the three generator pairs, (A, B) and (A, C) are concordant and (B, C) discordant, so
  tau = (2 - 1) / 3 = 1/3; order agreement = 2/3.
- Spearman: rank differences 0, 1, 1, so rho = 1 - 6 * (0 + 1 + 1) / (3 * (9 - 1)) = 1 - 12/24 = 1/2.
- Verdict agreement: 6 of the 9 pairs, 2/3.
"""

from __future__ import annotations

import pytest

from leaderboards.concordance import JointPair, concordance_fit, figures_of, order_agreement

A, B, C = 0, 1, 2
EXPERTS = [+1, +1, -1]


def _pairs() -> list[JointPair]:
    matchups = [(A, B, EXPERTS), (B, C, [-v for v in EXPERTS]), (A, C, EXPERTS)]
    return [
        JointPair(first, second, expert, model)
        for first, second, model_verdicts in matchups
        for expert, model in zip(EXPERTS, model_verdicts, strict=True)
    ]


def test_hand_computed_figures_of_two_leaderboards_that_swap_the_last_two_generators():
    figures = figures_of(_pairs(), 3)

    assert figures.kendall_tau == pytest.approx(1 / 3)
    assert figures.spearman == pytest.approx(1 / 2)
    assert figures.order_agreement == pytest.approx(2 / 3)
    assert figures.verdict_agreement == pytest.approx(6 / 9)
    assert (figures.generators_compared, figures.pairs_judged_by_both) == (3, 9)


def test_without_resamples_every_interval_is_the_point_estimate():
    concordance = concordance_fit(_pairs(), 3, n_resamples=0)

    assert concordance.kendall_tau_ci == pytest.approx((1 / 3, 1 / 3))
    assert concordance.verdict_agreement_ci == pytest.approx((2 / 3, 2 / 3))


def test_bootstrap_intervals_hold_the_estimate_and_repeat_with_the_seed():
    concordance = concordance_fit(_pairs(), 3, n_resamples=100, seed=4)
    again = concordance_fit(_pairs(), 3, n_resamples=100, seed=4)

    for name in ("kendall_tau", "spearman", "order_agreement", "verdict_agreement"):
        low, high = getattr(concordance, f"{name}_ci")
        assert -1 <= low <= getattr(concordance.point, name) <= high <= 1, name
    # nine pairs: the order of B and C is far from settled, so tau's interval is wide
    assert concordance.kendall_tau_ci[1] - concordance.kendall_tau_ci[0] >= 1
    assert concordance.as_json() == again.as_json()


def test_a_model_that_always_agrees_has_every_figure_at_one_in_every_resample():
    pairs = [JointPair(p.first, p.second, p.expert, p.expert) for p in _pairs()]

    concordance = concordance_fit(pairs, 3, n_resamples=50)

    assert concordance.point.kendall_tau == pytest.approx(1)
    assert concordance.verdict_agreement_ci == (1.0, 1.0)
    assert concordance.order_agreement_ci == (1.0, 1.0)


def test_pairs_without_a_model_verdict_count_only_in_the_experts_leaderboard():
    pairs = _pairs()
    unread = [JointPair(p.first, p.second, p.expert, None) for p in pairs[3:6]]  # the B vs C answers unreadable

    figures = figures_of(pairs[:3] + unread + pairs[6:], 3)

    assert figures.pairs_judged_by_both == 6 and figures.verdict_agreement == 1.0
    # the model never saw B against C: it still ranks all three (A beat both), so every generator is compared
    assert figures.generators_compared == 3


def test_with_fewer_than_two_shared_generators_there_is_no_rank_correlation():
    figures = figures_of([JointPair(A, B, +1, None)], 2)

    assert figures.generators_compared == 0 and figures.kendall_tau != figures.kendall_tau  # nan


def test_order_agreement_counts_equal_scores_as_the_same_order():
    assert order_agreement([1.0, 0.0, 0.0], [2.0, 0.5, 0.5]) == 1.0
    assert order_agreement([1.0, 0.0, -1.0], [-1.0, 0.0, 1.0]) == 0.0
