"""Upload and ingest with media on S3 (moto's S3-compatible server through django-storages), processed by a real
Celery worker: the original, the proxy and the poster land in the bucket, nothing on the local media folder."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation.models import Video
from webapp.testing import media_files, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _upload(path):
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="video/mp4")


def _both_ready():
    return set(Video.objects.values_list("status", flat=True)) == {Video.Status.READY}


def test_an_uploaded_pair_is_stored_and_processed_in_the_bucket_by_a_real_worker(
    s3_media, start_worker, client, curator, campaign, clip_paths, media_root
):
    worker = start_worker()
    client.force_login(curator)
    response = client.post(
        reverse("api-pairs"),
        {
            "campaign": campaign.name,
            "prompt": "a fox in the snow",
            "video_a": _upload(clip_paths[0]),
            "video_b": _upload(clip_paths[1]),
        },
    )
    assert response.status_code == 201, response.content
    assert Video.objects.filter(status=Video.Status.PENDING).exists(), "work must happen on the worker, not inline"

    wait_until(_both_ready, timeout=90, message="both videos processed on the worker")
    assert "video_process_task" in worker.log()
    videos = list(Video.objects.order_by("pk"))
    expected = set()
    for video in videos:
        expected |= {video.file.name, video.proxy.name, video.poster.name}
        assert video.proxy.name == f"videos/proxy/{video.sha256}.mp4"
        assert video.poster.name == f"videos/poster/{video.sha256}.jpg"
    assert set(s3_media.keys()) == expected
    proxy = s3_media.client.head_object(Bucket=s3_media.name, Key=videos[0].proxy.name)
    assert proxy["ContentLength"] > 1000 and proxy["ContentType"] == "video/mp4"
    assert media_files(media_root) == [], "with media on S3 nothing is written to the local media folder"
