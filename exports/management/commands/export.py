"""python manage.py export --campaign NAME --format FORMAT [--split 0.8/0.1/0.1] [--seed N] [--min-agreement X]
[--swap-augment] [--gold test|split|exclude] [--awaiting-adjudication exclude|include] [--media link|copy|none]
[--video-scores none|judgments|checklist-model [--video-score-model ID]] [--consensus majority|reliability-weighted]
--out DIR"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from exports.models import FORMATS, ExportSnapshot
from exports.selectors import CONSENSUS_METHODS
from exports.services import AWAITING_RULES, GOLD_RULES, MEDIA_MODES, ExportError, export_build, export_snapshot_create
from exports.video_scores import VIDEO_SCORE_SOURCES


class Command(BaseCommand):
    help = "Build an export snapshot of a campaign's labels into DIR (docs/export-formats.md), in this process."

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, help="Campaign name.")
        parser.add_argument("--format", required=True, dest="export_format", help=f"One of {', '.join(FORMATS)}.")
        parser.add_argument("--out", required=True, help="Folder to create (must not exist, or be empty).")
        parser.add_argument("--split", default="0.8/0.1/0.1", help="train/validation/test ratios.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--min-agreement", type=float, default=0.0)
        parser.add_argument("--swap-augment", action="store_true", help="Add A/B-swapped rows (labels flipped).")
        parser.add_argument("--gold", choices=GOLD_RULES, default="test", help="Where gold pairs go.")
        parser.add_argument("--awaiting-adjudication", choices=AWAITING_RULES, default="exclude")
        parser.add_argument("--media", choices=MEDIA_MODES, default="link")
        parser.add_argument(
            "--video-scores", choices=VIDEO_SCORE_SOURCES, default="none",
            help="rl-prompts: add one scored single-video row per video, scored from the pair judgments or by a "
                 "registered checklist-linear model.",
        )
        parser.add_argument("--video-score-model", type=int, help="Registered checklist-linear model id.")
        parser.add_argument(
            "--consensus",
            choices=CONSENSUS_METHODS,
            default="majority",
            help="Labels by the experts' majority, or by each expert's vote weighted by their Dawid-Skene "
            "reliability for the code (recorded in the manifest).",
        )
        parser.add_argument("--user", help="Username recorded as the snapshot's author.")

    def handle(self, *args, **options):
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"unknown user {options['user']!r}")
        try:
            snapshot = export_snapshot_create(
                campaign=options["campaign"],
                export_format=options["export_format"],
                path=options["out"],
                created_by=user,
                options={
                    "split": options["split"],
                    "seed": options["seed"],
                    "min_agreement": options["min_agreement"],
                    "swap_augment": options["swap_augment"],
                    "gold": options["gold"],
                    "awaiting_adjudication": options["awaiting_adjudication"],
                    "media": options["media"],
                    "video_scores": options["video_scores"],
                    "video_score_model": options["video_score_model"],
                    "consensus": options["consensus"],
                },
            )
        except ExportError as error:
            raise CommandError(str(error)) from error
        snapshot = export_build(snapshot_id=snapshot.pk)
        if snapshot.status != ExportSnapshot.Status.SUCCEEDED:
            raise CommandError(f"export #{snapshot.pk} failed: {snapshot.error}")
        counts = snapshot.manifest["splits"]  # jsonb keeps no key order
        splits = ", ".join(
            f"{name} {counts[name]}" for name in ("train", "validation", "test", "ties") if name in counts
        )
        self.stdout.write(f"export #{snapshot.pk}: {snapshot.format} of {snapshot.campaign.name} -> {snapshot.path}")
        self.stdout.write(f"rows: {splits}; files: {len(snapshot.manifest['files'])}")
