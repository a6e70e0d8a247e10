"""ffmpeg never outlives the process that started it, and never runs past VIDEO_TRANSCODE_TIMEOUT_SECONDS."""

import os
import signal
import subprocess
import sys
import uuid

import psutil
import pytest

from pipelines.media import _ffmpeg_run, _FfmpegTimedOut
from webapp.testing import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _silent_endless_ffmpeg(tag: str) -> list[str]:
    """An ffmpeg that runs until killed and writes nothing (so no broken pipe can stop it either)."""
    return ["ffmpeg", "-nostdin", "-nostats", "-loglevel", "quiet", "-f", "lavfi", "-i", "testsrc2=size=64x48",
            "-metadata", f"comment={tag}", "-f", "null", "-"]  # fmt: skip


def _ffmpeg_tagged(tag: str) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["name", "cmdline"])
        if process.info["name"] == "ffmpeg" and f"comment={tag}" in (process.info["cmdline"] or ())
    ]


def test_ffmpeg_is_killed_when_the_process_that_started_it_is_killed(tmp_path):
    tag = uuid.uuid4().hex
    script = (
        "import django; django.setup(); from pipelines.media import _ffmpeg_run; "
        f"_ffmpeg_run({_silent_endless_ffmpeg(tag)!r})"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="webapp.settings", PYTHONPATH=ROOT)
    starter = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env)
    try:
        (ffmpeg_process,) = wait_until(lambda: _ffmpeg_tagged(tag), timeout=60, message="ffmpeg to start")
        assert ffmpeg_process.ppid() == starter.pid

        starter.send_signal(signal.SIGKILL)
        starter.wait(timeout=10)

        wait_until(lambda: not _ffmpeg_tagged(tag), timeout=10, message="ffmpeg to die with its parent")
    finally:
        starter.kill()
        for leftover in _ffmpeg_tagged(tag):
            leftover.kill()


def test_ffmpeg_past_the_time_limit_is_killed(settings):
    settings.VIDEO_TRANSCODE_TIMEOUT_SECONDS = 0.5
    tag = uuid.uuid4().hex

    with pytest.raises(_FfmpegTimedOut):
        _ffmpeg_run(_silent_endless_ffmpeg(tag))

    assert _ffmpeg_tagged(tag) == []
