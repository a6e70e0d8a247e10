from celery import shared_task

from exports.services import export_build


@shared_task(acks_late=True)
def export_build_task(snapshot_id: int) -> str:
    """Build one snapshot; a second delivery finds it claimed and does nothing."""
    return export_build(snapshot_id=snapshot_id).status
