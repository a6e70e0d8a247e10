"""Celery tasks: fetch by id, call a service. Retrying is decided by the service (RetryLater carries the delay)."""

from celery import shared_task

from distillation import services


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def item_distill_task(self, item_id: int) -> str:
    try:
        return services.item_distill(item_id=item_id)
    except services.RetryLater as later:
        raise self.retry(countdown=later.delay, exc=later) from later
