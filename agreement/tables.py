"""The dashboard's tables as (header, rows): one definition for the HTML page and its CSV downloads."""

from __future__ import annotations

from dataclasses import dataclass

from agreement.dashboard import VerdictConfusions
from agreement.report import VERDICT_DOMAIN, AgreementReport, VariableAgreement
from agreement.selectors import PairConsensus

SORTABLE = {
    "code": lambda v: v.key,
    "name": lambda v: v.label,
    "alpha": lambda v: v.alpha,
    "ci_low": lambda v: v.ci_low,
    "ci_high": lambda v: v.ci_high,
    "n_items": lambda v: v.n_items,
    "n_raters": lambda v: v.n_raters,
    "fleiss_kappa": lambda v: v.fleiss_kappa,
    "percent_agreement": lambda v: v.percent_agreement,
}


@dataclass
class Table:
    header: list[str]
    rows: list[list]


def variables_sorted(variables: list[VariableAgreement], *, sort: str, descending: bool) -> list[VariableAgreement]:
    """Sort by a column; undefined numbers (None) always last, whichever the direction."""
    key = SORTABLE.get(sort)
    if key is None:
        return list(variables)
    defined = [variable for variable in variables if key(variable) is not None]
    undefined = [variable for variable in variables if key(variable) is None]
    return sorted(defined, key=key, reverse=descending) + undefined


def variable_table(variables: list[VariableAgreement]) -> Table:
    return Table(
        header=[
            "code", "name", "group", "level", "alpha", "ci_low", "ci_high", "n_items", "n_raters", "fleiss_kappa",
            "percent_agreement", "note",
        ],
        rows=[
            [
                v.key, v.label, v.group, v.level, v.alpha, v.ci_low, v.ci_high, v.n_items, v.n_raters, v.fleiss_kappa,
                v.percent_agreement, v.note,
            ]
            for v in variables
        ],
    )  # fmt: skip


def expert_table(report: AgreementReport) -> Table:
    return Table(
        header=[
            "expert", "pairs_judged", "agreement_with_consensus_of_others", "left_choice_rate", "decisive_verdicts",
            "comparable_rate", "median_seconds", "gold_accuracy", "gold_verdicts",
        ],
        rows=[
            [
                e.username, e.n_judged, e.consensus_agreement, e.left_rate, e.n_decisive, e.comparable_rate,
                e.median_seconds, e.gold_accuracy, e.n_gold_verdicts,
            ]
            for e in report.experts
        ],
    )  # fmt: skip


def heatmap_table(report: AgreementReport, keys: list[str]) -> Table:
    return Table(
        header=["expert", *keys],
        rows=[[e.username, *(e.consensus_agreement_by_variable.get(k) for k in keys)] for e in report.experts],
    )


def kappa_table(report: AgreementReport) -> Table:
    return Table(
        header=["first", "second", "cohens_kappa", "pairs_both_judged"],
        rows=[[k.first, k.second, k.kappa, k.n_items] for k in report.kappas],
    )


def confusion_table(confusions: VerdictConfusions, *, first: int, second: int, variables: list[int]) -> Table:
    """Rows: the first expert's verdict; columns: the second's."""
    counts = confusions.table(first=first, second=second, variables=variables)
    names = {-1: "B better", 0: "comparable", 1: "A better"}
    return Table(
        header=[
            f"{confusions.rater_names[first]} \\ {confusions.rater_names[second]}",
            *(names[v] for v in VERDICT_DOMAIN),
        ],
        rows=[[names[verdict], *map(int, counts[row])] for row, verdict in enumerate(VERDICT_DOMAIN)],
    )


def consensus_table(consensus: dict[int, PairConsensus]) -> Table:
    rows = []
    for pair in consensus.values():
        for field, labels in (("criterion", pair.criteria), ("dimension", pair.dimensions)):
            for code, value in labels.items():
                rows.append(
                    [
                        pair.external_id, field, code, value.label, value.vote, value.agreement, value.n_raters,
                        value.votes[1], value.votes[0], value.votes[-1], value.tie, value.adjudicated,
                    ]
                )  # fmt: skip
    return Table(
        header=[
            "pair_id", "kind", "code", "label", "vote", "agreement", "n_raters", "votes_a_better", "votes_comparable",
            "votes_b_better", "tie", "adjudicated",
        ],
        rows=rows,
    )  # fmt: skip


def gold_table(gold_labels) -> Table:
    rows = []
    for gold in gold_labels:
        for kind, labels in (("criterion", gold.criteria), ("dimension", gold.dimensions)):
            rows.extend(
                [gold.pair.external_id, kind, code, label, gold.set_by.username, gold.set_at.isoformat(), gold.note]
                for code, label in labels.items()
            )
    return Table(header=["pair_id", "kind", "code", "gold_label", "set_by", "set_at", "note"], rows=rows)
