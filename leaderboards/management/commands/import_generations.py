from django.core.management.base import BaseCommand, CommandError

from annotation.models import Campaign
from leaderboards.generations import generations_manifest_import


class Command(BaseCommand):
    help = (
        "Import a JSONL manifest of generations into a campaign: one line per video, with video (path relative to "
        "the manifest), prompt, generator, and optionally seed and metadata. Bad lines are listed; the rest import."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, help="Campaign name.")
        parser.add_argument("manifest", help="Path of the JSONL manifest.")

    def handle(self, *args, campaign: str, manifest: str, **options):
        found = Campaign.objects.filter(name=campaign).first()
        if found is None:
            raise CommandError(f"Campaign '{campaign}' does not exist.")
        try:
            report = generations_manifest_import(manifest_path=manifest, campaign=found)
        except OSError as error:
            raise CommandError(f"Cannot read the manifest: {error}") from error
        for line_number, message in report.errors:
            self.stderr.write(f"line {line_number}: {message}")
        self.stdout.write(f"{report.created} generations imported, {report.skipped} already there.")
        if not report.ok:
            raise CommandError(f"{len(report.errors)} lines were not imported.")
