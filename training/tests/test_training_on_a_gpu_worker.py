"""Jobs on a real Celery worker consuming the gpu queue (Redis, the test PostgreSQL database): cancel mid-run,
a training process killed as by the OOM killer, and a worker lost mid-run."""

from __future__ import annotations

import os
import signal

import pytest

from training.models import TrainingJob
from training.services import training_job_cancel, training_job_request
from training.tasks import training_heartbeat_check_task
from training.tests.conftest import LONG_RUN
from webapp.testing import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _process_group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _running_with_a_process(job: TrainingJob) -> TrainingJob:
    def started():
        job.refresh_from_db()
        return job.status == TrainingJob.Status.RUNNING and job.pid and job.heartbeat_at

    wait_until(started, timeout=60, message="the job to run")
    return job


def test_route_sends_the_run_task_to_the_gpu_queue(gpu_queue):
    from webapp.celery import app

    assert app.amqp.router.route({}, "training.tasks.training_job_run_task")["queue"].name == gpu_queue


def test_cancel_mid_run_stops_the_process_group_and_marks_the_job_cancelled(gpu_worker, pairwise_snapshot):
    job = _running_with_a_process(
        training_job_request(snapshot=pairwise_snapshot, recipe="checklist-linear", overrides=LONG_RUN)
    )
    pid = job.pid
    assert _process_group_alive(pid)
    training_job_cancel(job=job)
    wait_until(lambda: job.refresh_from_db() or job.is_finished, timeout=30, message="the job to finish")
    assert job.status == TrainingJob.Status.CANCELLED and job.finished_at
    assert not _process_group_alive(pid)


def test_training_process_killed_like_an_oom_fails_the_job_with_the_reason(gpu_worker, pairwise_snapshot):
    job = _running_with_a_process(
        training_job_request(snapshot=pairwise_snapshot, recipe="checklist-linear", overrides=LONG_RUN)
    )
    os.killpg(job.pid, signal.SIGKILL)
    wait_until(lambda: job.refresh_from_db() or job.is_finished, timeout=30, message="the job to finish")
    assert job.status == TrainingJob.Status.FAILED
    assert job.error.startswith("the training process was killed by SIGKILL (out of memory?)")
    assert "$ " in job.error  # the log tail, starting with the command that ran
    assert gpu_worker.process.poll() is None  # the worker survived


def test_lost_worker_is_caught_by_the_heartbeat_check_and_leaves_no_orphan_run(gpu_worker, pairwise_snapshot, settings):
    job = _running_with_a_process(
        training_job_request(snapshot=pairwise_snapshot, recipe="checklist-linear", overrides=LONG_RUN)
    )
    pid = job.pid
    gpu_worker.kill()
    wait_until(lambda: not _process_group_alive(pid), timeout=10, message="the orphaned run to die with its worker")
    settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS = 1
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.RUNNING  # nobody has noticed yet
    wait_until(lambda: training_heartbeat_check_task() == 1, timeout=10, message="the heartbeat check to fail it")
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.FAILED
    assert job.error.startswith("worker lost: no heartbeat for ")
