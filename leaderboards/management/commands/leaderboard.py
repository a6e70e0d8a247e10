import json

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Campaign
from leaderboards import ranking
from leaderboards.selectors import SOURCES, leaderboard_for, targets_for
from leaderboards.tables import leaderboard_rows


class Command(BaseCommand):
    help = (
        "Generator leaderboard of a campaign (Davidson's Bradley-Terry with ties, bootstrap intervals): overall, "
        "per dimension and per criterion, or only --target. --json prints {target: leaderboard} with each "
        "leaderboard as the JSON download gives it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, help="Campaign name.")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of tables.")
        parser.add_argument("--target", help="Only this: overall, a dimension code or a criterion code.")
        parser.add_argument("--source", default="consensus", choices=SOURCES, help="Labels: consensus or weighted.")
        parser.add_argument("--resamples", type=int, default=ranking.DEFAULT_RESAMPLES, help="Bootstrap resamples.")
        parser.add_argument("--seed", type=int, default=ranking.DEFAULT_SEED, help="Bootstrap seed.")

    def handle(self, *args, campaign: str, target: str | None, source: str, resamples: int, seed: int, **options):
        found = Campaign.objects.select_related("rubric").filter(name=campaign).first()
        if found is None:
            raise CommandError(f"Campaign '{campaign}' does not exist.")
        if resamples < 0:
            raise CommandError("--resamples must be 0 or more.")
        codes = [code for code, _ in targets_for(campaign=found)]
        if target is not None and target not in codes:
            raise CommandError(f"--target must be one of: {', '.join(codes)}.")
        leaderboards = {
            code: leaderboard_for(campaigns=[found], target=code, source=source, n_resamples=resamples, seed=seed)
            for code in ([target] if target else codes)
        }
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
