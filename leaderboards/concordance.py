"""Can a reward model stand in for the experts when we pick checkpoints? Two leaderboards of the same pairs, one
fitted on the experts' labels and one on the model's verdicts, compared.

Plain numpy and scipy, like leaderboards.ranking (never imports Django).

Figures, over the generators both leaderboards rank:
- Kendall's tau (tau-b) and Spearman's rho between the two orders of generators (scipy.stats);
- order agreement: the share of generator pairs (i, j) that both leaderboards order the same way;
- verdict agreement: the share of pairs judged by both where the model's verdict equals the experts' label.

Intervals: percentile bootstrap over pairs. Each resample draws the campaign's pairs with replacement, keeping a
pair's expert label and model verdict together, refits both leaderboards and recomputes every figure, so the
intervals carry the uncertainty of both fits and of their dependence.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from leaderboards import ranking


@dataclass(frozen=True, slots=True)
class JointPair:
    """One pair of generators (indices) with both labels: +1 `first` won, -1 `second` won, 0 tie, None: no label
    from that side (no expert consensus yet, or a model answer that could not be read)."""

    first: int
    second: int
    expert: int | None
    model: int | None


@dataclass(frozen=True, slots=True)
class Figures:
    kendall_tau: float
    spearman: float
    order_agreement: float
    verdict_agreement: float
    generators_compared: int
    pairs_judged_by_both: int


@dataclass(frozen=True, slots=True)
class Concordance:
    point: Figures
    # (low, high) percentile intervals; None when no resample gave the figure (too few generators, no shared pair)
    kendall_tau_ci: tuple[float, float] | None
    spearman_ci: tuple[float, float] | None
    order_agreement_ci: tuple[float, float] | None
    verdict_agreement_ci: tuple[float, float] | None
    n_resamples: int
    seed: int
    confidence: float

    def as_json(self) -> dict:
        def interval(value):
            return None if value is None else [float(value[0]), float(value[1])]

        def number(value):
            return None if value is None or math.isnan(value) else float(value)

        return {
            "kendall_tau": number(self.point.kendall_tau),
            "kendall_tau_ci": interval(self.kendall_tau_ci),
            "spearman": number(self.point.spearman),
            "spearman_ci": interval(self.spearman_ci),
            "order_agreement": number(self.point.order_agreement),
            "order_agreement_ci": interval(self.order_agreement_ci),
            "verdict_agreement": number(self.point.verdict_agreement),
            "verdict_agreement_ci": interval(self.verdict_agreement_ci),
            "generators_compared": self.point.generators_compared,
            "pairs_judged_by_both": self.point.pairs_judged_by_both,
            "resamples": self.n_resamples,
            "seed": self.seed,
            "confidence": self.confidence,
        }


def _fit(pairs: Sequence[JointPair], side: str, n_generators: int, start: np.ndarray | None):
    """Davidson fit on one side's labels (None when that side has none), and the generators it has a label for."""
    comparisons = [
        ranking.Comparison(pair.first, pair.second, getattr(pair, side))
        for pair in pairs
        if getattr(pair, side) is not None
    ]
    seen = {c.first for c in comparisons} | {c.second for c in comparisons}
    if not comparisons:
        return None, seen
    return ranking.davidson_fit(ranking.outcomes_count(comparisons, n_generators), start=start), seen


def _start_of(fit: ranking.DavidsonFit | None) -> np.ndarray | None:
    """A resample's fit starts from the full data's estimate: the same answer, in a few BFGS steps."""
    return None if fit is None else np.append(fit.scores, np.log(max(fit.tie_parameter, 1e-6)))


def _sign(value: float) -> int:
    # Scores equal to 1e-9 are one place: the leaderboards round them so too when they order generators.
    rounded = round(float(value), 9)
    return (rounded > 0) - (rounded < 0)


def order_agreement(expert_scores: Sequence[float], model_scores: Sequence[float]) -> float:
    """Share of generator pairs (i, j), i < j, the two score lists order the same way (equal scores: one order)."""
    pairs = list(itertools.combinations(range(len(expert_scores)), 2))
    if not pairs:
        return math.nan
    same = sum(_sign(expert_scores[i] - expert_scores[j]) == _sign(model_scores[i] - model_scores[j]) for i, j in pairs)
    return same / len(pairs)


def figures_of(pairs: Sequence[JointPair], n_generators: int) -> Figures:
    """The four figures of these pairs, without intervals."""
    return _figures(pairs, n_generators)[0]


def _figures(pairs: Sequence[JointPair], n_generators: int, starts: tuple = (None, None)):
    """The figures, and the two fits (to start the resamples' fits from)."""
    expert_fit, expert_seen = _fit(pairs, "expert", n_generators, starts[0])
    model_fit, model_seen = _fit(pairs, "model", n_generators, starts[1])
    fits = (expert_fit, model_fit)
    shared = sorted(expert_seen & model_seen)
    both = [pair for pair in pairs if pair.expert is not None and pair.model is not None]
    verdicts = sum(pair.expert == pair.model for pair in both) / len(both) if both else math.nan
    if len(shared) < 2:
        return Figures(math.nan, math.nan, math.nan, verdicts, len(shared), len(both)), fits
    expert_shared, model_shared = expert_fit.scores[shared], model_fit.scores[shared]
    # A constant order (every score equal) has no rank correlation: scipy warns and answers nan, which we keep.
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        tau = float(stats.kendalltau(expert_shared, model_shared).statistic)
        rho = float(stats.spearmanr(expert_shared, model_shared).statistic)
    return Figures(tau, rho, order_agreement(expert_shared, model_shared), verdicts, len(shared), len(both)), fits


def _interval(values: list[float], confidence: float) -> tuple[float, float] | None:
    finite = [value for value in values if not math.isnan(value)]
    if not finite:
        return None
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(np.array(finite), [tail, 100 - tail])
    return float(low), float(high)


def concordance_fit(
    pairs: Sequence[JointPair],
    n_generators: int,
    *,
    n_resamples: int = ranking.DEFAULT_RESAMPLES,
    seed: int = ranking.DEFAULT_SEED,
    confidence: float = ranking.DEFAULT_CONFIDENCE,
) -> Concordance:
    """The figures and their percentile bootstrap intervals (pairs resampled jointly, `seed` for numpy's default
    generator). With 0 resamples each interval is the point estimate."""
    point, fits = _figures(pairs, n_generators)
    starts = tuple(_start_of(fit) for fit in fits)
    resampled: list[Figures] = []
    if pairs and n_resamples > 0:
        random = np.random.default_rng(seed)
        for _ in range(n_resamples):
            drawn = random.integers(0, len(pairs), size=len(pairs))
            resampled.append(_figures([pairs[index] for index in drawn], n_generators, starts)[0])
    else:
        resampled = [point]

    def interval(name: str) -> tuple[float, float] | None:
        return _interval([getattr(figures, name) for figures in resampled], confidence)

    return Concordance(
        point=point,
        kendall_tau_ci=interval("kendall_tau"),
        spearman_ci=interval("spearman"),
        order_agreement_ci=interval("order_agreement"),
        verdict_agreement_ci=interval("verdict_agreement"),
        n_resamples=n_resamples if pairs else 0,
        seed=seed,
        confidence=confidence,
    )
