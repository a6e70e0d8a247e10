"""Transcoding on a real Celery worker (prefork, Redis broker, PostgreSQL), including a worker killed mid-job."""

import io
import os
import signal

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


def _ingest_a_long_clip_on_a_worker(start_worker, campaign, tmp_path, short_clip, *, seconds: int):
    """A 720p clip long enough that its transcode is still running when the test acts, paired with a short one."""
    long_clip = tmp_path / "long.mp4"
    lavfi_render(
        long_clip,
        "testsrc2=size=1280x720:rate=30",
        seconds=seconds,
        output_args=["-c:v", "libx264", "-preset", "ultrafast"],
    )
    worker = start_worker()
    pair, _ = pair_ingest(
        campaign=campaign,
        prompt="p",
        video_a=IncomingVideo(path=long_clip, original_name="long.mp4"),
        video_b=IncomingVideo(path=short_clip, original_name=short_clip.name),
    )
    return worker, pair


def _ffmpeg_transcoding_under(worker_pid: int) -> bool:
    try:
        children = psutil.Process(worker_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    return any(child.name() == "ffmpeg" for child in children)


def test_a_worker_killed_mid_transcode_leaves_the_video_pending_and_a_rerun_completes_it(
    start_worker, campaign, tmp_path, clip_paths, media_root
):
    worker, pair = _ingest_a_long_clip_on_a_worker(start_worker, campaign, tmp_path, clip_paths[0], seconds=20)
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


def _ffmpeg_processes_under(folder) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "ffmpeg" and any(str(folder) in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def _has_exited(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_ffmpeg_dies_with_its_killed_worker_and_ingest_resume_removes_the_work_folder_and_completes_the_video(
    start_worker, campaign, tmp_path, clip_paths, settings, monkeypatch
):
    work_root = tmp_path / "ingest-work"
    monkeypatch.setenv("INGEST_TEMP_ROOT", str(work_root))  # the worker's environment
    settings.INGEST_TEMP_ROOT = str(work_root)  # this process's, for ingest_resume
    worker, pair = _ingest_a_long_clip_on_a_worker(start_worker, campaign, tmp_path, clip_paths[0], seconds=40)
    transcoding = wait_until(
        lambda: _ffmpeg_processes_under(work_root / f"video-{pair.video_a_id}-") or None,
        timeout=60,
        interval=0.05,
        message="ffmpeg to start in the worker's work folder",
    )
    (ffmpeg_process,) = transcoding
    pool_process = ffmpeg_process.parent()
    work_folders = [p for p in work_root.iterdir() if p.name.startswith(f"video-{pair.video_a_id}-")]

    # The OOM killer's way: the worker and its pool process die at once, ffmpeg (in the same process group) is not
    # signalled; it must go by itself.
    os.kill(worker.process.pid, signal.SIGKILL)
    os.kill(pool_process.pid, signal.SIGKILL)
    worker.process.wait(timeout=10)

    # An exiting process loses its command line before it becomes a zombie, so wait on the process itself.
    wait_until(lambda: _has_exited(ffmpeg_process), timeout=10, message="the orphaned ffmpeg to die")
    assert not _ffmpeg_processes_under(work_root)
    assert len(work_folders) == 1 and work_folders[0].is_dir()
    assert Video.objects.get(pk=pair.video_a_id).status == Video.Status.PENDING

    out = io.StringIO()
    call_command("ingest_resume", stdout=out)
    assert "1 work folders of stopped processes removed" in out.getvalue()
    assert not work_folders[0].exists()

    start_worker()
    wait_until(_all_ready, timeout=180, message="the killed job to complete after ingest_resume")
    video = Video.objects.get(pk=pair.video_a_id)
    assert video.proxy and video.poster and video.processed_at is not None
    assert [p for p in work_root.iterdir()] == []
