"""What the agreement dashboard shows, computed in one go in the background and stored as JSON
(models.DashboardReport.content): the report, its charts, the expert-by-expert confusion counts and the size of
the adjudication queue. The page only reads it back, so it answers in the same time at 24 pairs and at 10,000.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agreement import plots
from agreement.report import VERDICT_DOMAIN, AgreementReport, RatingBlock
from agreement.selectors import adjudication_queue_size, agreement_report_for, campaign_ratings

# Bump when the stored content changes shape: older rows are then recomputed instead of misread.
CONTENT_VERSION = 2  # 2: with the experts' Dawid-Skene reliability


@dataclass
class VerdictConfusions:
    """Every confusion matrix the dashboard can show: counts[first, second, variable] is a 3 x 3 table of the
    first expert's verdict (rows, -1/0/+1) against the second's, over the pairs both judged."""

    rater_names: list[str]
    variables: list[str]
    groups: dict[str, list[int]]
    counts: np.ndarray

    @classmethod
    def from_block(cls, block: RatingBlock) -> VerdictConfusions:
        n_raters, n_variables, n_values = len(block.rater_ids), len(block.variables), block.n_values
        counts = np.zeros((n_raters, n_raters, n_variables, n_values, n_values), dtype=np.int64)
        variable_column = np.arange(n_variables)
        for first in range(n_raters):
            for second in range(n_raters):
                given_first, given_second = block.ratings[first], block.ratings[second]  # (items, variables)
                both = ~np.isnan(given_first) & ~np.isnan(given_second)
                cell = given_first[both].astype(int) * n_values + given_second[both].astype(int)
                column = np.broadcast_to(variable_column, both.shape)[both]
                counts[first, second] = np.bincount(
                    column * n_values * n_values + cell, minlength=n_variables * n_values * n_values
                ).reshape(n_variables, n_values, n_values)
        return cls(rater_names=block.rater_names, variables=block.variables, groups=block.groups, counts=counts)

    def table(self, *, first: int, second: int, variables: list[int]) -> np.ndarray:
        return self.counts[first, second, variables].sum(axis=0)

    def as_stored(self) -> dict:
        return {
            "rater_names": self.rater_names,
            "variables": self.variables,
            "groups": self.groups,
            "counts": self.counts.tolist(),
        }

    @classmethod
    def from_stored(cls, data: dict) -> VerdictConfusions:
        n_raters, n_variables, n_values = len(data["rater_names"]), len(data["variables"]), len(VERDICT_DOMAIN)
        counts = np.array(data["counts"], dtype=np.int64).reshape(n_raters, n_raters, n_variables, n_values, n_values)
        return cls(rater_names=data["rater_names"], variables=data["variables"], groups=data["groups"], counts=counts)


@dataclass
class DashboardContent:
    report: AgreementReport
    confusions: VerdictConfusions
    queue_size: int
    charts: dict[str, str | None]  # SVG text by name: alpha, heatmap, position
    # each expert's Dawid-Skene reliability over all codes: {username: {"accuracy": a, "weight": w}}
    reliability: dict[str, dict[str, float]]

    @property
    def levels(self) -> dict[str, str | None]:
        checklist = self.report.by_group("checklist")
        verdicts = self.report.by_group("criteria") + self.report.by_group("dimensions")
        return {
            "verdicts": verdicts[0].level if verdicts else None,
            "checklist": checklist[0].level if checklist else None,
        }

    def as_stored(self) -> dict:
        return {
            "version": CONTENT_VERSION,
            "report": self.report.as_stored(),
            "confusions": self.confusions.as_stored(),
            "queue_size": self.queue_size,
            "charts": self.charts,
            "reliability": self.reliability,
        }

    @classmethod
    def from_stored(cls, data: dict | None) -> DashboardContent | None:
        """None when nothing is stored yet, or it was stored in an older shape."""
        if not data or data.get("version") != CONTENT_VERSION:
            return None
        return cls(
            report=AgreementReport.from_stored(data["report"]),
            confusions=VerdictConfusions.from_stored(data["confusions"]),
            queue_size=data["queue_size"],
            charts=data["charts"],
            reliability=data["reliability"],
        )


def dashboard_content_build(*, campaign, levels: dict[str, str] | None = None) -> DashboardContent:
    """Read the campaign's ratings and compute everything the dashboard shows (the slow part: the bootstrap and
    the charts)."""
    ratings = campaign_ratings(campaign=campaign, levels=levels)
    report = agreement_report_for(campaign=campaign, ratings=ratings)
    verdict_variables = report.by_group("criteria") + report.by_group("dimensions")
    # the leaderboards app's Dawid-Skene model of all verdicts, fitted on the verdicts read above (imported here:
    # leaderboards reads agreement)
    from leaderboards.reliability import dawid_skene_of_ratings

    reliability = dawid_skene_of_ratings(
        ratings.verdicts.ratings, ratings.verdicts.rater_names, values=ratings.verdicts.value_domain
    )
    return DashboardContent(
        report=report,
        confusions=VerdictConfusions.from_block(ratings.verdicts),
        queue_size=adjudication_queue_size(campaign=campaign, verdicts=ratings.verdicts),
        charts={
            "alpha": plots.alpha_bar_chart(verdict_variables),
            "heatmap": plots.consensus_heatmap(report.experts, [variable.key for variable in verdict_variables]),
            "position": plots.position_bias_chart(report.experts),
        },
        reliability={
            name: {"accuracy": float(value.accuracy), "weight": float(value.weight)}
            for name, value in reliability.items()
        },
    )
