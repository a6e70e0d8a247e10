"""Train page, job page (no-worker warning), registry actions and compare view, and the REST API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from training.models import RegisteredModel, TrainingJob
from training.services import registered_model_create, training_job_create

pytestmark = pytest.mark.django_db


def test_train_page_shows_rm_training_defaults_with_their_help(client, ml_engineer, pairwise_snapshot, model_dir):
    client.force_login(ml_engineer)
    page = client.get(reverse("training-train", args=[pairwise_snapshot.pk]), {"recipe": "descore"}).content.decode()
    assert 'name="hp__optim__learning_rate"' in page and 'value="0.0001"' in page
    assert "AdamW peak learning rate" in page
    assert str(model_dir / "tiny") in page and "-Q gpu" in page


def test_the_train_form_shows_only_the_chosen_recipes_hyperparameters(client, ml_engineer, pairwise_snapshot):
    client.force_login(ml_engineer)
    url = reverse("training-train", args=[pairwise_snapshot.pk])

    first = client.get(url).context["form"]
    aesrm = client.get(url, {"recipe": "aesrm-base"}).context["form"]

    assert first.chosen_recipe == "checklist-linear"  # the first recipe that reads an aesrm-pairwise export
    assert [name for name in first.fields if name.startswith("hp__")] == [
        "hp__seed", "hp__checklist__solver", "hp__checklist__l2", "hp__checklist__max_epochs",
        "hp__checklist__tolerance"]
    assert "hp__stages__atomic_steps" in aesrm.fields and "hp__lora_rank" in aesrm.fields
    assert "hp__checklist__max_epochs" not in aesrm.fields
    assert first.fields["recipe"].widget.attrs["hx-get"] == url


def test_wrong_format_from_the_form_is_shown_and_nothing_is_queued(client, ml_engineer, pairwise_snapshot, model_dir):
    client.force_login(ml_engineer)
    form = client.get(reverse("training-train", args=[pairwise_snapshot.pk])).context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update(recipe="aesrm-base", model_path=str(model_dir / "tiny"), extra="")
    response = client.post(reverse("training-train", args=[pairwise_snapshot.pk]), data)
    assert response.status_code == 400
    assert "needs an export in format aesrm-base-sft" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_experts_cannot_open_the_train_page(client, expert, pairwise_snapshot):
    client.force_login(expert)
    assert client.get(reverse("training-train", args=[pairwise_snapshot.pk])).status_code == 403


def test_job_page_warns_when_no_worker_listens_on_the_gpu_queue(client, ml_engineer, pairwise_snapshot, settings):
    from webapp.celery import app

    settings.TRAINING_QUEUE = "gpu-nobody-listens-here"
    job = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    client.force_login(ml_engineer)
    app.conf.task_always_eager = False
    try:
        page = client.get(reverse("training-job", args=[job.pk])).content.decode()
    finally:
        app.conf.task_always_eager = True
    assert "data-no-worker" in page and "No worker listens on the <code>gpu-nobody-listens-here</code>" in page
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.QUEUED


def test_api_creates_a_job_and_reports_its_status(
    client, ml_engineer, pairwise_snapshot, django_capture_on_commit_callbacks
):
    client.force_login(ml_engineer)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/api/training/jobs/",
            {"snapshot": pairwise_snapshot.pk, "recipe": "checklist-linear", "overrides": {"seed": "3"}},
            content_type="application/json",
        )
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    status = client.get(f"/api/training/jobs/{job_id}/").json()
    assert status["status"] == "queued" and status["overrides"] == {"seed": "3"}
    refused = client.post(
        "/api/training/jobs/", {"snapshot": pairwise_snapshot.pk, "recipe": "rapo"}, content_type="application/json"
    )
    assert refused.status_code == 400 and "rl-prompts" in refused.json()["detail"]


def _finished_model(snapshot, tmp_path, name: str, losses: list[float]) -> RegisteredModel:
    job = training_job_create(snapshot=snapshot, recipe="checklist-linear")
    run = tmp_path / name
    run.mkdir()
    (run / "config.yaml").write_text("recipe: checklist-linear\n")
    (run / "metrics.jsonl").write_text(
        "".join(f'{{"step": {i + 1}, "loss": {loss}}}\n' for i, loss in enumerate(losses))
    )
    TrainingJob.objects.filter(pk=job.pk).update(
        status="succeeded", run_dir=str(run), metrics={"dimensions": {"VA": {"accuracy_with_ties": 0.75}}}
    )
    job.refresh_from_db()
    return registered_model_create(job=job)


def test_registry_compare_tag_and_delete(client, ml_engineer, pairwise_snapshot, tmp_path):
    first = _finished_model(pairwise_snapshot, tmp_path, "run-1", [0.9, 0.5])
    second = _finished_model(pairwise_snapshot, tmp_path, "run-2", [0.8, 0.7])
    client.force_login(ml_engineer)
    assert first.name in client.get(reverse("training-models")).content.decode()
    compare = client.get(reverse("training-compare"), {"ids": [first.pk, second.pk]}).content.decode()
    assert "<svg" in compare and compare.count("0.750") == 2

    client.post(reverse("training-model-tag", args=[first.pk]), {"tags": "baseline, v1", "promoted": "on"})
    first.refresh_from_db()
    assert first.tags == ["baseline", "v1"] and first.promoted

    client.post(reverse("training-model-delete", args=[first.pk]))
    first.refresh_from_db()
    assert first.files_deleted_at and not (tmp_path / "run-1").exists() and (tmp_path / "run-2").exists()
    response = client.post(reverse("training-model-evaluate", args=[first.pk]), {"snapshot": pairwise_snapshot.pk})
    assert response.status_code == 302 and not TrainingJob.objects.filter(kind="eval").exists()

    models = client.get("/api/training/models/").json()
    assert {entry["id"] for entry in models["results"]} == {first.pk, second.pk}
