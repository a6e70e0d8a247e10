"""Hyper-parameter overrides name one field of rm_training's config classes, as rm_training reads the key; the
recipe and every folder a run reads or writes are the job's own and no override reaches them (API, form, service)."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from rm_training.config import SET_BY_LAUNCHER, check_hyperparameter_key, config_fields, parse_overrides
from training.models import TrainingJob
from training.services import TrainingError, training_job_create, training_job_request

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ml_engineer_of_the_campaign(pairwise_snapshot, ml_engineer):
    from annotation.services import campaign_member_add

    campaign_member_add(campaign=pairwise_snapshot.campaign, user=ml_engineer, role="ml_engineer")

REFUSED = [
    pytest.param(" out", "out is set by the job itself", id="leading-space-out"),
    pytest.param("out ", "out is set by the job itself", id="trailing-space-out"),
    pytest.param("\tdata", "data is set by the job itself", id="tab-data"),
    pytest.param(" model_path", "model_path is set by the job itself", id="leading-space-model-path"),
    pytest.param("OUT", "unknown key 'OUT'", id="upper-case-out"),
    pytest.param("optim. learning_rate", "unknown key 'optim. learning_rate'; did you mean optim.learning_rate?",
                 id="space-inside-a-dotted-key"),
    pytest.param("no_such_setting", "unknown key 'no_such_setting'", id="unknown-key"),
    pytest.param("grpo.data", "grpo.data is set by the job itself", id="nested-path-key"),
    pytest.param(" grpo.data ", "grpo.data is set by the job itself", id="nested-path-key-with-spaces"),
    pytest.param("grpo", "grpo is a section; set its fields one by one", id="whole-section"),
    pytest.param("out=/tmp/leaked seed", "unknown key 'out=/tmp/leaked seed'", id="key-smuggling-an-equals-sign"),
]


def test_launcher_fields_are_the_recipe_and_every_folder_a_run_reads_or_writes():
    launcher = {name for name, item in config_fields().items() if item.metadata.get(SET_BY_LAUNCHER)}
    assert launcher == {"recipe", "data", "out", "model_path", "grpo.data"}


def test_the_guard_normalises_keys_exactly_as_rm_training_parses_them():
    """Whatever the guard lets through sets the field it names, and nothing else."""
    assert check_hyperparameter_key("  optim.learning_rate ") == "optim.learning_rate"
    assert parse_overrides(["  optim.learning_rate =0.0003"]) == {"optim": {"learning_rate": 0.0003}}
    # the key the old guard let through is the run folder once rm_training strips it
    assert parse_overrides([" out=/tmp/leaked"]) == {"out": "/tmp/leaked"}


@pytest.mark.parametrize(("key", "message"), REFUSED)
def test_an_override_outside_the_hyperparameters_is_refused_by_the_service(pairwise_snapshot, key, message):
    with pytest.raises(TrainingError, match="^Invalid override: ") as refused:
        training_job_request(snapshot=pairwise_snapshot, recipe="checklist-linear", overrides={key: "/tmp/leaked"})
    assert message in str(refused.value)
    assert not TrainingJob.objects.exists()


@pytest.mark.parametrize(("key", "message"), REFUSED)
def test_an_override_outside_the_hyperparameters_is_a_400_from_the_api(
    client, ml_engineer, pairwise_snapshot, tmp_path, key, message
):
    client.force_login(ml_engineer)
    response = client.post(
        "/api/training/jobs/",
        {"snapshot": pairwise_snapshot.pk, "recipe": "checklist-linear", "overrides": {key: str(tmp_path / "leaked")}},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    (error,) = response.json()["overrides"]
    assert error.startswith("Invalid override: ") and message in error
    assert not TrainingJob.objects.exists()
    assert not (tmp_path / "leaked").exists()


def _train_form_data(client, snapshot, extra: str) -> dict:
    form = client.get(reverse("training-train", args=[snapshot.pk])).context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update(recipe="checklist-linear", model_path="", extra=extra)
    return data


@pytest.mark.parametrize(("key", "message"), [item for item in REFUSED if "=" not in item.values[0]])
def test_an_override_outside_the_hyperparameters_is_a_400_from_the_train_form(
    client, ml_engineer, pairwise_snapshot, key, message
):
    client.force_login(ml_engineer)
    url = reverse("training-train", args=[pairwise_snapshot.pk])
    response = client.post(url, _train_form_data(client, pairwise_snapshot, f"{key}=/tmp/leaked"))
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert not TrainingJob.objects.exists()


def test_the_same_override_given_twice_is_refused(client, ml_engineer, pairwise_snapshot):
    client.force_login(ml_engineer)
    response = client.post(
        "/api/training/jobs/",
        {"snapshot": pairwise_snapshot.pk, "recipe": "checklist-linear", "overrides": {"seed": "1", " seed": "2"}},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["overrides"] == ["Invalid override: seed is given twice."]
    assert not TrainingJob.objects.exists()


def test_a_valid_override_is_stored_under_the_key_rm_training_reads(pairwise_snapshot):
    job = training_job_create(
        snapshot=pairwise_snapshot, recipe="checklist-linear", overrides={" checklist.max_epochs ": "3", "seed": 7}
    )
    assert job.overrides == {"checklist.max_epochs": "3", "seed": "7"}
    assert job.total_steps == 3


def test_a_valid_override_from_the_api_and_the_form_queues_a_job(
    client, ml_engineer, pairwise_snapshot, django_capture_on_commit_callbacks
):
    client.force_login(ml_engineer)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/api/training/jobs/",
            {
                "snapshot": pairwise_snapshot.pk,
                "recipe": "checklist-linear",
                "overrides": {"optim.learning_rate": "3e-4"},
            },
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        assert response.json()["overrides"] == {"optim.learning_rate": "3e-4"}
        url = reverse("training-train", args=[pairwise_snapshot.pk])
        page = client.post(url, _train_form_data(client, pairwise_snapshot, " checklist.tolerance = 0.01"))
    assert page.status_code == 302
    job = TrainingJob.objects.get(pk=page.url.rstrip("/").rsplit("/", 1)[-1])
    assert job.overrides == {"checklist.tolerance": "0.01"}
