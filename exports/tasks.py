from celery import shared_task

from exports.models import ExportSnapshot
from exports.services import STALE_SECONDS, export_build


@shared_task(bind=True, acks_late=True, max_retries=2)
def export_build_task(self, snapshot_id: int) -> str:
    """Build one snapshot. A second delivery finds it finished and does nothing; one that finds it running
    elsewhere (say, redelivered after its worker was killed) comes back when a dead builder's claim expires."""
    snapshot = export_build(snapshot_id=snapshot_id)
    if snapshot.status == ExportSnapshot.Status.RUNNING:
        raise self.retry(countdown=STALE_SECONDS + 60)
    return snapshot.status
