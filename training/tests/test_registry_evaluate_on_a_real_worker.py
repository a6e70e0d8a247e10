"""Evaluate all on snapshot X, end to end: a real checklist-linear run is registered, evaluated by a real Celery
worker on the gpu queue on another export's test split, and its result is kept under (model, snapshot X)."""

from __future__ import annotations

import pytest

from annotation.services import campaign_member_add
from training.models import ModelEvaluation, TrainingJob
from training.selectors import registry_rows
from training.services import registered_models_evaluate_on, training_job_create, training_job_run
from training.tests.conftest import judged_campaign_make, snapshot_make
from webapp.testing import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_evaluates_each_model_on_the_chosen_split_and_the_registry_shows_it_there(
    gpu_worker, pairwise_snapshot, ml_engineer, tmp_path
):
    trained = training_job_run(job_id=training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear").pk)
    assert trained.status == TrainingJob.Status.SUCCEEDED, trained.error
    model = trained.registered_model
    held_out = judged_campaign_make(name="held-out", pairs=8)
    campaign_member_add(campaign=held_out, user=ml_engineer, role="ml_engineer")
    other = snapshot_make(campaign=held_out, export_format="aesrm-pairwise", folder=tmp_path / "held-out")

    batch = registered_models_evaluate_on(models=[model], snapshot=other, created_by=ml_engineer)

    (job,) = batch.queued
    wait_until(lambda: job.refresh_from_db() or job.is_finished, timeout=120, message="the evaluation to finish")
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    on_other = ModelEvaluation.objects.get(model=model, snapshot=other)
    assert on_other.job == job and on_other.metrics == job.metrics
    own = ModelEvaluation.objects.get(model=model, snapshot=pairwise_snapshot)
    assert own.metrics["data_manifest_sha256"] != on_other.metrics["data_manifest_sha256"]
    (row,) = registry_rows(user=ml_engineer, evaluated_on=other)
    assert row.evaluation == on_other and not row.on_own_split
    assert row.figures["VA_with_ties"] == on_other.metrics["dimensions"]["VA"]["accuracy_with_ties"]
