import os
import time
from datetime import datetime

from celery import Celery
from celery import Task as CeleryTask
from celery.exceptions import Retry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")


def _seconds_until(when: float | datetime | None) -> float:
    if isinstance(when, datetime):
        return max((when - datetime.now(tz=when.tzinfo)).total_seconds(), 0.0)
    return max(float(when or 0.0), 0.0)


class Task(CeleryTask):
    """Every AesLab task: retries behave the same whether a worker runs the task or the caller does.

    On a worker, `raise self.retry(countdown=...)` sends the task again to run after the countdown. Run eagerly
    (no broker: the embedded default), Celery either lets the Retry escape to the caller (task_eager_propagates,
    our setting), which ends a `manage.py distill` on the first HTTP 429, or runs the task again at once, ignoring
    the countdown. Here an eager run waits out the countdown (or eta) in the calling process and runs the task
    again with retries + 1, so the delay a task asks for (Retry-After, backoff) and its max_retries hold in both
    modes. The task decides the delay; nothing here adds one.
    """

    def apply(self, args=None, kwargs=None, link=None, link_error=None, task_id=None, retries=None, throw=None,
              **options):  # fmt: skip
        retries = retries or 0
        # Celery's own eager retry (when the Retry does not propagate) comes back here with retries > 0 and the
        # retry's countdown or eta among the options.
        wait = (options.get("eta") or options.get("countdown")) if retries else None
        while True:
            time.sleep(_seconds_until(wait))
            try:
                return super().apply(
                    args, kwargs, link, link_error, task_id=task_id, retries=retries, throw=throw, **options
                )
            except Retry as retry:
                if retry.sig is None:
                    raise
                args, kwargs, retries, wait = retry.sig.args, retry.sig.kwargs, retries + 1, retry.when


app = Celery("aeslab", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
