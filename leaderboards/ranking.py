"""Bradley-Terry ranking with ties (Davidson, 1970), fitted by maximum likelihood, with bootstrap intervals.

Plain numpy and scipy: this module never imports Django, so benchmarks and notebooks use it as it is.

The model. Generator i has a strength pi_i = exp(theta_i); one comparison of i and j ends in
    P(i wins)  = pi_i / D,    P(j wins) = pi_j / D,    P(tie) = nu * sqrt(pi_i * pi_j) / D,
    D = pi_i + pi_j + nu * sqrt(pi_i * pi_j),
with one tie parameter nu >= 0 shared by every pair, estimated with the strengths. Without ties (nu -> 0) this is
Bradley-Terry. Davidson rather than Rao-Kupper because a tie is then exactly "the geometric mean of the two
strengths, scaled by nu": two equally strong generators tie with probability nu / (2 + nu), and the fit has a
closed form for two generators (theta_1 - theta_2 = log(w_1 / w_2), nu = t / sqrt(w_1 * w_2)).

Scores are the log-strengths theta, centred to mean 0 (only differences are identified): a difference of 1 means
odds of e = 2.7 to 1 of winning a decisive comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

# A generator that never won (or never lost) has no finite maximum-likelihood strength. A ridge this weak leaves
# every other estimate unchanged to 1e-4 yet keeps that one finite (and its interval then shows how little is known).
DEFAULT_RIDGE = 1e-6
DEFAULT_RESAMPLES = 200
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95
# log(nu) when no tie was observed: ties then have no weight (e^-30 is 1e-13).
LOG_NO_TIES = -30.0


@dataclass(frozen=True, slots=True)
class Comparison:
    """One judged comparison of generator `first` with generator `second` (indices into the generator list).

    outcome: +1 `first` won, -1 `second` won, 0 tie. weight: how much it counts (1 for a consensus label; an
    annotator's reliability for a raw judgment)."""

    first: int
    second: int
    outcome: int
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Weighted outcome counts: wins[i, j] = comparisons i won against j; ties[i, j] = ties[j, i] = ties of i and j."""

    wins: np.ndarray
    ties: np.ndarray

    @property
    def totals(self) -> np.ndarray:
        """totals[i, j]: comparisons of i with j, whatever their outcome (symmetric)."""
        return self.wins + self.wins.T + self.ties


@dataclass(frozen=True, slots=True)
class DavidsonFit:
    scores: np.ndarray  # theta, centred to mean 0
    tie_parameter: float  # nu
    log_likelihood: float
    converged: bool


@dataclass(frozen=True, slots=True)
class Ranking:
    """A fitted leaderboard: scores with percentile bootstrap intervals, win rates and counts per cell."""

    generators: list[str]
    scores: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    tie_parameter: float
    tie_parameter_ci: tuple[float, float]
    comparisons: np.ndarray  # per generator: comparisons it took part in (weighted)
    win_rate: np.ndarray  # win_rate[i, j] = (wins + ties / 2) / comparisons of i against j; nan where none
    cell_counts: np.ndarray  # comparisons of i with j (weighted)
    n_comparisons: int
    n_resamples: int
    seed: int
    confidence: float
    order: list[int] = field(default_factory=list)  # generator indices, best first

    def rows(self) -> list[dict]:
        """One row per generator, best first: rank, generator, score, ci_low, ci_high, n."""
        return [
            {
                "rank": rank,
                "generator": self.generators[index],
                "score": float(self.scores[index]),
                "ci_low": float(self.ci_low[index]),
                "ci_high": float(self.ci_high[index]),
                "n": float(self.comparisons[index]),
            }
            for rank, index in enumerate(self.order, start=1)
        ]

    def as_stored(self) -> dict:
        """JSON-ready (a stored leaderboard, models.LeaderboardResult); win rates of generators that never met,
        NaN here, become None: PostgreSQL's jsonb has no NaN."""

        def floats(array: np.ndarray) -> list:
            return [None if np.isnan(value) else float(value) for value in np.asarray(array, dtype=float).ravel()]

        size = len(self.generators)
        return {
            "generators": list(self.generators),
            "scores": floats(self.scores),
            "ci_low": floats(self.ci_low),
            "ci_high": floats(self.ci_high),
            "tie_parameter": floats([self.tie_parameter])[0],
            "tie_parameter_ci": floats(list(self.tie_parameter_ci)),
            "comparisons": floats(self.comparisons),
            "win_rate": floats(self.win_rate.reshape(size, size)),
            "cell_counts": floats(self.cell_counts.reshape(size, size)),
            "n_comparisons": int(self.n_comparisons),
            "n_resamples": int(self.n_resamples),
            "seed": int(self.seed),
            "confidence": float(self.confidence),
            "order": [int(index) for index in self.order],
        }

    @classmethod
    def from_stored(cls, data: dict) -> Ranking:
        size = len(data["generators"])

        def array(values: list, shape: tuple[int, ...]) -> np.ndarray:
            return np.array([np.nan if value is None else value for value in values], dtype=float).reshape(shape)

        return cls(
            generators=list(data["generators"]),
            scores=array(data["scores"], (size,)),
            ci_low=array(data["ci_low"], (size,)),
            ci_high=array(data["ci_high"], (size,)),
            tie_parameter=float(array([data["tie_parameter"]], (1,))[0]),
            tie_parameter_ci=tuple(float(bound) for bound in array(data["tie_parameter_ci"], (2,))),
            comparisons=array(data["comparisons"], (size,)),
            win_rate=array(data["win_rate"], (size, size)),
            cell_counts=array(data["cell_counts"], (size, size)),
            n_comparisons=data["n_comparisons"],
            n_resamples=data["n_resamples"],
            seed=data["seed"],
            confidence=data["confidence"],
            order=list(data["order"]),
        )


def outcomes_count(comparisons: Sequence[Comparison], n_generators: int) -> Outcomes:
    return _outcomes_from_arrays(_comparison_arrays(comparisons), n_generators)


def _comparison_arrays(comparisons: Sequence[Comparison]) -> np.ndarray:
    """(n, 4) float array: first, second, outcome, weight, one row per comparison."""
    rows = [(c.first, c.second, c.outcome, c.weight) for c in comparisons]
    return np.array(rows, dtype=float).reshape(len(rows), 4)


def _outcomes_from_arrays(arrays: np.ndarray, n_generators: int) -> Outcomes:
    first, second = arrays[:, 0].astype(int), arrays[:, 1].astype(int)
    outcome, weight = arrays[:, 2], arrays[:, 3]
    winner = np.where(outcome > 0, first, second)
    loser = np.where(outcome > 0, second, first)
    decisive, tied = outcome != 0, outcome == 0
    wins = np.zeros((n_generators, n_generators))
    ties = np.zeros((n_generators, n_generators))
    np.add.at(wins, (winner[decisive], loser[decisive]), weight[decisive])
    np.add.at(ties, (first[tied], second[tied]), weight[tied])
    return Outcomes(wins=wins, ties=ties + ties.T)


def _negative_log_likelihood(parameters: np.ndarray, wins: np.ndarray, ties: np.ndarray, ridge: float):
    """Minus the Davidson log-likelihood (plus the ridge) and its gradient; parameters = (theta..., log nu)."""
    theta, log_tie = parameters[:-1], parameters[-1]
    totals = wins + wins.T + ties
    first, second = theta[:, np.newaxis], theta[np.newaxis, :]
    tie_logit = log_tie + (first + second) / 2
    log_denominator = logsumexp(np.stack(np.broadcast_arrays(first, second, tie_logit)), axis=0)
    # Each unordered pair appears twice in the full matrices: once as (i, j), once as (j, i).
    log_likelihood = (
        np.sum(wins * (first - log_denominator))
        + 0.5 * np.sum(ties * (tie_logit - log_denominator))
        - 0.5 * ridge * (np.sum(theta**2) + log_tie**2)
    )
    win_probability = np.exp(first - log_denominator)
    tie_probability = np.exp(tie_logit - log_denominator)
    theta_gradient = (
        wins.sum(axis=1)
        + 0.5 * ties.sum(axis=1)
        - np.sum(totals * (win_probability + 0.5 * tie_probability), axis=1)
        - ridge * theta
    )
    tie_gradient = 0.5 * (np.sum(ties) - np.sum(totals * tie_probability)) - ridge * log_tie
    return -log_likelihood, -np.append(theta_gradient, tie_gradient)


def _negative_log_likelihood_without_ties(theta: np.ndarray, wins: np.ndarray, ties: np.ndarray, ridge: float):
    """Plain Bradley-Terry: with no tie observed, the tie parameter's estimate is 0."""
    value, gradient = _negative_log_likelihood(np.append(theta, LOG_NO_TIES), wins, ties, ridge)
    return value, gradient[:-1]


def davidson_fit(outcomes: Outcomes, *, ridge: float = DEFAULT_RIDGE, start: np.ndarray | None = None) -> DavidsonFit:
    """Maximum-likelihood strengths and tie parameter (BFGS on the exact gradient). `start`: (theta..., log nu)."""
    n_generators = outcomes.wins.shape[0]
    n_ties, n_decisive = outcomes.ties.sum() / 2, outcomes.wins.sum()
    if start is None:
        # Two equal generators tie with probability nu / (2 + nu): start nu from the observed tie share.
        tie_share = n_ties / max(n_ties + n_decisive, 1e-12)
        start = np.append(np.zeros(n_generators), np.log(max(2 * tie_share / max(1 - tie_share, 1e-6), 1e-6)))
    options = {"maxiter": 1000, "gtol": 1e-8}
    arguments = (outcomes.wins, outcomes.ties, ridge)
    if n_ties == 0:
        result = minimize(
            _negative_log_likelihood_without_ties, start[:-1], args=arguments, jac=True, method="BFGS", options=options
        )
        theta, tie_parameter = result.x, 0.0
    else:
        result = minimize(_negative_log_likelihood, start, args=arguments, jac=True, method="BFGS", options=options)
        theta, tie_parameter = result.x[:-1], float(np.exp(result.x[-1]))
    # BFGS reports "precision loss" when the gradient is already as small as float64 allows: that is converged.
    converged = bool(result.success) or bool(np.max(np.abs(result.jac)) < 1e-5 * max(1.0, n_ties + n_decisive))
    return DavidsonFit(
        scores=theta - theta.mean(), tie_parameter=tie_parameter, log_likelihood=-float(result.fun), converged=converged
    )


def win_rates(outcomes: Outcomes) -> np.ndarray:
    """win_rate[i, j]: share of i's comparisons with j that i won, a tie counting half; nan where they never met."""
    totals = outcomes.totals
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (outcomes.wins + 0.5 * outcomes.ties) / totals
    rate[totals == 0] = np.nan
    return rate


def ranking_fit(
    generators: Sequence[str],
    comparisons: Sequence[Comparison],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    ridge: float = DEFAULT_RIDGE,
) -> Ranking:
    """Fit the leaderboard and its percentile bootstrap intervals: comparisons are resampled with replacement
    `n_resamples` times (numpy's default generator seeded with `seed`, so the same data give the same intervals)
    and refitted. With 0 resamples the interval is the point estimate."""
    n_generators = len(generators)
    arrays = _comparison_arrays(comparisons)
    outcomes = _outcomes_from_arrays(arrays, n_generators)
    fit = davidson_fit(outcomes, ridge=ridge)
    scores_resampled, ties_resampled = [], []
    if comparisons and n_resamples > 0:
        random = np.random.default_rng(seed)
        start = np.append(fit.scores, np.log(max(fit.tie_parameter, 1e-6)))
        for _ in range(n_resamples):
            drawn = random.integers(0, len(comparisons), size=len(comparisons))
            resample = davidson_fit(_outcomes_from_arrays(arrays[drawn], n_generators), ridge=ridge, start=start)
            scores_resampled.append(resample.scores)
            ties_resampled.append(resample.tie_parameter)
    tail = 100 * (1 - confidence) / 2
    if scores_resampled:
        ci_low, ci_high = np.percentile(np.array(scores_resampled), [tail, 100 - tail], axis=0)
        tie_low, tie_high = np.percentile(np.array(ties_resampled), [tail, 100 - tail])
    else:
        ci_low, ci_high = fit.scores.copy(), fit.scores.copy()
        tie_low = tie_high = fit.tie_parameter
    totals = outcomes.totals
    # Best first; equal scores keep the generators' given order.
    order = sorted(range(n_generators), key=lambda index: (-round(float(fit.scores[index]), 9), index))
    return Ranking(
        generators=list(generators),
        scores=fit.scores,
        ci_low=ci_low,
        ci_high=ci_high,
        tie_parameter=fit.tie_parameter,
        tie_parameter_ci=(float(tie_low), float(tie_high)),
        comparisons=totals.sum(axis=1),
        win_rate=win_rates(outcomes),
        cell_counts=totals,
        n_comparisons=len(comparisons),
        n_resamples=len(scores_resampled),
        seed=seed,
        confidence=confidence,
        order=order,
    )
