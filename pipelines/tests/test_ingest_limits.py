"""Ingest limits with real ffmpeg: frame size, frame rate, frame count and the transcode time limit; manifest paths
that leave the manifest's folder; NUL characters in a manifest line; errors that never show a server path."""

import json
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation.models import Video, VideoPair
from annotation.services import campaign_member_add
from pipelines import ingest
from pipelines.ingest import IncomingVideo, manifest_import, pair_ingest, video_process
from pipelines.media import VideoRejected, video_probe
from webapp.testing import lavfi_render, media_files


def _ingest(campaign, path_a, path_b):
    return pair_ingest(
        campaign=campaign,
        prompt="a test prompt",
        video_a=IncomingVideo(path=path_a, original_name=path_a.name),
        video_b=IncomingVideo(path=path_b, original_name=path_b.name),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("limits", "source", "reason"),
    [
        (
            {"VIDEO_MAX_WIDTH": 100, "VIDEO_MAX_HEIGHT": 100},
            "testsrc2=size=160x96:rate=24",
            "frame size 160x96 is over the limit of 100x100 (either orientation)",
        ),
        ({"VIDEO_MAX_FPS": 30}, "testsrc2=size=64x48:rate=60", "frame rate 60 fps is over the limit of 30 fps"),
        ({"VIDEO_MAX_FRAMES": 20}, "testsrc2=size=64x48:rate=24", "24 frames, over the limit of 20 frames"),
    ],
)
def test_a_clip_over_a_limit_is_refused_at_probe_time_with_its_name_and_nothing_is_written(
    campaign, tmp_path, settings, media_root, limits, source, reason
):
    for name, value in limits.items():
        setattr(settings, name, value)
    within = lavfi_render(tmp_path / "within.mp4", "testsrc2=size=64x48:rate=10", seconds=1.0)
    clip = lavfi_render(tmp_path / "over.mp4", source, seconds=1.0, output_args=["-c:v", "libx264"])

    with pytest.raises(VideoRejected) as refused:
        _ingest(campaign, within, clip)

    assert str(refused.value) == f"over.mp4: {reason}"
    assert Video.objects.count() == 0 and VideoPair.objects.count() == 0 and media_files(media_root) == []


def test_the_frame_size_limit_holds_in_either_orientation(tmp_path, settings):
    settings.VIDEO_MAX_WIDTH, settings.VIDEO_MAX_HEIGHT = 160, 96
    portrait = lavfi_render(tmp_path / "portrait.mp4", "testsrc2=size=96x160:rate=24", seconds=0.5)
    square = lavfi_render(tmp_path / "square.mp4", "testsrc2=size=128x128:rate=24", seconds=0.5)

    assert (video_probe(portrait).width, video_probe(portrait).height) == (96, 160)
    with pytest.raises(VideoRejected, match="frame size 128x128 is over the limit of 160x96"):
        video_probe(square)


@pytest.mark.django_db
def test_a_transcode_over_the_time_limit_is_stopped_and_the_video_failed_with_the_reason(
    campaign, clip_paths, settings, media_root
):
    pair, _ = _ingest(campaign, clip_paths[0], clip_paths[1])  # not committed: nothing processed yet
    settings.VIDEO_TRANSCODE_TIMEOUT_SECONDS = 0.01

    video = video_process(video_id=pair.video_a_id)

    assert video.status == Video.Status.FAILED and not video.proxy
    assert video.error == "the transcode took longer than 0.01 s (VIDEO_TRANSCODE_TIMEOUT_SECONDS) and was stopped"
    assert [p for p in media_files(media_root) if "proxy" in p.parts] == []


@pytest.fixture
def escaping_manifest(tmp_path, clip_paths):
    """A manifest folder with two clips of its own, one clip outside it, and lines that try to reach outside."""
    folder = tmp_path / "batch"
    (folder / "clips").mkdir(parents=True)
    inside = []
    for clip in clip_paths[:2]:
        (folder / "clips" / clip.name).write_bytes(clip.read_bytes())
        inside.append(f"clips/{clip.name}")
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(clip_paths[2].read_bytes())
    (folder / "clips" / "link.mp4").symlink_to(outside)
    lines = [
        {"prompt": "p", "video_a": inside[0], "video_b": "../outside.mp4", "pair_id": "dotdot"},
        {"prompt": "p", "video_a": "/etc/passwd", "video_b": inside[1], "pair_id": "absolute"},
        {"prompt": "p", "video_a": inside[0], "video_b": "clips/link.mp4", "pair_id": "symlink"},
        {"prompt": "p", "video_a": inside[0], "video_b": f"clips/../clips/{os.path.basename(inside[1])}"},
    ]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest, outside


@pytest.mark.django_db(transaction=True)
def test_manifest_paths_outside_its_folder_are_refused_before_any_file_is_read(
    escaping_manifest, campaign, monkeypatch
):
    manifest, outside = escaping_manifest
    read = []
    hash_file = ingest.file_sha256
    monkeypatch.setattr(ingest, "file_sha256", lambda path: read.append(path.resolve()) or hash_file(path))

    report = manifest_import(manifest_path=manifest, campaign=campaign)

    assert dict(report.errors) == {
        1: "path '../outside.mp4' is outside the manifest's folder; nothing was read",
        2: "path '/etc/passwd' is outside the manifest's folder; nothing was read",
        3: "path 'clips/link.mp4' is outside the manifest's folder; nothing was read",
    }
    assert report.created == 1  # a `..` that stays inside the folder is fine
    assert outside.resolve() not in read and not any(str(path).startswith("/etc") for path in read)


@pytest.mark.django_db(transaction=True)
def test_an_import_root_lets_a_manifest_name_files_under_it(escaping_manifest, campaign, settings):
    manifest, outside = escaping_manifest
    settings.IMPORT_ROOTS = [str(outside.parent)]

    report = manifest_import(manifest_path=manifest, campaign=campaign)

    assert dict(report.errors) == {
        2: "path '/etc/passwd' is outside the manifest's folder or IMPORT_ROOTS; nothing was read"
    }
    assert report.created == 3


@pytest.mark.django_db(transaction=True)
def test_nul_characters_in_a_manifest_line_are_reported_for_that_line_and_the_others_import(
    demo_set, campaign, capsys
):
    good = [json.loads(line) for line in demo_set.manifest_path.read_text().splitlines()]
    lines = [
        good[0],
        {**good[1], "prompt": "a fox\u0000 at dawn"},
        {**good[2], "pair_id": "p\u0000id"},
        good[3],
    ]
    manifest = demo_set.manifest_path.parent / "with-nul.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))

    with pytest.raises(CommandError, match="2 manifest lines failed"):
        call_command("import_pairs", str(manifest), "--campaign", campaign.name)

    err = capsys.readouterr().err
    assert f"{manifest}:2: 'prompt' contains a NUL character" in err
    assert f"{manifest}:3: 'pair_id' contains a NUL character" in err
    assert set(VideoPair.objects.values_list("external_id", flat=True)) == {good[0]["pair_id"], good[3]["pair_id"]}


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_upload_is_refused_with_its_own_name_and_no_server_path(
    client, curator, campaign, clip_paths, settings, media_root
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # uploads go to a temporary file, as large ones do in production
    campaign_member_add(campaign=campaign, user=curator, role="curator")
    data = clip_paths[1].read_bytes()
    client.force_login(curator)

    response = client.post(
        reverse("api-pairs"),
        {
            "campaign": campaign.name,
            "prompt": "p",
            "video_a": SimpleUploadedFile(clip_paths[0].name, clip_paths[0].read_bytes(), content_type="video/mp4"),
            "video_b": SimpleUploadedFile("corrupt.mp4", data[: len(data) // 2], content_type="video/mp4"),
        },
    )

    detail = response.json()["detail"]
    assert response.status_code == 400 and detail.startswith("corrupt.mp4: not a readable video file (ffprobe: ")
    assert "/tmp" not in detail and "/b.mp4" not in detail
    assert Video.objects.count() == 0 and media_files(media_root) == []
    assert list(ingest.ingest_temp_root().glob(f"upload-{os.getpid()}-*")) == []  # the upload's work folder is gone
