from celery import shared_task
from django.conf import settings

from training.services import training_heartbeat_check, training_job_run


@shared_task(name="training.tasks.training_job_run_task")
def training_job_run_task(job_id: int) -> str:
    """Routed to the gpu queue (CELERY_TASK_ROUTES)."""
    return training_job_run(job_id=job_id).status


@shared_task(name="training.tasks.training_heartbeat_check_task")
def training_heartbeat_check_task() -> int:
    return training_heartbeat_check(timeout_seconds=settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS)
