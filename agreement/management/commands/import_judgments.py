from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agreement.services import judgments_import
from annotation.models import Campaign


class Command(BaseCommand):
    help = (
        "Import judgments made elsewhere from JSONL, one line per expert per pair: "
        '{"pair_id", "annotator", "criteria": {"VA1": 1, ...}, "dimensions": {"VA": -1, ...}, '
        '"checklist": {"A": {question id or text: "yes"|"no"|"na"}, "B": {...}}}. Verdicts are canonical (+1 = video A '
        'better). A campaign without a checklist takes lines without "checklist" (rubric verdicts only, e.g. AesRM '
        "judgments). Expert accounts are created as needed. Idempotent; each line is imported whole or not at all."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="JSONL file of judgments.")
        parser.add_argument("--campaign", required=True, help="Campaign name; its pairs are matched by pair_id.")

    def handle(self, *args, file: Path, campaign: str, **options):
        if not file.is_file():
            raise CommandError(f"File not found: {file}")
        target = Campaign.objects.filter(name=campaign).first()
        if target is None:
            raise CommandError(f"Campaign '{campaign}' does not exist.")
        with file.open(encoding="utf-8") as lines:
            report = judgments_import(campaign=target, lines=lines)
        for line_number, message in report.errors:
            self.stderr.write(f"{file}:{line_number}: {message}")
        self.stdout.write(
            f"{report.created} judgments created, {report.revised} revised, {report.unchanged} unchanged, "
            f"{len(report.errors)} lines failed."
        )
        if report.errors:
            raise CommandError(f"{len(report.errors)} lines failed and were not imported; the other lines were.")
