"""One item in-process (Celery eager) against the scripted server: self-consistency over K samples, resume after
a permanent failure, a task delivered twice."""

import pytest

from distillation import services
from distillation.models import Critique, DistillationItem, Generation
from distillation.prompts import pair_reference
from distillation.tests import fake_llm as script
from distillation.tests.factories import clean_text_for, endpoint_create, uniform_labels

pytestmark = pytest.mark.django_db

FRAMES = {"frames_max": 1, "frames_short_side": 48}


def _chosen(pair) -> Critique:
    return Critique.objects.get(item__pair=pair, chosen=True)


def test_of_k_samples_the_one_agreeing_with_the_experts_is_chosen_and_all_are_recorded(
    campaign, labelled_pairs, fake_llm, django_capture_on_commit_callbacks
):
    labels = uniform_labels(campaign.rubric, 1)
    (pair,) = labelled_pairs([labels])
    reference = pair_reference(pair.pk)
    text = clean_text_for(campaign.rubric, labels)
    wrong = text.replace("<answer>VA: 1", "<answer>VA: -1")
    one_off = text.replace("Verdict: 1\nVA2", "Verdict: 0\nVA2", 1)  # VA1 disagrees with the experts
    fake_llm.script(reference, script.ok(wrong), script.ok(one_off), script.ok(text))
    endpoint = endpoint_create(base_url=fake_llm.url)

    with django_capture_on_commit_callbacks(execute=True):
        services.job_start(campaign=campaign, endpoint=endpoint, samples=3, alignment_mode="criteria_share",
                           min_criteria_share=0.9, **FRAMES)  # fmt: skip

    critiques = list(Critique.objects.filter(item__pair=pair).order_by("sample_index"))
    assert [(c.sample_index, c.passed) for c in critiques] == [(0, False), (1, True), (2, True)]
    assert critiques[1].consistency < critiques[2].consistency == 1.0
    assert _chosen(pair).sample_index == 2


def test_resume_retries_calls_that_failed_permanently(
    campaign, labelled_pairs, fake_llm, django_capture_on_commit_callbacks
):
    labels = uniform_labels(campaign.rubric, -1)
    (pair,) = labelled_pairs([labels])
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    fake_llm.script(pair_reference(pair.pk), script.status(401))
    endpoint = endpoint_create(base_url=fake_llm.url)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_start(campaign=campaign, endpoint=endpoint, **FRAMES)
    item = DistillationItem.objects.get(job=job)
    assert item.status == "failed" and "401" in item.error
    assert Generation.objects.get().status == Generation.Status.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        services.job_resume(job=job)

    item.refresh_from_db()
    assert item.status == "done" and fake_llm.count(pair_reference(pair.pk)) == 2
    job.refresh_from_db()
    assert job.status == "done"


def test_a_task_delivered_twice_calls_the_model_once(campaign, labelled_pairs, fake_llm):
    labels = uniform_labels(campaign.rubric, 0)
    labelled_pairs([labels])
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    job = services.job_create(campaign=campaign, endpoint=endpoint_create(base_url=fake_llm.url), **FRAMES)
    item = job.items.get()

    assert services.item_distill(item_id=item.pk) == "done"
    assert services.item_distill(item_id=item.pk) == "skipped"
    assert fake_llm.count() == 1 and Critique.objects.count() == 1
