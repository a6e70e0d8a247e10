"""Job page, live progress, cancel/resume, the REST API and the distill command, in-process (Celery eager)
against the scripted local server."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from distillation import services
from distillation.models import DistillationJob
from distillation.tests.factories import clean_text_for, endpoint_create, uniform_labels

pytestmark = pytest.mark.django_db

FRAMES = {"frames_fps": 1.0, "frames_max": 1, "frames_short_side": 48}


@pytest.fixture
def two_pairs(labelled_pairs, campaign, fake_llm):
    labels = uniform_labels(campaign.rubric, 1)
    pairs = labelled_pairs([labels, labels])
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    return pairs


def test_the_api_starts_a_job_and_reports_its_status_without_the_api_key(
    client, ml_engineer, campaign, fake_llm, two_pairs, django_capture_on_commit_callbacks
):
    endpoint_create(name="local", base_url=fake_llm.url, api_key="sk-never-shown")
    client.force_login(ml_engineer)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("api-distillation-jobs"),
            {"campaign": campaign.name, "endpoint": "local", "samples": 1, "frames_max": 1, "frames_short_side": 48},
            content_type="application/json",
        )

    assert response.status_code == 201, response.content
    assert "sk-never-shown" not in response.content.decode()
    status = client.get(reverse("api-distillation-job", args=[response.json()["id"]])).json()
    assert status["status"] == "done" and (status["done"], status["total"], status["passed"]) == (2, 2, 2)
    assert status["endpoint_api_key"] == "set"
    assert (status["prompt_tokens"], status["completion_tokens"]) == (2000, 400)
    assert fake_llm.count() == 2


def test_experts_can_neither_start_nor_read_jobs(client, expert, campaign):
    client.force_login(expert)
    assert client.post(reverse("api-distillation-jobs"), {}, content_type="application/json").status_code == 403
    assert client.get(reverse("distillation-index")).status_code == 403
    assert client.get(reverse("distillation-audit")).status_code == 403


def test_the_job_page_polls_while_running_and_offers_cancel_then_resume(
    client, ml_engineer, campaign, two_pairs, fake_llm
):
    endpoint = endpoint_create(name="local", base_url=fake_llm.url)
    job = services.job_create(campaign=campaign, endpoint=endpoint, **FRAMES)  # created, not yet enqueued
    client.force_login(ml_engineer)

    page = client.get(reverse("distillation-job", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page and "0 / 2" in page
    assert reverse("distillation-job-cancel", args=[job.pk]) in page

    client.post(reverse("distillation-job-cancel", args=[job.pk]))
    partial = client.get(reverse("distillation-job-progress", args=[job.pk])).content.decode()
    assert 'data-status="cancelled"' in partial and "hx-trigger" not in partial
    assert reverse("distillation-job-resume", args=[job.pk]) in partial


def test_resume_from_the_page_finishes_the_job_and_the_progress_shows_tokens_and_cost(
    client, ml_engineer, campaign, two_pairs, fake_llm, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(name="local", base_url=fake_llm.url)
    job = services.job_create(campaign=campaign, endpoint=endpoint, **FRAMES)
    services.job_cancel(job=job)
    client.force_login(ml_engineer)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("distillation-job-resume", args=[job.pk]))

    job.refresh_from_db()
    assert job.status == DistillationJob.Status.DONE
    partial = client.get(reverse("distillation-job-progress", args=[job.pk])).content.decode()
    assert "2 / 2" in partial and "2000 + 400" in partial and "$0.0320" in partial


def test_the_distill_command_runs_a_campaign_on_a_named_endpoint(
    campaign, two_pairs, fake_llm, capsys, django_capture_on_commit_callbacks
):
    endpoint_create(name="local", base_url=fake_llm.url)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("distill", campaign=campaign.name, endpoint="local", samples=2, max_frames=1, short_side=48)
    job = DistillationJob.objects.get()
    assert job.samples == 2 and job.total_items == 2
    assert fake_llm.count() == 4
    assert sorted(request.seed for request in fake_llm.requests) == [0, 0, 1, 1]


def test_the_distill_command_names_what_is_missing(campaign):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Endpoint 'nope' does not exist"):
        call_command("distill", campaign=campaign.name, endpoint="nope")


def test_only_curators_are_offered_the_audit_link(client, ml_engineer, curator, campaign, fake_llm):
    endpoint = endpoint_create(name="local", base_url=fake_llm.url)
    job = services.job_create(campaign=campaign, endpoint=endpoint)
    audit = reverse("distillation-audit")
    client.force_login(ml_engineer)
    assert audit not in client.get(reverse("distillation-job", args=[job.pk])).content.decode()
    client.force_login(curator)
    assert audit in client.get(reverse("distillation-job", args=[job.pk])).content.decode()
