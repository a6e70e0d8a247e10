"""Sending work to the Celery queue from the code that creates it: enqueue, or undo and raise QueueUnavailable.

Every creation path that hands work to a worker (an export, a training or evaluation job, a distillation job or
its resume, the videos of an uploaded pair) goes through `enqueue_on_commit`: once the rows are committed the
tasks are published; if the broker cannot be reached, the caller's `undo` runs (each kind says what it does:
mark the row failed with the reason, cancel it, or delete what was stored) and QueueUnavailable is raised out of
the commit, within a few seconds (settings: CELERY_BROKER_CONNECTION_TIMEOUT and the socket timeouts, and no
publish retries here). `webapp.middleware.QueueUnavailableMiddleware` answers it with a 503: a page for the
forms, `{"detail": ...}` for the API. Nothing is left queued or running with no task behind it.

With no broker (tasks run eagerly, the embedded default) the tasks run in the calling process and their own
errors are theirs: nothing here catches them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery.canvas import Signature
from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

QUEUE_UNAVAILABLE = "the job queue is unreachable; nothing was started"

# What publishing raises when the broker is down, refuses, or stops answering: kombu turns the transport's
# connection errors into OperationalError; a socket error can still escape it as an OSError.
BROKER_ERRORS = (OperationalError, OSError)


class QueueUnavailable(Exception):
    """The broker could not be reached, so the work was not sent; `undo` has already run."""

    def __init__(self, cause: str = ""):
        super().__init__(QUEUE_UNAVAILABLE)
        self.cause = cause


def enqueue(signature: Signature, *, undo: Callable[[str], None]) -> None:
    """Publish `signature` (one task's, or a group) now, without publish retries. When the broker is unreachable,
    call `undo(reason)` and raise QueueUnavailable."""
    from webapp.celery import app

    if app.conf.task_always_eager:
        signature.apply_async()
        return
    try:
        signature.apply_async(retry=False)
    except BROKER_ERRORS as error:
        logger.warning("job queue unreachable (%s); undoing %s", error, signature)
        undo(QUEUE_UNAVAILABLE)
        raise QueueUnavailable(str(error)) from error


def enqueue_on_commit(signature: Signature, *, undo: Callable[[str], None]) -> None:
    """`enqueue` once the current transaction commits (at once outside one), so a worker always finds the rows.
    QueueUnavailable then comes out of the block that commits."""
    transaction.on_commit(lambda: enqueue(signature, undo=undo))
