"""Every check made before a job reaches the gpu queue, and the command the worker runs."""

from __future__ import annotations

import sys

import pytest

from training.models import TrainingJob
from training.services import TrainingError, training_job_commands, training_job_create, training_job_request

pytestmark = pytest.mark.django_db


def test_checklist_linear_job_is_queued_with_only_changed_hyperparameters_as_overrides(pairwise_snapshot, ml_engineer):
    job = training_job_create(
        snapshot=pairwise_snapshot,
        recipe="checklist-linear",
        overrides={"checklist.max_epochs": 5},
        created_by=ml_engineer,
    )
    assert job.status == TrainingJob.Status.QUEUED
    assert job.overrides == {"checklist.max_epochs": "5"}
    assert job.run_dir.endswith(f"training-runs/runs/job-{job.pk}")
    assert job.total_steps == 5  # checklist-linear: one fit of at most max_epochs iterations


def test_export_of_the_wrong_format_for_the_recipe_is_refused_before_queueing(pairwise_snapshot, model_dir):
    with pytest.raises(TrainingError, match="needs an export in format aesrm-base-sft; export #.* is aesrm-pairwise"):
        training_job_create(snapshot=pairwise_snapshot, recipe="aesrm-base", model_path=str(model_dir / "tiny"))
    assert not TrainingJob.objects.exists()


def test_base_model_outside_the_declared_model_dirs_is_refused(pairwise_snapshot, model_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text("{}")
    with pytest.raises(TrainingError, match="not under the declared model directories"):
        training_job_create(snapshot=pairwise_snapshot, recipe="descore", model_path=str(elsewhere))
    # ../ does not escape the declared directory either
    with pytest.raises(TrainingError, match="not under the declared model directories"):
        training_job_create(
            snapshot=pairwise_snapshot, recipe="descore", model_path=str(model_dir / ".." / "elsewhere")
        )


def test_base_model_that_does_not_exist_is_refused(pairwise_snapshot, model_dir):
    with pytest.raises(TrainingError, match="does not exist"):
        training_job_create(snapshot=pairwise_snapshot, recipe="descore", model_path=str(model_dir / "missing"))


def test_invalid_hyperparameters_are_refused_with_rm_training_message(pairwise_snapshot):
    with pytest.raises(TrainingError, match="checklist.learning_rate must be > 0"):
        training_job_create(
            snapshot=pairwise_snapshot, recipe="checklist-linear", overrides={"checklist.learning_rate": "-1"}
        )


def test_train_job_runs_train_then_eval_on_the_test_split(pairwise_snapshot):
    job = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    train, evaluate = training_job_commands(job=job)
    assert train[:4] == [sys.executable, "-m", "rm_training", "train"]
    assert train[4:10] == ["--recipe", "checklist-linear", "--data", pairwise_snapshot.path, "--out", job.run_dir]
    assert evaluate[3:] == ["eval", "--run", job.run_dir, "--data", pairwise_snapshot.path, "--split", "test"]


def test_several_processes_launch_through_accelerate(pairwise_snapshot):
    job = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear", num_processes=4)
    train, evaluate = training_job_commands(job=job)
    assert train[0].endswith("accelerate")
    assert train[1:7] == ["launch", "--num_processes", "4", "-m", "rm_training", "train"]
    assert evaluate[0] == sys.executable  # evaluation runs in one process


def test_job_is_handed_to_the_gpu_queue_only_after_commit(
    pairwise_snapshot, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        "training.tasks.training_job_run_task.apply_async", lambda args=(), kwargs=None, **options: sent.append(args[0])
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = training_job_request(snapshot=pairwise_snapshot, recipe="checklist-linear")
    assert sent == [] and len(callbacks) == 1
    callbacks[0]()
    assert sent == [job.pk]


def test_run_task_is_routed_to_the_gpu_queue(settings):
    from webapp.celery import app

    route = app.amqp.router.route({}, "training.tasks.training_job_run_task")
    assert route["queue"].name == settings.TRAINING_QUEUE == "gpu"


def test_rapo_on_an_rl_prompts_export_without_scored_videos_is_refused(model_dir, tmp_path):
    from training.tests.conftest import judged_campaign_make, snapshot_make

    pairs_only = snapshot_make(campaign=judged_campaign_make(), export_format="rl-prompts", folder=tmp_path / "rl")
    with pytest.raises(TrainingError, match="holds pair rows only"):
        training_job_create(snapshot=pairs_only, recipe="rapo", model_path=str(model_dir / "tiny"),
                            overrides={"stages.grpo_steps": "1"})
    assert not TrainingJob.objects.exists()
