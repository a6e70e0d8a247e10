"""`/api/campaigns/<id>/generations/`: curators and ML engineers of the campaign upload single videos with prompt,
generator, seed and metadata (validated and deduplicated as pair uploads are) and list them; experts get 403.

Transactional, so the upload's processing runs once committed (eagerly here) and the video comes back ready."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation.models import Video
from annotation.services import campaign_member_add
from leaderboards.models import Generation
from webapp.queue import QUEUE_UNAVAILABLE
from webapp.testing import media_files

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="video/mp4")


def test_a_curator_uploads_a_generation_and_uploading_it_again_returns_the_same_one(
    client, curator, campaign, clip_paths
):
    client.force_login(curator)
    url = reverse("api-generations", args=[campaign.pk])
    fields = {"prompt": "a fox", "generator": "ckpt-3", "seed": "42", "metadata": json.dumps({"category": "animals"})}

    created = client.post(url, {**fields, "video": _upload(clip_paths[0], "fox_ckpt3.mp4")})
    again = client.post(url, {**fields, "video": _upload(clip_paths[0], "renamed.mp4")})
    listed = client.get(url)

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["generator"], body["seed"], body["metadata"]) == ("ckpt-3", 42, {"category": "animals"})
    assert body["video"]["source_model"] == "ckpt-3"
    assert Video.objects.get(pk=body["video"]["id"]).status == Video.Status.READY
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert [row["id"] for row in listed.json()["results"]] == [body["id"]]


def test_an_unreadable_file_or_bad_fields_are_refused_and_nothing_is_stored(
    client, ml_engineer, campaign, bad_files, media_root
):
    reasons, folder = bad_files
    client.force_login(ml_engineer)
    url = reverse("api-generations", args=[campaign.pk])

    fake = client.post(url, {"prompt": "p", "generator": "g", "video": _upload(folder / "fake.mp4")})
    no_generator = client.post(url, {"prompt": "p", "video": _upload(folder / "fake.mp4")})
    bad_metadata = client.post(
        url, {"prompt": "p", "generator": "g", "metadata": "[1]", "video": _upload(folder / "fake.mp4")}
    )

    assert fake.status_code == 400 and reasons["fake.mp4"] in fake.json()["detail"]
    assert no_generator.status_code == 400 and set(no_generator.json()) == {"generator"}
    assert bad_metadata.status_code == 400 and bad_metadata.json()["metadata"] == ["must be a JSON object"]
    assert Generation.objects.count() == 0 and media_files(media_root) == []


def test_an_expert_of_the_campaign_may_neither_list_nor_upload(client, expert, campaign, clip_paths):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    client.force_login(expert)
    url = reverse("api-generations", args=[campaign.pk])

    listed = client.get(url)
    uploaded = client.post(url, {"prompt": "p", "generator": "g", "video": _upload(clip_paths[0])})

    assert listed.status_code == uploaded.status_code == 403
    assert Generation.objects.count() == 0


def test_with_the_job_queue_down_an_upload_answers_503_and_keeps_nothing(
    client, curator, campaign, clip_paths, media_root, broker_unreachable
):
    client.force_login(curator)
    upload = {"prompt": "a fox", "generator": "ckpt-3", "video": _upload(clip_paths[0])}

    response = broker_unreachable.answer(lambda: client.post(reverse("api-generations", args=[campaign.pk]), upload))

    assert response.status_code == 503 and response.json() == {"detail": QUEUE_UNAVAILABLE}
    assert not Generation.objects.exists() and not Video.objects.exists()
    assert media_files(media_root) == []
