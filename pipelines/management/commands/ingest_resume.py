from django.core.management.base import BaseCommand

from pipelines.ingest import videos_pending_requeue


class Command(BaseCommand):
    help = "Enqueue processing again for every video still pending (after a killed worker, say)."

    def handle(self, *args, **options):
        count = videos_pending_requeue()
        self.stdout.write(f"{count} pending videos enqueued.")
