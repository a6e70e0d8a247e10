"""Transcoding on a real Celery worker (prefork, Redis broker, PostgreSQL), including a worker killed mid-job."""

import psutil
import pytest
from django.core.management import call_command

from annotation.models import Video
from pipelines.ingest import IncomingVideo, manifest_import, pair_ingest
from webapp.testing import lavfi_render, media_files, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _all_ready():
    statuses = set(Video.objects.values_list("status", flat=True))
    return statuses == {Video.Status.READY}


def test_a_real_worker_transcodes_an_imported_manifest(start_worker, demo_set, campaign, media_root):
    worker = start_worker()
    report = manifest_import(manifest_path=demo_set.manifest_path, campaign=campaign)
    assert report.created == 6
    assert Video.objects.filter(status=Video.Status.PENDING).exists(), "work must happen on the worker, not inline"
    wait_until(_all_ready, timeout=90, message="every video ready")
    assert "video_process_task" in worker.log()
    assert len([p for p in media_files(media_root) if "proxy" in p.parts]) == Video.objects.count()


def _ffmpeg_transcoding_under(worker_pid: int) -> bool:
    try:
        children = psutil.Process(worker_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    return any(child.name() == "ffmpeg" for child in children)


def test_a_worker_killed_mid_transcode_leaves_the_video_pending_and_a_rerun_completes_it(
    start_worker, campaign, tmp_path, clip_paths, media_root
):
    long_clip = tmp_path / "long.mp4"
    lavfi_render(
        long_clip, "testsrc2=size=1280x720:rate=30", seconds=20, output_args=["-c:v", "libx264", "-preset", "ultrafast"]
    )
    worker = start_worker()
    pair, _ = pair_ingest(
        campaign=campaign,
        prompt="p",
        video_a=IncomingVideo(path=long_clip, original_name="long.mp4"),
        video_b=IncomingVideo(path=clip_paths[0], original_name=clip_paths[0].name),
    )
    wait_until(
        lambda: _ffmpeg_transcoding_under(worker.process.pid),
        timeout=60,
        interval=0.05,
        message="ffmpeg to start on the worker",
    )
    worker.kill()

    video = Video.objects.get(pk=pair.video_a_id)
    assert video.status == Video.Status.PENDING and not video.proxy
    assert [p for p in media_files(media_root) if "proxy" in p.parts and p.name.startswith(video.sha256)] == []

    start_worker()
    call_command("ingest_resume")
    wait_until(_all_ready, timeout=120, message="the killed job to complete after the re-run")
    video.refresh_from_db()
    assert video.proxy and video.poster and video.processed_at is not None
