"""The teacher never learns which models made the videos: what reaches the endpoint (the critique prompt and the
LLM-judge prompts) names a pair only by a neutral reference, never by its external id, sources or file names."""

import pytest

from annotation.models import Video, VideoPair
from distillation import services
from distillation.prompts import pair_reference
from distillation.tests.factories import clean_text_for, endpoint_create, uniform_labels

pytestmark = pytest.mark.django_db

PAIR_ID = "sora-v2-vs-veo-3-take-17"
SECRETS = (PAIR_ID, "sora-v2-internal", "veo-3-preview", "sora_take17.mp4", "veo3_take17.mp4")


def test_the_request_bodies_carry_no_pair_id_source_or_file_name(
    campaign, labelled_pairs, fake_llm, django_capture_on_commit_callbacks
):
    labels = uniform_labels(campaign.rubric, 1)
    (pair,) = labelled_pairs([labels])
    VideoPair.objects.filter(pk=pair.pk).update(external_id=PAIR_ID)
    Video.objects.filter(pk=pair.video_a_id).update(source_model="sora-v2-internal", original_name="sora_take17.mp4")
    Video.objects.filter(pk=pair.video_b_id).update(source_model="veo-3-preview", original_name="veo3_take17.mp4")
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    reference = pair_reference(pair.pk)
    fake_llm.answers[f"{reference}-judge-leakage"] = fake_llm.answers[f"{reference}-judge-factual"] = (
        '{"flag": false, "quote": ""}'
    )
    writer = endpoint_create(name="writer", base_url=fake_llm.url)
    judge = endpoint_create(name="judge", base_url=fake_llm.url, model="judge-model")

    with django_capture_on_commit_callbacks(execute=True):
        services.job_start(campaign=campaign, endpoint=writer, judge_endpoint=judge, frames_max=1, frames_short_side=48)

    assert fake_llm.counts() == {reference: 1, f"{reference}-judge-leakage": 1, f"{reference}-judge-factual": 1}
    for request in fake_llm.requests:
        assert f"Pair reference: {reference}" in request.body
        assert not [secret for secret in SECRETS if secret in request.body]
