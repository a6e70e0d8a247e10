"""Distillation jobs end to end: the real openai client against a scripted local server, a real Celery worker on
Redis, the test PostgreSQL database. Request counts come from the server itself."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from annotation.models import ChecklistAnswer
from annotation.tests.factories import checklist_answers_overwrite
from distillation import services
from distillation.models import Critique, DistillationItem, DistillationJob, Generation
from distillation.prompts import pair_reference
from distillation.selectors import critiques_for_export, job_progress
from distillation.tests import fake_llm as script
from distillation.tests.factories import clean_text_for, endpoint_create, uniform_labels
from webapp.testing import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

FRAMES = {"frames_fps": 1.0, "frames_max": 2, "frames_short_side": 64}


def _endpoint(fake, **options):
    # Timeouts generous enough that a loaded machine never times out a normal answer (that would add a call).
    values = {"timeout_seconds": 5.0, "max_retries": 3, "backoff_base_seconds": 0.2, "max_concurrency": 4}
    values.update(options)
    return endpoint_create(base_url=fake.url, requests_per_minute=0, **values)


def _wait_for_job(job, status=DistillationJob.Status.DONE, timeout=90.0):
    def finished():
        job.refresh_from_db()
        return job.status == status

    wait_until(finished, timeout=timeout, message=f"job {job.pk} to be {status}")
    return job


def _references(pairs) -> list[str]:
    """How the prompts name the pairs (the scripted server routes by it): never their external ids."""
    return [pair_reference(pair.pk) for pair in pairs]


def _critique(pair) -> Critique:
    return Critique.objects.get(item__pair=pair)


def test_a_clean_critique_passes_and_each_filter_catches_its_planted_fault(
    start_worker, fake_llm, labelled_pairs, campaign, curator
):
    labels = uniform_labels(campaign.rubric, 1)
    labels["dimensions"]["VF"] = 0
    labels["criteria"] = {code: (0 if code.startswith("VF") else 1) for code in labels["criteria"]}
    clean, leaky, misaligned, invented, garbage = labelled_pairs([labels] * 5)
    p0, p1, p2, p3, p4 = _references([clean, leaky, misaligned, invented, garbage])
    text = clean_text_for(campaign.rubric, labels)
    # Video B of the "invented" pair is static according to both experts; its critique says A is.
    checklist_answers_overwrite(
        ChecklistAnswer.objects.filter(video=invented.video_b, question__sub_dimension="Camera motion dynamic"), "no"
    )
    fake_llm.answers = {
        p0: text,
        p1: text.replace("VA3 Lighting and light style: A: The frame", "VA3 Lighting and light style: A: "
                           "As the ground truth suggests, the frame"),
        p2: text.replace("<answer>VA: 1, VF: 0", "<answer>VA: 1, VF: 1"),
        p3: text.replace("VA4 Camera language: A: The frame", "VA4 Camera language: A: A static camera frames"),
        p4: "I would rather not compare these videos.",
    }  # fmt: skip
    endpoint = _endpoint(fake_llm)
    start_worker()

    job = services.job_start(campaign=campaign, endpoint=endpoint, created_by=curator, **FRAMES)
    _wait_for_job(job)

    assert fake_llm.counts() == {p0: 1, p1: 1, p2: 1, p3: 1, p4: 1}
    passed = _critique(clean)
    assert passed.passed and passed.rejections == [] and passed.chosen
    assert passed.parsed == {"criteria": labels["criteria"], "dimensions": labels["dimensions"]}

    leak = _critique(leaky)
    assert (leak.leakage_passed, leak.alignment_passed, leak.factual_passed) == (False, True, True)
    assert [(r["reason"], r["text"]) for r in leak.rejections] == [("label_reference", "ground truth")]
    assert leak.text[leak.rejections[0]["start"] : leak.rejections[0]["end"]] == "ground truth"

    mismatch = _critique(misaligned)
    assert (mismatch.leakage_passed, mismatch.alignment_passed, mismatch.factual_passed) == (True, False, True)
    assert [(r["reason"], r["text"]) for r in mismatch.rejections] == [("dimension_mismatch", "VF: 1")]

    fact = _critique(invented)
    assert (fact.leakage_passed, fact.alignment_passed, fact.factual_passed) == (True, True, False)
    assert [(r["reason"], r["text"]) for r in fact.rejections] == [("ab_swapped", "static camera")]

    unparseable = _critique(garbage)
    assert unparseable.raw_text == "I would rather not compare these videos." and not unparseable.passed
    assert "no <answer>" in unparseable.parse_error
    assert DistillationItem.objects.get(job=job, pair=garbage).status == DistillationItem.Status.DONE

    # Only the clean critique can be accepted, and it is what exports get.
    services.critique_accept(critique=passed, curator=curator)
    assert critiques_for_export(campaign=campaign) == {clean.id: text}

    # Cost accounting: 5 calls x (1000 prompt tokens at 0.01/1k + 200 completion tokens at 0.03/1k).
    progress = job_progress(job=job)
    assert (progress.done, progress.total, progress.calls) == (5, 5, 5)
    assert (progress.prompt_tokens, progress.completion_tokens) == (5000, 1000)
    assert progress.cost == Decimal("0.08")
    assert progress.passed == 1
    assert progress.rejected_by == {"leakage": 1, "alignment": 2, "factual": 1}
    assert progress.unparseable == 1


def test_429_500_timeouts_and_malformed_json_are_retried_and_a_lasting_failure_is_recorded(
    start_worker, fake_llm, labelled_pairs, campaign
):
    labels = uniform_labels(campaign.rubric, -1)
    pairs = labelled_pairs([labels] * 5)
    p0, p1, p2, p3, p4 = _references(pairs)
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    fake_llm.script(p0, script.status(429, Retry_After="1"))
    fake_llm.script(p1, script.status(500))
    fake_llm.script(p2, script.hang(4.5))  # past the client's 3 s timeout
    fake_llm.script(p3, script.malformed())
    fake_llm.script(p4, *[script.status(503)] * 10)
    endpoint = _endpoint(fake_llm, max_retries=2, timeout_seconds=3.0)
    start_worker()

    job = services.job_start(campaign=campaign, endpoint=endpoint, **FRAMES)
    _wait_for_job(job)

    assert fake_llm.counts() == {p0: 2, p1: 2, p2: 2, p3: 2, p4: 3}
    first, second = fake_llm.times(p0)
    assert second - first >= 1.0, "the retry came before Retry-After"
    statuses = dict(DistillationItem.objects.filter(job=job).values_list("pair__external_id", "status"))
    assert statuses == {"p0": "done", "p1": "done", "p2": "done", "p3": "done", "p4": "failed"}
    assert all(_critique(pair).passed for pair in pairs[:4])
    failed = Generation.objects.get(item_key=DistillationItem.objects.get(job=job, pair=pairs[4]).item_key)
    assert failed.status == Generation.Status.FAILED and failed.attempts == 3 and "503" in failed.error
    assert "503" in DistillationItem.objects.get(job=job, pair=pairs[4]).error
    progress = job_progress(job=job)
    assert (progress.done, progress.failed, progress.calls) == (4, 1, 4)


def test_a_worker_killed_mid_job_resumes_without_repeating_finished_calls(
    start_worker, fake_llm, labelled_pairs, campaign
):
    labels = uniform_labels(campaign.rubric, 1)
    p0, p1, p2, p3, p4 = _references(labelled_pairs([labels] * 5))
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    release = threading.Event()
    fake_llm.script(p2, script.hold(release))
    endpoint = _endpoint(fake_llm, timeout_seconds=3.0)  # the dead worker's claim lapses 3 + 5 s after its call
    worker = start_worker()

    job = services.job_start(campaign=campaign, endpoint=endpoint, samples=2, **FRAMES)
    fake_llm.wait_for(p2)
    worker.kill()
    release.set()
    job.refresh_from_db()
    assert job.status == DistillationJob.Status.RUNNING
    before = fake_llm.counts()
    assert before[p0] == before[p1] == 2 and before[p2] == 1 and p4 not in before

    start_worker()
    services.job_resume(job=job)
    _wait_for_job(job)

    # Every sample was asked for once, except the one in flight when the worker died.
    assert fake_llm.counts() == {p0: 2, p1: 2, p2: 3, p3: 2, p4: 2}
    assert sorted(request.seed for request in fake_llm.requests if request.reference == p2) == [0, 0, 1]
    assert Generation.objects.filter(status=Generation.Status.DONE).count() == 10
    assert Critique.objects.filter(item__job=job).count() == 10
    assert Critique.objects.filter(item__job=job, chosen=True).count() == 5

    # A second run of the same items reuses every cached result: no call at all.
    again = services.job_start(campaign=campaign, endpoint=endpoint, samples=2, **FRAMES)
    _wait_for_job(again)
    assert fake_llm.count() == 11
    assert job_progress(job=again).calls == 10


def test_cancel_stops_handing_out_items_and_resume_finishes_them(start_worker, fake_llm, labelled_pairs, campaign):
    labels = uniform_labels(campaign.rubric, 0)
    p0, p1, p2, p3, p4 = _references(labelled_pairs([labels] * 5))
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    release = threading.Event()
    fake_llm.script(p1, script.hold(release))
    endpoint = _endpoint(fake_llm)
    start_worker()

    job = services.job_start(campaign=campaign, endpoint=endpoint, **FRAMES)
    fake_llm.wait_for(p1)
    assert services.job_cancel(job=job)
    release.set()
    wait_until(
        lambda: not DistillationItem.objects.filter(job=job, status__in=["pending", "running"]).exists(),
        message="the running item to finish",
    )
    statuses = dict(DistillationItem.objects.filter(job=job).values_list("pair__external_id", "status"))
    assert statuses == {"p0": "done", "p1": "done", "p2": "cancelled", "p3": "cancelled", "p4": "cancelled"}
    assert fake_llm.counts() == {p0: 1, p1: 1}
    job.refresh_from_db()
    assert job.status == DistillationJob.Status.CANCELLED

    services.job_resume(job=job)
    _wait_for_job(job)
    assert fake_llm.counts() == {p0: 1, p1: 1, p2: 1, p3: 1, p4: 1}
    assert all(item.critiques.get().passed for item in job.items.all())


def test_an_endpoint_concurrency_of_one_holds_across_two_worker_processes(
    start_worker, fake_llm, labelled_pairs, campaign
):
    labels = uniform_labels(campaign.rubric, 1)
    labelled_pairs([labels] * 4)
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    fake_llm.latency = 0.4
    endpoint = _endpoint(fake_llm, max_concurrency=1)
    workers = [start_worker(), start_worker()]

    job = services.job_start(campaign=campaign, endpoint=endpoint, **FRAMES)
    _wait_for_job(job)

    assert fake_llm.count() == 4
    assert all("item_distill_task" in worker.log() and "succeeded" in worker.log() for worker in workers)
    assert fake_llm.peak_in_flight == 1
