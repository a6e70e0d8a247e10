"""Redis down: starting (or resuming) a distillation job answers 503 with a clear message, and the job is
cancelled, each item carrying the reason, instead of showing "running" for ever with no task behind it. Resume
sends it again once the queue is back. The endpoint is never called."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from distillation.models import DistillationItem, DistillationJob
from distillation.tests.factories import clean_text_for, endpoint_create, uniform_labels
from webapp.queue import QUEUE_UNAVAILABLE

FRAMES = {"frames_fps": 1.0, "frames_max": 1, "frames_short_side": 48}


@pytest.fixture
def two_pairs(labelled_pairs, campaign, fake_llm):
    labels = uniform_labels(campaign.rubric, 1)
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    return labelled_pairs([labels, labels])


def _assert_cancelled_with_the_reason(fake_llm) -> DistillationJob:
    job = DistillationJob.objects.get()
    assert job.status == DistillationJob.Status.CANCELLED
    items = list(job.items.values_list("status", "error"))
    assert items == [(DistillationItem.Status.CANCELLED, QUEUE_UNAVAILABLE)] * 2
    assert fake_llm.count() == 0
    return job


def test_the_api_answers_503_and_the_job_is_cancelled_with_the_reason(
    client, ml_engineer, campaign, two_pairs, fake_llm, broker_unreachable
):
    endpoint_create(name="local", base_url=fake_llm.url)
    client.force_login(ml_engineer)

    response = broker_unreachable.answer(
        lambda: client.post(
            reverse("api-distillation-jobs"),
            {"campaign": campaign.name, "endpoint": "local", **FRAMES},
            content_type="application/json",
        )
    )

    assert response.status_code == 503
    assert response.json() == {"detail": QUEUE_UNAVAILABLE}
    _assert_cancelled_with_the_reason(fake_llm)


def test_the_form_answers_a_503_page_and_resume_answers_the_same_while_the_queue_is_down(
    client, ml_engineer, campaign, two_pairs, fake_llm, broker_unreachable
):
    endpoint = endpoint_create(name="local", base_url=fake_llm.url)
    client.force_login(ml_engineer)
    form = {"campaign": campaign.pk, "endpoint": endpoint.pk, "samples": 1, "alignment_mode": "dimensions",
            "min_criteria_share": 0.8, **FRAMES}  # fmt: skip

    response = broker_unreachable.answer(lambda: client.post(reverse("distillation-index"), form))

    assert response.status_code == 503
    assert "The job queue is unreachable; nothing was started." in response.content.decode()
    job = _assert_cancelled_with_the_reason(fake_llm)

    resumed = broker_unreachable.answer(lambda: client.post(reverse("distillation-job-resume", args=[job.pk])))

    assert resumed.status_code == 503
    _assert_cancelled_with_the_reason(fake_llm)


def test_the_distill_command_says_the_queue_is_unreachable(campaign, two_pairs, fake_llm, broker_unreachable):
    endpoint_create(name="local", base_url=fake_llm.url)

    with pytest.raises(CommandError, match="the job queue is unreachable; nothing was started"):
        broker_unreachable.answer(
            lambda: call_command("distill", campaign=campaign.name, endpoint="local", max_frames=1, short_side=48)
        )

    _assert_cancelled_with_the_reason(fake_llm)

