"""Agreement statistics over rating arrays: pure numpy, no database.

Conventions
- A variable (one criterion, one dimension verdict, one checklist question) is rated on items (pairs for
  verdicts, videos for checklist answers) by raters (experts). Ratings are codes 0..V-1 into an ordered
  `value_domain`, stored as floats with NaN for "this rater did not rate this item": missing is missing,
  never a tie.
- `value_counts[..., item, value]` counts the raters who gave `value` to `item` (Krippendorff's n_uv).

Krippendorff's alpha is evaluated from coincidence matrices, the formula `krippendorff.alpha` uses, on every
variable (and every bootstrap resample) at once: one package call per variable cost 1.8 s on a 10,000-pair
campaign. Tests keep the `krippendorff` package as the reference: point estimates and individual resamples
equal it to 1e-9 at every level of measurement. Fleiss' kappa likewise, on every variable at once, with
statsmodels' `fleiss_kappa` as the reference; Cohen's kappa comes from `statsmodels`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa

LEVELS = ("nominal", "ordinal", "interval", "ratio")
DEFAULT_RESAMPLES = 200
DEFAULT_SEED = 0


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"level of measurement must be one of {', '.join(LEVELS)}, not {level!r}")
    return level


# --- Shaping ------------------------------------------------------------------------------------


def value_counts_from_ratings(ratings: np.ndarray, n_values: int) -> np.ndarray:
    """(raters, items, ...) codes with NaN -> (items, ..., n_values) counts of raters per value."""
    ratings = np.asarray(ratings, dtype=float)
    counts = np.zeros(ratings.shape[1:] + (n_values,), dtype=np.int64)
    for code in range(n_values):
        counts[..., code] = (ratings == code).sum(axis=0)
    return counts


def bootstrap_weights(*, n_items: int, n_resamples: int, seed: int | None) -> np.ndarray:
    """(n_resamples, n_items): how many times each item is drawn in each resample (items with replacement)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_items, size=(n_resamples, n_items))
    offsets = (np.arange(n_resamples) * n_items)[:, np.newaxis]
    return np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_items).reshape(n_resamples, n_items)


# --- Krippendorff's alpha -------------------------------------------------------------------------


def krippendorff_alpha(value_counts: np.ndarray, *, value_domain, level: str) -> float | None:
    """Krippendorff's alpha from (items, values) counts, or None where it is undefined.

    Undefined: no item rated twice, or every pairable rating the same value (expected disagreement is zero)."""
    value_counts = np.asarray(value_counts)
    if value_counts.ndim != 2:
        return None
    alpha = alpha_from_coincidences(item_coincidences(value_counts).sum(axis=0), value_domain=value_domain, level=level)
    return float(alpha) if np.isfinite(alpha) else None


def item_coincidences(value_counts: np.ndarray) -> np.ndarray:
    """(..., items, V) counts -> (..., items, V, V): each item's contribution to the coincidence matrix.

    o_ck = sum over items of n_uc * (n_uk - [c == k]) / (m_u - 1); items rated once contribute nothing."""
    counts = np.asarray(value_counts, dtype=float)
    n_values = counts.shape[-1]
    pairable = counts.sum(axis=-1)
    outer = counts[..., :, np.newaxis] * counts[..., np.newaxis, :]
    diagonal = np.arange(n_values)
    outer[..., diagonal, diagonal] -= counts  # in place: a 10,000-pair campaign's array is 100 MB
    scale = np.divide(1.0, pairable - 1, out=np.zeros_like(pairable), where=pairable >= 2)
    outer *= scale[..., np.newaxis, np.newaxis]
    return outer


def _distances(n_v: np.ndarray, *, value_domain: np.ndarray, level: str) -> np.ndarray:
    """(..., V) marginals -> (..., V, V) squared distances for the level (Krippendorff 2011, section E)."""
    n_values = n_v.shape[-1]
    shape = n_v.shape[:-1] + (n_values, n_values)
    if level == "nominal":
        return np.broadcast_to(1.0 - np.eye(n_values), shape)
    values = np.asarray(value_domain, dtype=float)
    low, high = values[:, np.newaxis], values[np.newaxis, :]
    if level == "interval":
        return np.broadcast_to((low - high) ** 2, shape)
    if level == "ratio":
        total = low + high
        ratio = np.divide(low - high, total, out=np.zeros((n_values, n_values)), where=total != 0)
        return np.broadcast_to(ratio**2, shape)
    # Ordinal: (sum of n_g for g from c to k, minus (n_c + n_k) / 2) squared; depends on the marginals.
    cumulative = np.cumsum(n_v, axis=-1)
    index = np.arange(n_values)
    lower, upper = np.minimum.outer(index, index), np.maximum.outer(index, index)
    between = cumulative[..., upper] - cumulative[..., lower] + n_v[..., lower]
    return (between - (n_v[..., lower] + n_v[..., upper]) / 2) ** 2


def alpha_from_coincidences(coincidences: np.ndarray, *, value_domain, level: str) -> np.ndarray:
    """(..., V, V) observed coincidence matrices -> (...) alphas, NaN where undefined."""
    observed = np.asarray(coincidences, dtype=float)
    n_v = observed.sum(axis=-1)
    total = n_v.sum(axis=-1)
    n_values = n_v.shape[-1]
    expected = n_v[..., :, np.newaxis] * n_v[..., np.newaxis, :] - n_v[..., :, np.newaxis] * np.eye(n_values)
    expected /= np.where(total > 1, total - 1, np.nan)[..., np.newaxis, np.newaxis]
    distance = _distances(n_v, value_domain=np.asarray(value_domain), level=check_level(level))
    disagreement_observed = (observed * distance).sum(axis=(-2, -1))
    disagreement_expected = (expected * distance).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        alphas = 1.0 - disagreement_observed / disagreement_expected
    return np.where(disagreement_expected > 0, alphas, np.nan)


def alpha_bootstrap(item_coincidence: np.ndarray, weights: np.ndarray, *, value_domain, level: str) -> np.ndarray:
    """Alphas of every resample at once.

    item_coincidence: (items, ..., V, V) per-item coincidences (sum any variables to pool them);
    weights: (resamples, items) from `bootstrap_weights`. Returns (resamples, ...)."""
    n_items = item_coincidence.shape[0]
    tail = item_coincidence.shape[1:]
    resampled = (weights.astype(float) @ item_coincidence.reshape(n_items, -1)).reshape((weights.shape[0],) + tail)
    return alpha_from_coincidences(resampled, value_domain=value_domain, level=level)


def percentile_interval(replicates: np.ndarray, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0, ignoring undefined (NaN) replicates."""
    tail = (1.0 - confidence) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanpercentile(replicates, tail, axis=0)
        high = np.nanpercentile(replicates, 100 - tail, axis=0)
    return low, high


# --- Kappas and raw agreement ---------------------------------------------------------------------


def fleiss_kappa_or_none(value_counts: np.ndarray) -> float | None:
    """Fleiss' kappa over the rated items, only when each has the same number (>= 2) of raters."""
    kappa = fleiss_kappas(np.asarray(value_counts)[np.newaxis])[0]
    return float(kappa) if np.isfinite(kappa) else None


def fleiss_kappas(value_counts: np.ndarray) -> np.ndarray:
    """(variables, items, V) counts -> (variables,) Fleiss' kappas, NaN where undefined (no rated item, rated items
    with different numbers of raters, fewer than two raters, no variation).

    statsmodels' `fleiss_kappa` formula (the tests' reference), on every variable at once; unrated items are left
    out of the means."""
    counts = np.asarray(value_counts, dtype=float)
    raters = counts.sum(axis=-1)  # (variables, items)
    rated = raters > 0
    n_rated = rated.sum(axis=-1)
    most = raters.max(axis=-1, initial=0)
    fewest = np.where(rated, raters, np.inf).min(axis=-1, initial=np.inf)
    defined = (n_rated > 0) & (fewest == most) & (most >= 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        category_share = counts.sum(axis=1) / (n_rated * most)[:, np.newaxis]
        agreement_per_item = ((counts * counts).sum(axis=-1) - most[:, np.newaxis]) / (most * (most - 1))[:, np.newaxis]
        mean_agreement = np.where(rated, agreement_per_item, 0.0).sum(axis=-1) / n_rated
        chance_agreement = (category_share * category_share).sum(axis=-1)
        kappas = (mean_agreement - chance_agreement) / (1 - chance_agreement)
    return np.where(defined & np.isfinite(kappas), kappas, np.nan)


def percent_agreement(value_counts: np.ndarray) -> float | None:
    """Pairwise percent agreement: agreeing rater pairs over all rater pairs, pooled over items rated >= 2 times."""
    counts = np.asarray(value_counts, dtype=float)
    raters = counts.sum(axis=-1)
    pairs = (raters * (raters - 1)).sum()
    if pairs == 0:
        return None
    return float((counts * (counts - 1)).sum() / pairs)


def cohens_kappa_or_none(table: np.ndarray) -> float | None:
    """Cohen's kappa (statsmodels) from a square confusion table; None when undefined (no items, no variation)."""
    table = np.asarray(table, dtype=float)
    if table.sum() == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = cohens_kappa(table, return_results=False)
    return float(value) if np.isfinite(value) else None


def confusion_table(first: np.ndarray, second: np.ndarray, n_values: int) -> np.ndarray:
    """(V, V) counts of (first rater's code, second rater's code) over items both rated."""
    first, second = np.asarray(first, dtype=float).ravel(), np.asarray(second, dtype=float).ravel()
    both = ~np.isnan(first) & ~np.isnan(second)
    flat = first[both].astype(int) * n_values + second[both].astype(int)
    return np.bincount(flat, minlength=n_values * n_values).reshape(n_values, n_values)


# --- Majority vote --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Votes:
    """Majority vote per item: `label` code (-1 where nobody voted), `agreement` share backing it, `tie` flag."""

    label: np.ndarray
    agreement: np.ndarray
    tie: np.ndarray
    n_raters: np.ndarray


def majority_vote(value_counts: np.ndarray, *, tie_code: int) -> Votes:
    """Majority vote over (..., V) counts with the tie rule: when two or more values share the top count, the
    label is `tie_code` (for verdicts: 0, "comparable", the scale's neutral point).

    `agreement` is the share of raters who gave the final label; after a tie broken to a value nobody chose it
    is 0, so tied items always fall below any positive adjudication threshold."""
    counts = np.asarray(value_counts)
    raters = counts.sum(axis=-1)
    top = counts.max(axis=-1)
    n_top = (counts == top[..., np.newaxis]).sum(axis=-1)
    tie = (n_top > 1) & (raters > 0)
    label = np.where(tie, tie_code, counts.argmax(axis=-1))
    label = np.where(raters > 0, label, -1)
    chosen = np.take_along_axis(counts, np.maximum(label, 0)[..., np.newaxis], axis=-1)[..., 0]
    agreement = np.divide(chosen, raters, out=np.full(raters.shape, np.nan), where=raters > 0)
    return Votes(label=label, agreement=agreement, tie=tie, n_raters=raters)
