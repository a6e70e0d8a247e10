import json

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Campaign
from leaderboards import ranking
from leaderboards.models import ModelJudgmentRun
from leaderboards.selectors import (
    SOURCES,
    Leaderboard,
    model_comparison_for,
    model_judgment_run_json,
    model_targets_for,
    targets_for,
)
from leaderboards.services import ScoringRefused, leaderboard_result_compute_now, model_judgment_run_start
from leaderboards.tables import leaderboard_rows
from training.models import RegisteredModel


class Command(BaseCommand):
    help = (
        "Generator leaderboard of a campaign (Davidson's Bradley-Terry with ties, bootstrap intervals): overall, "
        "per dimension and per criterion, or only --target. --json prints {target: leaderboard} with each "
        "leaderboard as the JSON download gives it. With --model (a registered model's id or name): that model's "
        "leaderboard beside the experts' and their agreement; the model scores the campaign first (in the "
        "background when a worker runs the gpu queue: run the command again to see the result)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, help="Campaign name.")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of tables.")
        parser.add_argument("--target", help="Only this: overall, a dimension code or a criterion code.")
        parser.add_argument("--source", default="consensus", choices=SOURCES, help="Labels: consensus or weighted.")
        parser.add_argument("--resamples", type=int, default=ranking.DEFAULT_RESAMPLES, help="Bootstrap resamples.")
        parser.add_argument("--seed", type=int, default=ranking.DEFAULT_SEED, help="Bootstrap seed.")
        parser.add_argument("--model", help="A registered reward model (id or name) to compare with the experts.")

    def handle(self, *args, campaign: str, target: str | None, source: str, resamples: int, seed: int, **options):
        found = Campaign.objects.select_related("rubric").filter(name=campaign).first()
        if found is None:
            raise CommandError(f"Campaign '{campaign}' does not exist.")
        if resamples < 0:
            raise CommandError("--resamples must be 0 or more.")
        if options.get("model"):
            self._reward_model(found, options["model"], target=target, resamples=resamples, seed=seed, **options)
            return
        codes = [code for code, _ in targets_for(campaign=found)]
        if target is not None and target not in codes:
            raise CommandError(f"--target must be one of: {', '.join(codes)}.")
        leaderboards = {}
        for code in [target] if target else codes:
            # Stored as the background job would: the page then shows this fit without waiting for a worker.
            result = leaderboard_result_compute_now(
                campaigns=[found], target=code, source=source, n_resamples=resamples, seed=seed
            )
            leaderboards[code] = Leaderboard.from_stored(result.content["leaderboard"], campaigns=[found])
        if options["json"]:
            self.stdout.write(json.dumps({code: board.as_json() for code, board in leaderboards.items()}, indent=2))
            return
        self.stdout.write(
            f"Campaign {found.name}: Davidson model (Bradley-Terry with ties), labels from {source}, "
            f"{resamples} bootstrap resamples (seed {seed})."
        )
        for code, board in leaderboards.items():
            self.stdout.write(f"\n{code}")
            if board.ranking is None:
                self.stdout.write("  not enough data: no judged pair compares two different generators")
                continue
            self.stdout.write(f"  {'rank':>4}  {'generator':<30} {'score':>8}  {'95% interval':<19} {'n':>7}")
            for rank, generator, score, low, high, n in leaderboard_rows(board):
                self.stdout.write(f"  {rank:>4}  {generator:<30} {score:>8.3f}  {low:>8.3f} to {high:<8.3f} {n:>7g}")

    def _reward_model(self, campaign, model_ref: str, *, target, resamples: int, seed: int, **options):
        models = RegisteredModel.objects.all()
        model = models.filter(pk=int(model_ref)).first() if model_ref.isdigit() else None
        model = model or models.filter(name=model_ref).order_by("-created_at").first()
        if model is None:
            raise CommandError(f"No registered model with id or name '{model_ref}'.")
        codes = [code for code, _ in model_targets_for(campaign=campaign)]
        if target is not None and target not in codes:
            raise CommandError(f"--target must be one of: {', '.join(codes)} (models give no per-criterion verdicts).")
        run = ModelJudgmentRun.objects.filter(model=model, campaign=campaign).first()
        if run is None or run.status != ModelJudgmentRun.Status.SUCCEEDED:
            try:
                run, _ = model_judgment_run_start(model=model, campaign=campaign)
            except ScoringRefused as error:
                raise CommandError(str(error)) from error
            run.refresh_from_db()
        comparisons = (
            {
                code: model_comparison_for(run=run, target=code, n_resamples=resamples, seed=seed)
                for code in ([target] if target else codes)
            }
            if run.pairs_judged
            else {}
        )
        if options["json"]:
            data = {
                "run": model_judgment_run_json(run),
                "targets": {c: board.as_json() for c, board in comparisons.items()},
            }
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(
            f"Campaign {campaign.name}, reward model {model.name} ({model.recipe}): {run.status}, "
            f"{run.pairs_judged} of {run.pairs_total} pairs judged, {run.pairs_unparsable} unparsable."
            + (f" Error: {run.error}" if run.error else "")
        )
        for code, comparison in comparisons.items():
            figures = comparison.concordance
            self.stdout.write(f"\n{code}: agreement with the experts (95% intervals, {figures.n_resamples} resamples)")
            for label, name in (
                ("Kendall tau", "kendall_tau"),
                ("Spearman", "spearman"),
                ("order agreement", "order_agreement"),
                ("verdict agreement", "verdict_agreement"),
            ):
                interval = getattr(figures, f"{name}_ci")
                shown = f"{interval[0]:.3f} to {interval[1]:.3f}" if interval else "-"
                self.stdout.write(f"  {label:<18} {getattr(figures.point, name):>7.3f}  {shown}")
            self.stdout.write(f"  ({figures.point.pairs_judged_by_both} pairs judged by both)")
            for title, board in (("experts", comparison.experts), ("reward model", comparison.model)):
                self.stdout.write(f"  {title}:")
                if board.ranking is None:
                    self.stdout.write("    not enough data")
                    continue
                for rank, generator, score, low, high, n in leaderboard_rows(board):
                    self.stdout.write(
                        f"    {rank:>4}  {generator:<30} {score:>8.3f}  {low:>8.3f} to {high:<8.3f} {n:>7g}"
                    )
