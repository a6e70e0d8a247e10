"""The test helper that points Celery at another broker leaves nothing behind that a later use could trip on."""

import pytest
from celery import signature

from webapp.queue import QUEUE_UNAVAILABLE, QueueUnavailable, enqueue
from webapp.testing import celery_publishing_to, dead_broker_url


def test_the_same_dead_broker_twice_is_refused_twice_as_unreachable_not_as_a_closed_pool():
    # A free port comes round again over a test session: the second block on it must meet the dead broker,
    # not the pool the first block closed.
    url = dead_broker_url()
    undone = []
    for _ in range(2):
        with celery_publishing_to(url), pytest.raises(QueueUnavailable):
            enqueue(signature("training.tasks.training_heartbeat_check_task"), undo=undone.append)
    assert undone == [QUEUE_UNAVAILABLE, QUEUE_UNAVAILABLE]


def test_after_the_block_celery_has_its_broker_and_eager_setting_back():
    from webapp.celery import app

    before = app.conf.broker_url, app.conf.task_always_eager
    with celery_publishing_to(dead_broker_url()):
        assert app.conf.task_always_eager is False
    assert (app.conf.broker_url, app.conf.task_always_eager) == before
