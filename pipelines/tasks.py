from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready

from pipelines import ingest


@shared_task(acks_late=True, reject_on_worker_lost=True)
def video_process_task(video_id: int) -> None:
    ingest.video_process(video_id=video_id)


@shared_task
def videos_pending_requeue_task(older_than_minutes: int = 15) -> int:
    ingest.work_folders_sweep()
    return ingest.videos_pending_requeue(older_than=timedelta(minutes=older_than_minutes))


@worker_ready.connect
def work_folders_sweep_on_start(**kwargs) -> None:
    """A worker that starts after one was killed on this machine removes the work folders it left."""
    ingest.work_folders_sweep()
