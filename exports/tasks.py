from celery import shared_task

from exports.services import export_build, export_builds_check


@shared_task(acks_late=True)
def export_build_task(snapshot_id: int) -> str:
    """Build one snapshot. A second delivery finds it finished, or running elsewhere, and does nothing; a build
    whose worker died is found by export_builds_check_task, which enqueues it again."""
    return export_build(snapshot_id=snapshot_id).status


@shared_task
def export_builds_check_task() -> dict[str, int]:
    return export_builds_check()
