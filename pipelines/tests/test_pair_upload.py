"""The same ingest through the REST endpoint and the browser upload form."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation.models import Video, VideoPair
from webapp.testing import media_files

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="video/mp4")


def test_curator_uploads_a_pair_through_the_api(client, curator, campaign, clip_paths):
    client.force_login(curator)
    response = client.post(
        reverse("api-pairs"),
        {
            "campaign": campaign.name,
            "prompt": "a fox",
            "pair_id": "api-1",
            "video_a": _upload(clip_paths[0]),
            "video_b": _upload(clip_paths[1]),
            "source_a": "m1",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["pair_id"] == "api-1" and body["video_a"]["source_model"] == "m1"
    assert Video.objects.get(pk=body["video_a"]["id"]).status == Video.Status.READY
    again = client.post(
        reverse("api-pairs"),
        {
            "campaign": campaign.name,
            "prompt": "a fox",
            "pair_id": "api-1",
            "video_a": _upload(clip_paths[0]),
            "video_b": _upload(clip_paths[1]),
        },
    )
    assert again.status_code == 200 and VideoPair.objects.count() == 1
    listing = client.get(reverse("api-pairs"), {"campaign": campaign.name}).json()
    assert listing["count"] == 1 and listing["results"][0]["pair_id"] == "api-1"


def test_api_rejects_a_fake_video_with_a_clear_error_and_stores_nothing(
    client, curator, campaign, clip_paths, bad_files, media_root
):
    _, root = bad_files
    client.force_login(curator)
    response = client.post(
        reverse("api-pairs"),
        {
            "campaign": campaign.name,
            "prompt": "p",
            "video_a": _upload(clip_paths[0]),
            "video_b": _upload(root / "fake.mp4"),
        },
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("fake.mp4: not a readable video file")
    assert Video.objects.count() == 0 and media_files(media_root) == []


def test_api_refuses_an_oversized_upload_before_copying_it(client, curator, campaign, clip_paths, settings, media_root):
    settings.VIDEO_MAX_BYTES = 2000
    client.force_login(curator)
    response = client.post(
        reverse("api-pairs"),
        {
            "campaign": campaign.name,
            "prompt": "p",
            "video_a": _upload(clip_paths[0]),
            "video_b": _upload(clip_paths[1]),
        },
    )
    assert response.status_code == 400 and "over the limit" in response.json()["detail"]
    assert media_files(media_root) == []


def test_api_validates_missing_fields_and_unknown_campaign(client, curator, campaign, clip_paths):
    client.force_login(curator)  # the curator of `campaign`, posting to a campaign that does not exist
    response = client.post(reverse("api-pairs"), {"campaign": "nope", "prompt": "p", "video_a": _upload(clip_paths[0])})
    assert response.status_code == 400
    assert set(response.json()) == {"campaign", "video_b"}


def test_experts_cannot_ingest_and_anonymous_users_are_refused(client, expert, campaign, clip_paths):
    assert client.post(reverse("api-pairs"), {}).status_code in (401, 403)
    client.force_login(expert)
    response = client.post(
        reverse("api-pairs"),
        {
            "campaign": campaign.name,
            "prompt": "p",
            "video_a": _upload(clip_paths[0]),
            "video_b": _upload(clip_paths[1]),
        },
    )
    assert response.status_code == 403
    assert client.get(reverse("pair-upload", args=[campaign.pk])).status_code == 403
    assert VideoPair.objects.count() == 0


def test_upload_form_adds_a_pair_and_shows_errors_inline(client, ml_engineer, campaign, clip_paths, bad_files):
    _, root = bad_files
    client.force_login(ml_engineer)
    url = reverse("pair-upload", args=[campaign.pk])
    assert client.get(url).status_code == 200
    empty = client.post(url, {"prompt": "p", "video_a": _upload(clip_paths[0]), "video_b": _upload(root / "empty.mp4")})
    assert empty.status_code == 400 and "The submitted file is empty" in empty.content.decode()
    fake = client.post(url, {"prompt": "p", "video_a": _upload(clip_paths[0]), "video_b": _upload(root / "fake.mp4")})
    assert fake.status_code == 400 and "fake.mp4: not a readable video file" in fake.content.decode()
    good = client.post(
        url, {"prompt": "p", "video_a": _upload(clip_paths[0]), "video_b": _upload(clip_paths[1])}, follow=True
    )
    assert good.status_code == 200 and "added" in good.content.decode()
    assert VideoPair.objects.filter(campaign=campaign).count() == 1


def test_openapi_schema_documents_the_pair_endpoint(client, curator):
    client.force_login(curator)
    schema = client.get(reverse("schema"), HTTP_ACCEPT="application/json").json()
    assert "/api/pairs/" in schema["paths"] and "post" in schema["paths"]["/api/pairs/"]
