"""Evaluating a registered model needs a snapshot it can be evaluated on: without one the model page comes back
with a 400 saying so, and no evaluation job is queued (a missing or non-numeric snapshot answered 500)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.services import campaign_member_add
from exports.services import export_snapshot_create
from training.models import TrainingJob
from training.services import registered_model_create, training_job_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(pairwise_snapshot, ml_engineer, tmp_path):
    """A registered checklist-linear model, and the ML engineer a member of its campaign."""
    campaign_member_add(campaign=pairwise_snapshot.campaign, user=ml_engineer, role="ml_engineer")
    job = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("recipe: checklist-linear\n")
    TrainingJob.objects.filter(pk=job.pk).update(status="succeeded", run_dir=str(run))
    job.refresh_from_db()
    return registered_model_create(job=job)


def evaluate(client, model, data):
    return client.post(reverse("training-model-evaluate", args=[model.pk]), data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose the export snapshot to evaluate on."),
        ({"snapshot": ""}, "Choose the export snapshot to evaluate on."),
        ({"snapshot": "abc"}, "Choose a finished export snapshot, of a format this model&#x27;s recipe reads."),
        ({"snapshot": "999999"}, "Choose a finished export snapshot, of a format this model&#x27;s recipe reads."),
    ],
    ids=["missing", "blank", "not-a-number", "unknown"],
)
def test_evaluating_without_a_valid_snapshot_is_a_400_with_the_form_error(client, ml_engineer, model, data, message):
    client.force_login(ml_engineer)

    response = evaluate(client, model, data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not TrainingJob.objects.filter(kind=TrainingJob.Kind.EVAL).exists()


def test_a_snapshot_that_has_not_finished_cannot_evaluate_a_model(client, ml_engineer, model, tmp_path):
    queued = export_snapshot_create(
        campaign=model.snapshot.campaign, export_format=model.snapshot.format, path=tmp_path / "queued"
    )
    client.force_login(ml_engineer)

    response = evaluate(client, model, {"snapshot": queued.pk})

    assert response.status_code == 400
    assert not TrainingJob.objects.filter(kind=TrainingJob.Kind.EVAL).exists()


def test_a_finished_snapshot_of_the_models_format_queues_an_evaluation(client, ml_engineer, model):
    client.force_login(ml_engineer)

    response = evaluate(client, model, {"snapshot": model.snapshot_id})

    job = TrainingJob.objects.get(kind=TrainingJob.Kind.EVAL)
    assert response.status_code == 302 and response["Location"] == reverse("training-job", args=[job.pk])
