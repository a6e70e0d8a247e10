"""Scored data (Aes-R1): one video, its score private, tone by bin, a rated critique filtered for leakage,
bin alignment and facts."""

import json

import pytest
from django.core.management import call_command

from distillation.filters import FilterContext, VideoFacts, critique_filter
from distillation.models import Critique, DistillationJob
from distillation.selectors import scored_critiques_for_export
from distillation.tests.factories import endpoint_create

FACTS = {"V": VideoFacts(duration_seconds=1.0, width=160, height=96, fps=24.0, checklist={"camera_moves": True})}
GOOD = (
    "<think>Warm side light shapes the subject and the palette stays coherent. The framing leaves generous lead "
    "room. Overall a polished, cinematic shot with only minor softness.</think><answer>0.81</answer>"
)


def _filter(text: str, score: float = 0.82):
    return critique_filter(text=text, context=FilterContext(labels={"score": score}, score=score, facts=FACTS))


def test_a_rated_critique_in_the_right_bin_passes():
    result = _filter(GOOD)
    assert result.passed and result.score == 0.81 and result.parsed_verdicts() == {"score": 0.81}
    assert result.consistency == pytest.approx(0.99)


def test_the_hidden_score_in_the_prose_is_leakage_but_not_in_the_answer():
    leaky = GOOD.replace("Overall a polished", "At 0.82 overall, a polished")
    (rejection,) = _filter(leaky).all_rejections()
    assert (rejection.filter, rejection.reason, rejection.text) == ("leakage", "label_number", "0.82")


def test_a_rating_in_another_bin_or_a_closing_sentence_of_another_tone_is_misaligned():
    (bin_mismatch,) = _filter(GOOD.replace("0.81", "0.55")).all_rejections()
    assert (bin_mismatch.reason, bin_mismatch.text) == ("score_bin_mismatch", "<answer>0.55</answer>")
    (tone,) = _filter(GOOD.replace("a polished, cinematic shot", "a mediocre shot")).all_rejections()
    assert (tone.reason, tone.text) == ("closing_tone_mismatch", "mediocre")


def test_a_critique_without_a_rating_is_recorded_as_unparseable():
    result = _filter("A lovely clip.")
    assert not result.passed and [r.reason for r in result.all_rejections()] == ["unparseable"]


def test_metadata_claims_are_checked_for_a_single_video():
    (claim,) = _filter(GOOD.replace("Warm side light", "In this 8-second clip warm side light")).all_rejections()
    assert (claim.reason, claim.text) == ("metadata_contradiction", "8-second clip")


@pytest.mark.django_db
def test_the_distill_command_runs_scored_videos_from_a_file(
    campaign, labelled_pairs, fake_llm, tmp_path, curator, django_capture_on_commit_callbacks
):
    from distillation import services
    from distillation.tests.factories import uniform_labels

    (pair,) = labelled_pairs([uniform_labels(campaign.rubric, 1)])
    scores = tmp_path / "scores.jsonl"
    scores.write_text(
        json.dumps({"video_id": pair.video_a_id, "score": 0.82}) + "\n"
        + json.dumps({"video_id": pair.video_b_id, "score": 0.2}) + "\n"
    )  # fmt: skip
    fake_llm.answers[f"v{pair.video_a_id}"] = GOOD
    fake_llm.answers[f"v{pair.video_b_id}"] = GOOD  # rated 0.81 for a video scored 0.2
    endpoint_create(name="local", base_url=fake_llm.url)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("distill", campaign=campaign.name, endpoint="local", scores=str(scores), max_frames=1)

    job = DistillationJob.objects.get()
    assert job.kind == "scores" and job.total_items == 2 and job.status == "done"
    assert sorted(job.items.values_list("tone", flat=True)) == ["bad", "good"]
    good, bad = (Critique.objects.get(item__video_id=v) for v in (pair.video_a_id, pair.video_b_id))
    assert good.passed and not bad.passed and bad.alignment_passed is False
    request_text = json.dumps([r.reference for r in fake_llm.requests])
    assert f"v{pair.video_a_id}" in request_text
    services.critique_accept(critique=good, curator=curator)
    assert scored_critiques_for_export(campaign=campaign) == {pair.video_a_id: GOOD}


@pytest.mark.django_db
def test_the_audit_page_of_a_scored_video_shows_the_video_and_its_hidden_score(client, curator, campaign, clip_paths):
    from django.urls import reverse

    from annotation.tests.factories import VideoFactory, VideoPairFactory
    from distillation import services
    from distillation.tests.factories import endpoint_create as make_endpoint

    video = VideoPairFactory(campaign=campaign, video_a=VideoFactory(prompt="a fox at dawn")).video_a
    job = services.job_create(campaign=campaign, endpoint=make_endpoint(), scores={video.pk: 0.3})
    critique = services.critique_record(item=job.items.get(), sample_index=0, text=GOOD)
    client.force_login(curator)

    page = client.get(reverse("distillation-critique", args=[critique.pk])).content.decode()

    assert f'src="{video.proxy.url}"' in page and "hidden score 0.3 (bad)" in page
    assert "score_bin_mismatch" in page


@pytest.mark.django_db
def test_an_ml_engineer_starts_a_scored_video_job_from_the_web_form(
    client, campaign, labelled_pairs, fake_llm, ml_engineer, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from distillation.tests.factories import uniform_labels

    (pair,) = labelled_pairs([uniform_labels(campaign.rubric, 1)])
    fake_llm.answers[f"v{pair.video_a_id}"] = GOOD
    endpoint = endpoint_create(name="local", base_url=fake_llm.url)
    client.force_login(ml_engineer)
    form = {
        "campaign": campaign.pk, "endpoint": endpoint.pk, "samples": 1, "frames_fps": 1.0, "frames_max": 1,
        "frames_short_side": 48, "alignment_mode": DistillationJob.AlignmentMode.choices[0][0],
        "min_criteria_share": 0.8,
    }  # fmt: skip

    bad = client.post(
        reverse("distillation-index"),
        {**form, "scores_file": SimpleUploadedFile("scores.jsonl", b'{"video_id": 1}\n')},
    )
    assert bad.status_code == 200 and "scores.jsonl:1: expected" in bad.content.decode()
    unknown = client.post(
        reverse("distillation-index"),
        {**form, "scores_file": SimpleUploadedFile("scores.jsonl", b'{"video_id": 999999, "score": 0.5}\n')},
    )
    assert "video 999999 does not exist" in unknown.content.decode()
    assert not DistillationJob.objects.exists()

    line = json.dumps({"video_id": pair.video_a_id, "score": 0.82}).encode()
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            reverse("distillation-index"), {**form, "scores_file": SimpleUploadedFile("scores.jsonl", line)}
        )
    job = DistillationJob.objects.get()
    assert started.status_code == 302 and job.kind == "scores" and job.total_items == 1
    assert job.items.get().video_id == pair.video_a_id
