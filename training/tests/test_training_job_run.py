"""A job run in this process through the real rm_training subprocess: success registers a model, a crash fails
with its error tail, a lost worker is failed by the heartbeat check, a delivered-twice task does nothing."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pytest
from django.utils import timezone

from training.models import RegisteredModel, TrainingJob
from training.services import (
    registered_model_evaluate,
    training_heartbeat_check,
    training_job_cancel,
    training_job_create,
    training_job_run,
)
from training.tests.conftest import judged_campaign_make, snapshot_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_heartbeats(settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.2
    settings.TRAINING_CANCEL_GRACE_SECONDS = 2


def test_successful_run_is_registered_once_and_can_be_evaluated_on_another_snapshot(
    pairwise_snapshot, ml_engineer, tmp_path, settings
):
    job = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear", created_by=ml_engineer)
    job = training_job_run(job_id=job.pk)
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    assert set(job.metrics["dimensions"]) == {"VA", "VF", "VP"}
    # checklist-linear's progress: iterations of its one fit on the overall preference, 200 at most by default
    assert job.total_steps == 200 and job.step == job.total_steps and job.loss is not None
    # run folders (checkpoints, logs) live beside the media folder, which every signed-in user can read
    assert not Path(job.run_dir).is_relative_to(settings.MEDIA_ROOT)
    model = RegisteredModel.objects.get(job=job)
    assert model.recipe == "checklist-linear" and model.created_by == ml_engineer
    assert model.snapshot == pairwise_snapshot and model.rubric_version.endswith(
        f"v{pairwise_snapshot.manifest['rubric']['version']}"
    )
    assert model.metrics["test"] == job.metrics and "train_accuracy" in model.metrics["train"]
    assert model.config["recipe"] == "checklist-linear"
    assert Path(model.checkpoint_path, "checklist_weights.json").is_file()
    kept = Path(job.run_dir, "evaluations", f"snapshot-{pairwise_snapshot.pk}-job-{job.pk}", "metrics.json")
    assert json.loads(kept.read_text()) == job.metrics

    # the same task delivered again does nothing
    again = training_job_run(job_id=job.pk)
    assert again.finished_at == job.finished_at and RegisteredModel.objects.filter(job=job).count() == 1

    # evaluated from the registry on another snapshot's test split
    other = snapshot_make(
        campaign=judged_campaign_make(name="held-out", pairs=8),
        export_format="aesrm-pairwise",
        folder=tmp_path / "other",
    )
    evaluation = registered_model_evaluate(model=model, snapshot=other, created_by=ml_engineer)
    assert evaluation.kind == TrainingJob.Kind.EVAL and evaluation.run_dir == model.run_dir
    evaluation = training_job_run(job_id=evaluation.pk)
    assert evaluation.status == TrainingJob.Status.SUCCEEDED, evaluation.error
    assert evaluation.metrics["data_manifest_sha256"] != job.metrics["data_manifest_sha256"]
    assert Path(model.run_dir, "evaluations", f"snapshot-{other.pk}-job-{evaluation.pk}", "metrics.json").is_file()
    assert RegisteredModel.objects.count() == 1  # an evaluation registers nothing new


def test_crashing_run_is_failed_with_its_error_tail(pairwise_snapshot):
    job = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    shutil.rmtree(pairwise_snapshot.path)  # the export folder disappeared before the worker got to it
    job = training_job_run(job_id=job.pk)
    assert job.status == TrainingJob.Status.FAILED
    assert job.error.startswith("rm_training exited with status 2")
    assert "error:" in job.error and pairwise_snapshot.path in job.error
    assert not RegisteredModel.objects.exists()


def test_run_whose_command_cannot_start_is_failed_with_the_reason(pairwise_snapshot, monkeypatch):
    monkeypatch.setattr(
        "training.runner.rm_training_command", lambda arguments, num_processes=1: ["/nonexistent/accelerate", "launch"]
    )
    job = training_job_run(job_id=training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear").pk)
    assert job.status == TrainingJob.Status.FAILED
    assert job.error.startswith("the run could not start:") and "/nonexistent/accelerate" in job.error


def test_queued_job_cancelled_before_a_worker_takes_it_never_runs(pairwise_snapshot):
    job = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    assert training_job_cancel(job=job).status == TrainingJob.Status.CANCELLED
    job = training_job_run(job_id=job.pk)
    assert job.status == TrainingJob.Status.CANCELLED and not Path(job.run_dir).exists()


def test_running_job_without_heartbeat_for_longer_than_the_timeout_is_failed_with_the_reason(pairwise_snapshot):
    silent = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    alive = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    now = timezone.now()
    TrainingJob.objects.filter(pk=silent.pk).update(
        status="running", heartbeat_at=now - datetime.timedelta(seconds=400)
    )
    TrainingJob.objects.filter(pk=alive.pk).update(status="running", heartbeat_at=now - datetime.timedelta(seconds=5))
    assert training_heartbeat_check(timeout_seconds=300) == 1
    silent.refresh_from_db()
    alive.refresh_from_db()
    assert silent.status == TrainingJob.Status.FAILED and silent.finished_at
    assert silent.error.startswith("worker lost: no heartbeat for 40")
    assert alive.status == TrainingJob.Status.RUNNING
