"""The embedded default (no broker: Celery runs tasks eagerly in the calling process) retries as a worker does:
`manage.py distill` and the job form wait out a 429's Retry-After and finish, instead of ending on the first
rate limit. The scripted server records when each request arrived; the spacing is read from those times."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from distillation import services
from distillation.models import Critique, DistillationItem, DistillationJob, Generation
from distillation.tests import fake_llm as script
from distillation.tests.factories import clean_text_for, endpoint_create, uniform_labels
from webapp.celery import app

# Transactional: the items run on the command's (or the view's) own commit, as they do outside a test.
pytestmark = pytest.mark.django_db(transaction=True)

FRAMES = {"frames_fps": 1.0, "frames_max": 1, "frames_short_side": 48}


@pytest.fixture
def one_pair(labelled_pairs, campaign, fake_llm):
    assert app.conf.task_always_eager, "these tests are about the eager (no broker) mode"
    labels = uniform_labels(campaign.rubric, 1)
    (pair,) = labelled_pairs([labels])
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    return pair


def _reference(pair) -> str:
    """How the prompt names the pair, which is how the scripted server tells requests apart."""
    return services.item_reference(DistillationItem(pair=pair))


def _endpoint(fake_llm, **options):
    options = {"max_retries": 3, "backoff_base_seconds": 0.2, "requests_per_minute": 0} | options
    return endpoint_create(name="local", base_url=fake_llm.url, **options)


def test_the_distill_command_without_a_broker_waits_out_a_429_and_finishes(
    campaign, one_pair, fake_llm, capsys
):
    reference = _reference(one_pair)
    fake_llm.script(reference, script.status(429, Retry_After="1"))
    _endpoint(fake_llm)

    call_command("distill", campaign=campaign.name, endpoint="local", max_frames=1, short_side=48)

    job = DistillationJob.objects.get()
    item = DistillationItem.objects.get(job=job)
    assert (job.status, item.status) == (DistillationJob.Status.DONE, DistillationItem.Status.DONE)
    assert Critique.objects.get(item=item).passed
    first, second = fake_llm.times(reference)
    assert second - first >= 1.0, "the retry came before Retry-After"
    assert f"job {job.pk}: done, 1/1 items, 1 critiques passed" in capsys.readouterr().out


def test_without_a_broker_a_lasting_429_fails_the_item_after_the_endpoints_retries_and_the_command_finishes(
    campaign, one_pair, fake_llm
):
    reference = _reference(one_pair)
    fake_llm.script(reference, *[script.status(429, Retry_After="0.2")] * 10)
    _endpoint(fake_llm, max_retries=2)

    call_command("distill", campaign=campaign.name, endpoint="local", max_frames=1, short_side=48)

    assert fake_llm.count(reference) == 3  # the first call and the endpoint's two retries
    item = DistillationItem.objects.get()
    assert item.status == DistillationItem.Status.FAILED and "429" in item.error
    assert Generation.objects.get().status == Generation.Status.FAILED
    assert DistillationJob.objects.get().status == DistillationJob.Status.DONE
    times = fake_llm.times(reference)
    assert all(later - earlier >= 0.2 for earlier, later in zip(times, times[1:], strict=False))


def test_the_job_form_without_a_broker_waits_out_a_429_and_shows_the_finished_job(
    client, ml_engineer, campaign, one_pair, fake_llm
):
    reference = _reference(one_pair)
    fake_llm.script(reference, script.status(429, Retry_After="1"))
    endpoint = _endpoint(fake_llm)
    client.force_login(ml_engineer)

    response = client.post(
        reverse("distillation-index"),
        {"campaign": campaign.pk, "endpoint": endpoint.pk, "samples": 1, "alignment_mode": "dimensions",
         "min_criteria_share": 0.8, **FRAMES},
    )  # fmt: skip

    job = DistillationJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("distillation-job", args=[job.pk])
    assert job.status == DistillationJob.Status.DONE
    assert Critique.objects.get(item__job=job).passed
    first, second = fake_llm.times(reference)
    assert second - first >= 1.0, "the retry came before Retry-After"
