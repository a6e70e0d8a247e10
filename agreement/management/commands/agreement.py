import json

from django.core.management.base import BaseCommand, CommandError

from agreement import metrics
from agreement.report import AgreementReport, VariableAgreement
from agreement.selectors import agreement_report_for
from annotation.models import Campaign


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


class Command(BaseCommand):
    help = (
        "Agreement of a campaign: Krippendorff's alpha with a bootstrap 95% interval per criterion, dimension and "
        "checklist question, Fleiss' kappa and percent agreement, and per-expert numbers. --json prints an object "
        "keyed by criterion code, dimension code and checklist question id, each with alpha, ci_low, ci_high, "
        "n_items (items rated by two or more experts), n_raters, fleiss_kappa and percent_agreement (null where "
        "not defined)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, help="Campaign name.")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of tables.")
        parser.add_argument(
            "--resamples", type=int, default=metrics.DEFAULT_RESAMPLES, help="Bootstrap resamples (0: no intervals)."
        )
        parser.add_argument("--seed", type=int, default=metrics.DEFAULT_SEED, help="Bootstrap seed.")
        parser.add_argument("--verdict-level", default="ordinal", choices=metrics.LEVELS, help="Level for verdicts.")
        parser.add_argument(
            "--checklist-level", default="nominal", choices=metrics.LEVELS, help="Level for checklist answers."
        )

    def handle(self, *args, campaign: str, resamples: int, seed: int, verdict_level: str, checklist_level: str, **o):
        target = Campaign.objects.filter(name=campaign).first()
        if target is None:
            raise CommandError(f"Campaign '{campaign}' does not exist.")
        if resamples < 0:
            raise CommandError("--resamples must be 0 or more.")
        report = agreement_report_for(
            campaign=target,
            n_resamples=resamples,
            seed=seed,
            levels={"verdicts": verdict_level, "checklist": checklist_level},
        )
        if o["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
            return
        self._tables(target, report)

    def _tables(self, campaign: Campaign, report: AgreementReport) -> None:
        self.stdout.write(
            f"Campaign {campaign.name}: {report.n_pairs} pairs judged, {report.n_judgments} judgments, "
            f"{len(report.experts)} experts; {report.n_resamples} bootstrap resamples (seed {report.seed})."
        )
        for message in report.messages:
            self.stdout.write(message)
        sections = [
            ("Criteria", report.by_group("criteria")),
            ("Dimensions", report.by_group("dimensions")),
            ("Pooled", report.pooled),
            ("Checklist questions", report.by_group("checklist")),
        ]
        for title, rows in sections:
            if rows:
                self.stdout.write(f"\n{title}")
                self._variable_table(rows)
        if report.experts:
            self.stdout.write("\nExperts")
            header = f"{'expert':<20} {'pairs':>6} {'w/ cons.':>8} {'left':>6} {'comp.':>6} {'median s':>9} {'gold':>6}"
            self.stdout.write(header)
            for expert in report.experts:
                self.stdout.write(
                    f"{expert.username[:20]:<20} {expert.n_judged:>6} {_percent(expert.consensus_agreement):>8} "
                    f"{_percent(expert.left_rate):>6} {_percent(expert.comparable_rate):>6} "
                    f"{_number(expert.median_seconds, 1):>9} {_percent(expert.gold_accuracy):>6}"
                )
        if report.kappas:
            self.stdout.write("\nCohen's kappa between experts (all verdicts)")
            for pair in report.kappas:
                self.stdout.write(f"{pair.first} / {pair.second}: {_number(pair.kappa)} on {pair.n_items} pairs")

    def _variable_table(self, rows: list[VariableAgreement]) -> None:
        self.stdout.write(
            f"{'code':<10} {'name':<34} {'alpha':>7} {'95% CI':>17} {'items':>6} {'raters':>6} "
            f"{'fleiss':>7} {'agree':>6}"
        )
        for row in rows:
            interval = "-" if row.ci_low is None else f"[{row.ci_low:.3f}, {row.ci_high:.3f}]"
            alpha = _number(row.alpha) if row.alpha is not None else "n/a"
            self.stdout.write(
                f"{row.key:<10} {row.label[:34]:<34} {alpha:>7} {interval:>17} {row.n_items:>6} {row.n_raters:>6} "
                f"{_number(row.fleiss_kappa):>7} {_percent(row.percent_agreement):>6}"
                + (f"  ({row.note})" if row.note else "")
            )
