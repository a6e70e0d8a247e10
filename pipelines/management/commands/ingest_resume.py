from django.core.management.base import BaseCommand

from pipelines.ingest import videos_pending_requeue, work_folders_sweep


class Command(BaseCommand):
    help = (
        "Remove the work folders of stopped ingest processes and enqueue processing again for every video still "
        "pending (after a killed worker, say)."
    )

    def handle(self, *args, **options):
        removed = work_folders_sweep()
        count = videos_pending_requeue()
        self.stdout.write(f"{len(removed)} work folders of stopped processes removed; {count} pending videos enqueued.")
