"""Pages and REST API of exports: who may see and make them, the create form, the detail page with manifest and
progress, and the streamed .tar download (the whole folder, byte for byte)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from django.urls import reverse

from exports.models import ExportSnapshot
from exports.tests.factories import pair_make
from exports.tests.helpers import build

pytestmark = pytest.mark.django_db


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_experts_cannot_see_or_download_exports(client, expert, judged_campaign, tmp_path):
    snapshot = build(judged_campaign, path=tmp_path / "export")
    client.force_login(expert)

    assert client.get(reverse("export-index")).status_code == 403
    assert client.get(reverse("export-download", args=[snapshot.pk])).status_code == 403
    assert client.get(reverse("api-exports")).status_code == 403
    assert client.get(reverse("api-export-download", args=[snapshot.pk])).status_code == 403
    assert "Exports" not in client.get(reverse("home")).content.decode()


def test_an_ml_engineer_creates_an_export_from_the_form(
    client, ml_engineer, judged_campaign, django_capture_on_commit_callbacks
):
    client.force_login(ml_engineer)
    assert 'href="/exports/"' in client.get(reverse("home")).content.decode()
    form = {
        "campaign": judged_campaign.pk,
        "format": "preference-pairs",
        "split": "0.8/0.1/0.1",
        "seed": 2,
        "min_agreement": 0.0,
        "gold": "test",
        "awaiting_adjudication": "exclude",
    }

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("export-index"), form)

    assert len(callbacks) == 1
    snapshot = ExportSnapshot.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("export-detail", args=[snapshot.pk])
    assert snapshot.status == ExportSnapshot.Status.SUCCEEDED and snapshot.created_by == ml_engineer
    detail = client.get(response["Location"]).content.decode()
    assert "Download .tar" in detail and snapshot.manifest["code_version"] in detail
    listing = client.get(reverse("export-index")).content.decode()
    assert f'data-snapshot="{snapshot.pk}"' in listing and ml_engineer.username in listing


def test_the_form_shows_why_an_export_cannot_be_made(client, ml_engineer, judged_campaign):
    client.force_login(ml_engineer)
    form = {"campaign": judged_campaign.pk, "format": "preference-pairs", "split": "0.8/0.1/0.1", "seed": 0,
            "min_agreement": 0, "swap_augment": "on", "gold": "test", "awaiting_adjudication": "exclude"}  # fmt: skip

    response = client.post(reverse("export-index"), form)

    assert response.status_code == 400
    assert "does not apply to preference-pairs" in response.content.decode()
    assert not ExportSnapshot.objects.exists()


def test_the_tar_download_holds_the_whole_folder(client, curator, judged_campaign, tmp_path):
    snapshot = build(judged_campaign, path=tmp_path / "export")
    client.force_login(curator)

    response = client.get(reverse("export-download", args=[snapshot.pk]))

    body = streamed(response)
    assert response["Content-Type"] == "application/x-tar" and int(response["Content-Length"]) == len(body)
    assert response["Content-Disposition"] == 'attachment; filename="export.tar"'
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        names = archive.getnames()
        contents = {name.removeprefix("export/"): archive.extractfile(name).read() for name in names}
    assert names[0] == "export/manifest.json"
    assert contents == folder_files(Path(snapshot.path))
    assert streamed(client.get(reverse("export-download", args=[snapshot.pk]))) == body


def test_a_failed_export_has_nothing_to_download(client, curator, export_campaign, tmp_path):
    pair_make(export_campaign, prompt="never judged")
    snapshot = build(export_campaign, path=tmp_path / "export")
    client.force_login(curator)

    assert snapshot.status == ExportSnapshot.Status.FAILED
    assert client.get(reverse("export-download", args=[snapshot.pk])).status_code == 404
    assert "nothing to export" in client.get(reverse("export-detail", args=[snapshot.pk])).content.decode()


def test_the_api_creates_lists_details_and_downloads(
    client, ml_engineer, judged_campaign, django_capture_on_commit_callbacks
):
    client.force_login(ml_engineer)

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            reverse("api-exports"),
            {"campaign": judged_campaign.name, "format": "rl-prompts", "options": {"seed": 3}},
            content_type="application/json",
        )

    assert created.status_code == 202, created.content
    snapshot_id = created.json()["id"]
    detail = client.get(reverse("api-export-detail", args=[snapshot_id])).json()
    assert detail["status"] == "succeeded" and detail["created_by"] == ml_engineer.username
    assert detail["manifest"]["filters"]["seed"] == 3 and detail["format"] == "rl-prompts"
    listing = client.get(reverse("api-exports")).json()
    assert [item["id"] for item in listing["results"]] == [snapshot_id]
    download = client.get(reverse("api-export-download", args=[snapshot_id]))
    with tarfile.open(fileobj=io.BytesIO(streamed(download))) as archive:
        assert any(name.endswith("/train.parquet") for name in archive.getnames())


def test_the_api_refuses_bad_requests_with_a_reason(client, ml_engineer, judged_campaign):
    client.force_login(ml_engineer)

    unknown = client.post(reverse("api-exports"), {"campaign": "nope", "format": "rl-prompts"}, "application/json")
    bad_split = client.post(
        reverse("api-exports"),
        {"campaign": judged_campaign.name, "format": "rl-prompts", "options": {"split": "0.9/0.1/0.0"}},
        "application/json",
    )

    assert unknown.status_code == 400 and "unknown campaign" in unknown.json()["detail"]
    assert bad_split.status_code == 400 and "must be positive" in bad_split.json()["detail"]
    assert not ExportSnapshot.objects.exists()
