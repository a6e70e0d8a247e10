"""The demo's background work runs on a real Celery worker over kombu's filesystem broker (no server), on the
demo's SQLite database, exactly as `./run demo` starts it: a pair imported in one process is transcoded by the
worker process, and the training-worker check sees the worker through the same broker."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from webapp.testing import celery_worker_command, lavfi_render, wait_until

REPO = Path(__file__).resolve().parents[2]


def demo_environment(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_FOLDER": str(tmp_path / "broker"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "CONN_MAX_AGE": "0",
    }


def manage(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=environment, capture_output=True,
                          text=True, timeout=300, check=True)


def video_statuses(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return [status for (status,) in connection.execute("SELECT status FROM annotation_video ORDER BY id")]


def test_a_pair_imported_in_the_demo_is_transcoded_by_a_worker_on_the_filesystem_broker(tmp_path):
    environment = demo_environment(tmp_path)
    manage(environment, "migrate", "--noinput")
    clips = tmp_path / "clips"
    clips.mkdir()
    for name, source in (("a.mp4", "testsrc2=size=160x90:rate=12"), ("b.mp4", "smptebars=size=160x90:rate=12")):
        lavfi_render(clips / name, source, seconds=1, output_args=["-pix_fmt", "yuv420p"])
    manifest = clips / "pairs.jsonl"
    manifest.write_text(json.dumps({"prompt": "a test card", "video_a": "a.mp4", "video_b": "b.mp4"}) + "\n")

    manage(environment, "import_pairs", str(manifest), "--campaign", "demo-broker", "--create", "--overlap", "1")
    assert video_statuses(tmp_path / "db.sqlite3") == ["pending", "pending"]
    assert len(list((tmp_path / "broker" / "queue").iterdir())) == 2  # one message per video, waiting on disk

    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        celery_worker_command(queues=["celery", "gpu"], node_name="demo@test", pool="prefork", concurrency=1,
                              log_level="info"),
        cwd=REPO, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until(lambda: video_statuses(tmp_path / "db.sqlite3") == ["ready", "ready"], timeout=120,
                   message="the worker to transcode both videos")
        checked = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from training.selectors import queue_has_worker; print(queue_has_worker(queue='gpu'))"],
            cwd=REPO, env=environment, capture_output=True, text=True, timeout=120,
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert list((tmp_path / "broker" / "queue").iterdir()) == []
    assert sorted(p.parent.name for p in (tmp_path / "media" / "videos").rglob("*") if p.is_file()) == [
        "original", "original", "poster", "poster", "proxy", "proxy"]
    assert checked.stdout.strip().splitlines()[-1] == "True", checked.stderr + log.read_text()
