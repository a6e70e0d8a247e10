"""Ingest work folders: each records its owner process; the sweep removes only those whose owner is gone."""

import json
import os
import socket
import subprocess
import sys

from pipelines.ingest import OWNER_FILE, work_folder, work_folders_sweep


def _owned_by(folder, *, pid: int, start: str | None, host: str | None = None):
    folder.mkdir(parents=True)
    owner = {"host": host or socket.gethostname(), "pid": pid, "start": start}
    (folder / OWNER_FILE).write_text(json.dumps(owner))
    return folder


def test_the_sweep_removes_folders_of_stopped_processes_and_keeps_the_others(tmp_path, settings):
    settings.INGEST_TEMP_ROOT = str(tmp_path)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = _owned_by(tmp_path / "video-1-dead", pid=int(finished.stdout), start="1")
    elsewhere = _owned_by(tmp_path / "video-2-other-host", pid=int(finished.stdout), start="1", host="another-host")

    with work_folder("video-3") as mine:
        (mine / "proxy.mp4").write_bytes(b"half a proxy")
        removed = work_folders_sweep()
        assert removed == [dead]
        assert mine.is_dir() and elsewhere.is_dir()

    assert not mine.exists()  # removed on the way out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video-2-other-host"]


def test_a_reused_pid_does_not_keep_a_dead_owners_folder(tmp_path, settings):
    settings.INGEST_TEMP_ROOT = str(tmp_path)
    stale = _owned_by(tmp_path / "upload-reused", pid=os.getpid(), start="started-long-before")

    assert work_folders_sweep() == [stale]
