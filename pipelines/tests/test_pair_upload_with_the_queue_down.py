"""Redis down: uploading a pair answers 503 with a clear message and keeps nothing (no pair, no new video, no
stored file), so the uploader simply uploads again later; a stored video the upload reused stays as it was.

Why removed rather than kept with its videos marked failed: the uploader was told nothing was started, and a kept
pair would make the second upload a silent "already in the campaign" while its videos still waited for someone
to run ingest_resume."""

from __future__ import annotations

import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation.models import Video, VideoPair
from annotation.tests.factories import VideoFactory
from pipelines.ingest import file_sha256, manifest_import
from webapp.queue import QUEUE_UNAVAILABLE
from webapp.testing import media_files

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(path):
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="video/mp4")


def test_the_api_answers_503_and_keeps_no_pair_video_or_file(
    client, curator, campaign, clip_paths, media_root, broker_unreachable
):
    client.force_login(curator)
    upload = {"campaign": campaign.name, "prompt": "a fox", "pair_id": "api-1",
              "video_a": _upload(clip_paths[0]), "video_b": _upload(clip_paths[1])}  # fmt: skip

    response = broker_unreachable.answer(lambda: client.post(reverse("api-pairs"), upload))

    assert response.status_code == 503
    assert response.json() == {"detail": QUEUE_UNAVAILABLE}
    assert not VideoPair.objects.exists() and not Video.objects.exists()
    assert media_files(media_root) == []


def test_the_upload_form_answers_a_503_page_and_keeps_nothing(
    client, ml_engineer, campaign, clip_paths, media_root, broker_unreachable
):
    client.force_login(ml_engineer)
    upload = {"prompt": "a fox", "video_a": _upload(clip_paths[0]), "video_b": _upload(clip_paths[1])}

    response = broker_unreachable.answer(lambda: client.post(reverse("pair-upload", args=[campaign.pk]), upload))

    assert response.status_code == 503
    assert "The job queue is unreachable; nothing was started." in response.content.decode()
    assert not VideoPair.objects.exists() and not Video.objects.exists()
    assert media_files(media_root) == []


def test_a_stored_video_the_upload_reused_is_kept_with_its_file(
    client, curator, campaign, clip_paths, media_root, broker_unreachable
):
    stored = media_root / "videos" / "original" / "earlier.mp4"
    stored.parent.mkdir(parents=True)
    shutil.copy(clip_paths[0], stored)
    earlier = VideoFactory(file="videos/original/earlier.mp4", sha256=file_sha256(stored), proxy="", poster="")
    client.force_login(curator)
    upload = {"campaign": campaign.name, "prompt": "a fox",
              "video_a": _upload(clip_paths[0]), "video_b": _upload(clip_paths[1])}  # fmt: skip

    response = broker_unreachable.answer(lambda: client.post(reverse("api-pairs"), upload))

    assert response.status_code == 503
    assert not VideoPair.objects.exists()
    assert list(Video.objects.values_list("pk", flat=True)) == [earlier.pk]
    assert media_files(media_root) == [stored]


def test_a_manifest_import_stops_at_the_first_pair_and_says_the_queue_is_unreachable(
    campaign, demo_set, media_root, broker_unreachable
):
    report = broker_unreachable.answer(
        lambda: manifest_import(manifest_path=demo_set.manifest_path, campaign=campaign)
    )

    assert report.created == 0
    assert report.errors == [(1, f"{QUEUE_UNAVAILABLE}; this line and the ones after it were not imported")]
    assert not VideoPair.objects.exists() and not Video.objects.exists()
    assert media_files(media_root) == []
