from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Campaign
from annotation.services import campaign_create
from pipelines.ingest import manifest_import


class Command(BaseCommand):
    help = "Import video pairs from a JSONL manifest into a campaign (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("manifest", type=Path, help="JSONL file, one pair per line; video paths relative to it.")
        parser.add_argument("--campaign", required=True, help="Campaign name.")
        parser.add_argument("--create", action="store_true", help="Create the campaign if it does not exist.")
        parser.add_argument("--overlap", type=int, default=3, help="Experts per pair, for a campaign created here.")
        parser.add_argument(
            "--no-checklist",
            action="store_true",
            help="Create the campaign without a checklist: rubric verdicts only (AesRM-style judgments).",
        )

    def handle(self, *args, manifest: Path, campaign: str, create: bool, overlap: int, no_checklist: bool, **options):
        if not manifest.is_file():
            raise CommandError(f"Manifest not found: {manifest}")
        target = Campaign.objects.filter(name=campaign).first()
        if target is None:
            if not create:
                raise CommandError(f"Campaign '{campaign}' does not exist; pass --create to create it.")
            if no_checklist:
                target = campaign_create(name=campaign, overlap=overlap, checklist=None)
            else:
                target = campaign_create(name=campaign, overlap=overlap)
            self.stdout.write(f"Created campaign '{campaign}'{' without a checklist' if no_checklist else ''}.")
        report = manifest_import(manifest_path=manifest, campaign=target)
        for line_number, message in report.errors:
            self.stderr.write(f"{manifest}:{line_number}: {message}")
        self.stdout.write(
            f"{report.created} pairs created, {report.skipped} already present, {len(report.errors)} lines failed."
        )
        if report.errors:
            raise CommandError(f"{len(report.errors)} manifest lines failed; the other lines were imported.")
