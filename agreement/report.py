"""The agreement report of one campaign, computed from rating arrays (no database: see selectors.py).

Two blocks of ratings feed it:
- verdicts: raters x pairs x (15 criteria + 3 dimensions), codes 0/1/2 for verdicts -1/0/+1, ordinal level;
- checklist: raters x videos x questions, codes 0/1/2 for no/yes/na, nominal level.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from agreement import metrics

VERDICT_DOMAIN = (-1, 0, 1)
VERDICT_TIE_CODE = 1  # verdict 0, "comparable"
CHECKLIST_DOMAIN = ("no", "yes", "na")
DEFAULT_LEVELS = {"verdicts": "ordinal", "checklist": "nominal"}


def verdict_indexes(values: np.ndarray) -> np.ndarray:
    """Verdicts read out of their JSON in SQL (an object array) as indexes into VERDICT_DOMAIN, -1 where there is
    none. PostgreSQL gives them as text ("-1"), SQLite as numbers (-1): both are matched."""
    indexes = np.full(values.shape, -1, dtype=np.int64)
    for index, verdict in enumerate(VERDICT_DOMAIN):
        indexes[(values == str(verdict)) | (values == verdict)] = index
    return indexes


def levels_key(levels: dict[str, str] | None) -> str:
    """The overrides that differ from the defaults, as the stored row's key: "" or "verdicts=interval"."""
    overrides = {kind: level for kind, level in (levels or {}).items() if DEFAULT_LEVELS.get(kind) != level}
    return ",".join(f"{kind}={level}" for kind, level in sorted(overrides.items()))


def levels_from_key(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split(",") if part)


@dataclass
class RatingBlock:
    """ratings[rater, item, variable] = code into value_domain, NaN where the rater did not rate the item.

    groups name sets of variables pooled into one alpha (e.g. "criteria" -> the 15 criterion indices)."""

    ratings: np.ndarray
    variables: list[str]
    labels: list[str]
    item_ids: list[int]
    rater_ids: list[int]
    rater_names: list[str]
    value_domain: tuple
    level: str
    groups: dict[str, list[int]] = field(default_factory=dict)

    @property
    def n_values(self) -> int:
        return len(self.value_domain)

    def value_counts(self) -> np.ndarray:
        """(items, variables, values)."""
        return metrics.value_counts_from_ratings(self.ratings, self.n_values)


@dataclass
class VariableAgreement:
    """Agreement on one variable, or on a group pooled (`key` = "criteria", "dimensions", "checklist").

    n_items counts items rated by two or more experts (the ones alpha uses); n_raters the experts who rated any
    item; alpha, the interval and the kappas are None where undefined and `note` says why."""

    key: str
    label: str
    group: str
    level: str
    alpha: float | None
    ci_low: float | None
    ci_high: float | None
    n_items: int
    n_raters: int
    fleiss_kappa: float | None
    percent_agreement: float | None
    note: str = ""

    def as_json(self) -> dict:
        return {
            "alpha": self.alpha,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_items": self.n_items,
            "n_raters": self.n_raters,
            "fleiss_kappa": self.fleiss_kappa,
            "percent_agreement": self.percent_agreement,
        }


@dataclass
class ExpertAgreement:
    """One expert over every verdict (criteria and dimensions) they gave.

    consensus_agreement: share of verdicts equal to the other experts' majority (tie rule applied), on items
    someone else also judged; left_rate: share of decisive verdicts (not "comparable") for the video displayed on
    the left, 0.5 meaning no position bias; gold_accuracy: share of verdicts equal to a gold answer."""

    expert_id: int
    username: str
    n_judged: int
    consensus_agreement: float | None
    consensus_agreement_by_variable: dict[str, float | None]
    left_rate: float | None
    n_decisive: int
    comparable_rate: float | None
    median_seconds: float | None
    gold_accuracy: float | None
    n_gold_verdicts: int


@dataclass
class KappaPair:
    first: str
    second: str
    kappa: float | None
    n_items: int


@dataclass
class AgreementReport:
    variables: list[VariableAgreement]
    pooled: list[VariableAgreement]
    experts: list[ExpertAgreement]
    kappas: list[KappaPair]
    messages: list[str]
    n_pairs: int
    n_judgments: int
    n_resamples: int
    seed: int | None

    def as_json(self) -> dict[str, dict]:
        """Keyed by criterion code, dimension code and checklist question id (as a string)."""
        return {variable.key: variable.as_json() for variable in self.variables}

    def by_group(self, group: str) -> list[VariableAgreement]:
        return [variable for variable in self.variables if variable.group == group]

    def as_stored(self) -> dict:
        """The whole report as JSON-ready data (numpy numbers made Python's, undefined numbers None); read back by
        `from_stored`."""
        return _json_ready(asdict(self))

    @classmethod
    def from_stored(cls, data: dict) -> AgreementReport:
        return cls(
            **{
                **data,
                "variables": [VariableAgreement(**variable) for variable in data["variables"]],
                "pooled": [VariableAgreement(**variable) for variable in data["pooled"]],
                "experts": [ExpertAgreement(**expert) for expert in data["experts"]],
                "kappas": [KappaPair(**kappa) for kappa in data["kappas"]],
            }
        )


def _json_ready(value):
    """PostgreSQL's jsonb has no NaN: undefined statistics become None, as everywhere else in the report."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _float(value)
    return value


def _float(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _undefined_note(counts: np.ndarray) -> str:
    pairable = counts[counts.sum(axis=-1) >= 2]
    if len(pairable) == 0:
        return "not enough data: no item rated by two experts"
    return "not enough data: every rating is the same value, so chance agreement is total"


def _variable_agreement(
    counts: np.ndarray,
    *,
    block: RatingBlock,
    key: str,
    label: str,
    group: str,
    n_raters: int,
    alpha,
    fleiss_kappa,
    interval,
) -> VariableAgreement:
    """counts: (items, values) of one variable (or a pooled group), rows nobody rated already dropped; alpha and
    fleiss_kappa: computed for every variable at once, NaN where undefined."""
    pairable = counts[counts.sum(axis=-1) >= 2]
    alpha = _float(alpha)
    low, high = interval if alpha is not None else (None, None)
    return VariableAgreement(
        key=key,
        label=label,
        group=group,
        level=block.level,
        alpha=alpha,
        ci_low=_float(low),
        ci_high=_float(high),
        n_items=len(pairable),
        n_raters=int(n_raters),
        fleiss_kappa=_float(fleiss_kappa),
        percent_agreement=metrics.percent_agreement(pairable),
        note="" if alpha is not None else _undefined_note(counts),
    )


def block_agreement(
    block: RatingBlock, *, group_of: dict[int, str], n_resamples: int, seed: int | None
) -> tuple[list[VariableAgreement], list[VariableAgreement]]:
    """Per-variable and pooled alphas with bootstrap intervals (items resampled, shared across variables)."""
    counts = np.ascontiguousarray(block.value_counts().transpose(1, 0, 2))  # (variables, items, values)
    n_variables, n_items = counts.shape[:2]
    rated_items = counts.sum(axis=-1) > 0
    rated = ~np.isnan(block.ratings)
    raters_per_variable = rated.any(axis=1).sum(axis=0) if n_items else np.zeros(n_variables, dtype=int)
    no_interval = np.full(n_variables, np.nan), np.full(len(block.groups), np.nan)
    intervals, pooled_intervals = (no_interval[0], no_interval[0]), (no_interval[1], no_interval[1])
    coincidences = metrics.item_coincidences(counts.transpose(1, 0, 2))  # (items, variables, V, V)
    pooled_coincidences = np.zeros((n_items, len(block.groups)) + coincidences.shape[2:])  # (items, groups, V, V)
    for g, indices in enumerate(block.groups.values()):
        pooled_coincidences[:, g] = coincidences[:, indices].sum(axis=1)
    alphas = metrics.alpha_from_coincidences(
        coincidences.sum(axis=0), value_domain=block.value_domain, level=block.level
    )
    pooled_alphas = metrics.alpha_from_coincidences(
        pooled_coincidences.sum(axis=0), value_domain=block.value_domain, level=block.level
    )
    fleiss_kappas = metrics.fleiss_kappas(counts)
    if n_resamples > 0 and n_items > 0:
        weights = metrics.bootstrap_weights(n_items=n_items, n_resamples=n_resamples, seed=seed)
        replicates = metrics.alpha_bootstrap(coincidences, weights, value_domain=block.value_domain, level=block.level)
        pooled_replicates = metrics.alpha_bootstrap(
            pooled_coincidences, weights, value_domain=block.value_domain, level=block.level
        )
        intervals = metrics.percentile_interval(replicates)
        pooled_intervals = metrics.percentile_interval(pooled_replicates)

    variables = [
        _variable_agreement(
            counts[k][rated_items[k]],
            block=block,
            key=key,
            label=block.labels[k],
            group=group_of[k],
            n_raters=raters_per_variable[k],
            alpha=alphas[k],
            fleiss_kappa=fleiss_kappas[k],
            interval=(intervals[0][k], intervals[1][k]),
        )
        for k, key in enumerate(block.variables)
    ]
    pooled = []
    for g, (group, indices) in enumerate(block.groups.items()):
        group_counts = counts[indices][rated_items[indices]]
        pooled.append(
            _variable_agreement(
                group_counts,
                block=block,
                key=group,
                label=f"All {group} pooled",
                group=group,
                n_raters=int(rated[:, :, indices].any(axis=(1, 2)).sum()) if n_items else 0,
                alpha=pooled_alphas[g],
                fleiss_kappa=metrics.fleiss_kappas(group_counts[np.newaxis])[0],
                interval=(pooled_intervals[0][g], pooled_intervals[1][g]),
            )
        )
    return variables, pooled


def expert_agreement(
    block: RatingBlock,
    *,
    swapped: np.ndarray,
    seconds: np.ndarray,
    gold: np.ndarray | None,
) -> list[ExpertAgreement]:
    """Per expert: agreement with the leave-one-out consensus of the others (same tie rule as the consensus),
    position bias (share of decisive verdicts that chose the left-displayed video), share of "comparable",
    median time on task and accuracy on gold pairs. Uses every verdict variable (criteria and dimensions)."""
    counts = block.value_counts()
    experts = []
    for r, (expert_id, username) in enumerate(zip(block.rater_ids, block.rater_names, strict=True)):
        own = block.ratings[r]
        judged = ~np.isnan(own)
        own_codes = np.where(judged, own, 0).astype(int)
        own_onehot = np.eye(block.n_values, dtype=counts.dtype)[own_codes] * judged[..., np.newaxis]
        others = metrics.majority_vote(counts - own_onehot, tie_code=VERDICT_TIE_CODE)
        comparable = judged & (others.n_raters > 0)
        matches = (own_codes == others.label) & comparable
        by_variable = {
            key: (float(matches[:, k].sum() / comparable[:, k].sum()) if comparable[:, k].any() else None)
            for k, key in enumerate(block.variables)
        }

        left_rate = comparable_rate = None
        n_decisive = 0
        if tuple(block.value_domain) == VERDICT_DOMAIN:
            verdict = np.asarray(VERDICT_DOMAIN)[own_codes]
            displayed = np.where(swapped[r][:, np.newaxis] == 1, -verdict, verdict)
            decisive = judged & (verdict != 0)
            n_decisive = int(decisive.sum())
            left_rate = float((decisive & (displayed == 1)).sum() / n_decisive) if n_decisive else None
            comparable_rate = float((judged & (verdict == 0)).sum() / judged.sum()) if judged.any() else None
        items_judged = judged.any(axis=1)

        gold_correct = gold_total = 0
        if gold is not None:
            with_gold = judged & ~np.isnan(gold)
            gold_total = int(with_gold.sum())
            gold_correct = int((with_gold & (own_codes == np.nan_to_num(gold, nan=-1))).sum())
        expert_seconds = seconds[r][items_judged]
        experts.append(
            ExpertAgreement(
                expert_id=expert_id,
                username=username,
                n_judged=int(items_judged.sum()),
                consensus_agreement=float(matches.sum() / comparable.sum()) if comparable.any() else None,
                consensus_agreement_by_variable=by_variable,
                left_rate=left_rate,
                n_decisive=n_decisive,
                comparable_rate=comparable_rate,
                median_seconds=_float(np.median(expert_seconds)) if len(expert_seconds) else None,
                gold_accuracy=gold_correct / gold_total if gold_total else None,
                n_gold_verdicts=gold_total,
            )
        )
    return experts


def expert_confusion(block: RatingBlock, *, first: int, second: int, variables: list[int]) -> np.ndarray:
    """(V, V) table: rows the first expert's codes, columns the second's, over items and variables both rated."""
    return metrics.confusion_table(
        block.ratings[first][:, variables], block.ratings[second][:, variables], block.n_values
    )


def kappa_pairs(block: RatingBlock) -> list[KappaPair]:
    """Cohen's kappa for every pair of experts, over every verdict variable of the items both judged."""
    everything = list(range(len(block.variables)))
    result = []
    for first in range(len(block.rater_ids)):
        for second in range(first + 1, len(block.rater_ids)):
            table = expert_confusion(block, first=first, second=second, variables=everything)
            both = (~np.isnan(block.ratings[first]) & ~np.isnan(block.ratings[second])).any(axis=1)
            result.append(
                KappaPair(
                    first=block.rater_names[first],
                    second=block.rater_names[second],
                    kappa=metrics.cohens_kappa_or_none(table),
                    n_items=int(both.sum()),
                )
            )
    return result


def report_build(
    *,
    verdicts: RatingBlock,
    checklist: RatingBlock | None,
    swapped: np.ndarray,
    seconds: np.ndarray,
    gold: np.ndarray | None = None,
    n_resamples: int = metrics.DEFAULT_RESAMPLES,
    seed: int | None = metrics.DEFAULT_SEED,
) -> AgreementReport:
    """Everything the dashboard and the `agreement` command show, from the campaign's rating arrays."""
    group_of = {index: group for group, indices in verdicts.groups.items() for index in indices}
    variables, pooled = block_agreement(verdicts, group_of=group_of, n_resamples=n_resamples, seed=seed)
    if checklist is not None and checklist.variables:
        checklist_variables, checklist_pooled = block_agreement(
            checklist,
            group_of=dict.fromkeys(range(len(checklist.variables)), "checklist"),
            n_resamples=n_resamples,
            seed=seed,
        )
        variables += checklist_variables
        pooled += checklist_pooled

    n_judgments = int((~np.isnan(verdicts.ratings)).any(axis=2).sum())
    items_per_rater = (~np.isnan(verdicts.ratings)).any(axis=2)
    shared_items = int((items_per_rater.sum(axis=0) >= 2).sum())
    messages = []
    if n_judgments == 0:
        messages.append("Not enough data: no judgments yet. Agreement needs two experts judging the same pair.")
    elif len(verdicts.rater_ids) < 2:
        messages.append(
            f"Not enough data: only one expert ({verdicts.rater_names[0]}) has judged this campaign; "
            "agreement needs at least two experts on the same pair."
        )
    elif shared_items == 0:
        messages.append("Not enough data: no pair has been judged by two experts yet.")
    return AgreementReport(
        variables=variables,
        pooled=pooled,
        experts=expert_agreement(verdicts, swapped=swapped, seconds=seconds, gold=gold),
        kappas=kappa_pairs(verdicts),
        messages=messages,
        n_pairs=len(verdicts.item_ids),
        n_judgments=n_judgments,
        n_resamples=n_resamples,
        seed=seed,
    )
