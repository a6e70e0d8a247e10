"""Redis down: asking for a training or evaluation job answers 503 with a clear message, and the job is marked
failed with the reason instead of waiting "queued" for a run that was never sent. No run folder is made."""

from __future__ import annotations

from pathlib import Path

from django.urls import reverse

from training.models import TrainingJob
from training.services import registered_model_create, training_job_create
from webapp.queue import QUEUE_UNAVAILABLE

PAGE_MESSAGE = "The job queue is unreachable; nothing was started."


def _assert_failed_with_the_reason(kind: str) -> TrainingJob:
    job = TrainingJob.objects.get(kind=kind)
    assert (job.status, job.error) == (TrainingJob.Status.FAILED, QUEUE_UNAVAILABLE)
    assert job.finished_at is not None
    return job


def test_the_api_answers_503_and_the_job_is_failed_with_the_reason(
    client, ml_engineer, pairwise_snapshot, broker_unreachable
):
    client.force_login(ml_engineer)

    response = broker_unreachable.answer(
        lambda: client.post(
            reverse("api-training-jobs"),
            {"snapshot": pairwise_snapshot.pk, "recipe": "checklist-linear"},
            content_type="application/json",
        )
    )

    assert response.status_code == 503
    assert response.json() == {"detail": QUEUE_UNAVAILABLE}
    job = _assert_failed_with_the_reason(TrainingJob.Kind.TRAIN)
    assert not Path(job.run_dir).exists()


def test_the_train_form_answers_a_503_page_with_the_message(
    client, ml_engineer, pairwise_snapshot, broker_unreachable
):
    client.force_login(ml_engineer)
    form = client.get(reverse("training-train", args=[pairwise_snapshot.pk])).context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update(recipe="checklist-linear", model_path="", extra="")

    response = broker_unreachable.answer(
        lambda: client.post(reverse("training-train", args=[pairwise_snapshot.pk]), data)
    )

    assert response.status_code == 503
    assert PAGE_MESSAGE in response.content.decode()
    job = _assert_failed_with_the_reason(TrainingJob.Kind.TRAIN)
    assert not Path(job.run_dir).exists()


def test_evaluating_a_model_answers_a_503_page_and_the_eval_job_is_failed_with_the_reason(
    client, ml_engineer, pairwise_snapshot, tmp_path, broker_unreachable
):
    trained = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("recipe: checklist-linear\n")
    TrainingJob.objects.filter(pk=trained.pk).update(status=TrainingJob.Status.SUCCEEDED, run_dir=str(run))
    trained.refresh_from_db()
    model = registered_model_create(job=trained)
    client.force_login(ml_engineer)

    response = broker_unreachable.answer(
        lambda: client.post(reverse("training-model-evaluate", args=[model.pk]), {"snapshot": pairwise_snapshot.pk})
    )

    assert response.status_code == 503
    assert PAGE_MESSAGE in response.content.decode()
    _assert_failed_with_the_reason(TrainingJob.Kind.EVAL)
