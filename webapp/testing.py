"""Helpers for tests (imported by test modules; fixtures live in conftest.py)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def media_files(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file()) if Path(root).exists() else []


@dataclass
class S3Bucket:
    """A bucket on a local S3-compatible server (the `s3_media` fixture) and a boto3 client to look inside it."""

    name: str
    endpoint_url: str
    client: object = None

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listing.get("Contents", []))


@dataclass
class WorkerHandle:
    process: subprocess.Popen
    log_path: Path
    node_name: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole worker process group, as an OOM killer or a lost machine would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def celery_worker_command(
    *,
    queues: Sequence[str],
    node_name: str,
    pool: str,
    concurrency: int,
    log_level: str,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command line of a real Celery worker of this project (tests and benchmarks start them as subprocesses)."""
    return [
        sys.executable, "-m", "celery", "-A", "webapp", "worker",
        "-Q", ",".join(queues), "-P", pool, "-c", str(concurrency), "-n", node_name,
        "--without-gossip", "--without-mingle", "-l", log_level, *extra_args,
    ]  # fmt: skip


def wait_until(condition, *, timeout: float = 60.0, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout} s waiting for {message}")


def lavfi_render(out: Path, source: str, *, seconds: float, output_args: Sequence[str] = ()) -> Path:
    """Render an ffmpeg lavfi source (e.g. "testsrc2=size=320x180:rate=24") to a file: real video for tests."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, "-t", str(seconds)]
        + [*output_args, str(out)],
        check=True,
    )
    return out


@contextmanager
def asgi_served(app) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free port of 127.0.0.1, in a thread of this process (so it reads the
    test database); yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30, message="uvicorn to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def dead_broker_url() -> str:
    """A Redis URL on a local port that was free a moment ago and is closed now: nothing listens there."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/0"


@contextmanager
def celery_publishing_to(broker_url: str) -> Iterator[None]:
    """Inside the block Celery sends tasks to `broker_url` (not eagerly); after it, the broker and pools it had.

    Celery takes its connection and producer pools from kombu's process-wide registries, keyed by broker address.
    The pools made for the block are closed after it, and dropped from those registries: left there, a later block
    on the same address (a free port comes round again) would be handed a closed pool ("Acquire on closed pool")
    instead of a connection error."""
    from kombu import pools
    from kombu.utils.collections import eqhash

    from webapp.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager, app._pool, app.amqp._producer_pool
    app.conf.update(broker_url=broker_url, task_always_eager=False)
    app._pool = app.amqp._producer_pool = None
    try:
        yield
    finally:
        if app._pool is not None:
            app._pool.force_close_all()
        address = app.connection_for_write()
        for registry in (pools.producers, pools.connections):
            registry.pop(eqhash(address), None)  # dict.pop: EqualityDict keys by eqhash
        address.release()
        app.conf.update(broker_url=saved[0], task_always_eager=saved[1])
        app._pool, app.amqp._producer_pool = saved[2], saved[3]


def campaign_staff_add(request, campaign):
    """Rights are per campaign (no global role): the test's `curator` and `ml_engineer`, when it uses those
    fixtures, hold their roles in `campaign`. Campaign fixtures call this with their pytest `request`; a test that
    needs a role elsewhere adds the membership itself (annotation.services.campaign_member_add)."""
    from annotation.services import campaign_member_add

    for role in ("curator", "ml_engineer"):
        if role in request.fixturenames:
            campaign_member_add(campaign=campaign, user=request.getfixturevalue(role), role=role)
    return campaign


class RequestsInFlight:
    """A WSGI application counting the requests it is still answering; a response counts until the server closes
    it (after its last byte, or when the browser went away mid-video).

    Browser tests end while the live server may still stream a video to a page just closed; the test database's
    flush (TRUNCATE of every table) then raced such a request's reads and PostgreSQL broke the deadlock by failing
    the flush. `wait_idle` before the flush (the root conftest's `live_server_requests_drained`) avoids that."""

    servers: list[RequestsInFlight] = []  # the live servers of the running test module

    def __init__(self, application):
        self.application = application
        self.open: dict[int, str] = {}  # id of each request still being answered -> "GET /path?query (since t)"
        self.lock = threading.Lock()
        self._next_id = itertools.count()

    @property
    def count(self) -> int:
        return len(self.open)

    def __call__(self, environ, start_response):
        request_id = next(self._next_id)
        described = f"{environ.get('REQUEST_METHOD', '?')} {environ.get('PATH_INFO', '')}"
        if environ.get("QUERY_STRING"):
            described += f"?{environ['QUERY_STRING']}"
        with self.lock:
            self.open[request_id] = f"{described} (since {time.strftime('%H:%M:%S')})"
        try:
            response = self.application(environ, start_response)
        except BaseException:
            self._finished(request_id)
            raise
        return _ClosingResponse(response, lambda: self._finished(request_id))

    def _finished(self, request_id: int) -> None:
        with self.lock:
            self.open.pop(request_id, None)

    def wait_idle(self, timeout: float = 60.0) -> None:
        try:
            wait_until(lambda: not self.open, timeout=timeout, interval=0.05, message="the live server's requests")
        except AssertionError as error:
            with self.lock:
                still_open = "; ".join(self.open.values())
            raise AssertionError(f"{error}; still open: {still_open}") from None


class _ClosingResponse:
    def __init__(self, response, on_close):
        self.response, self.on_close, self.closed = response, on_close, False

    def __iter__(self):
        return iter(self.response)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if hasattr(self.response, "close"):
                self.response.close()
        finally:
            self.on_close()
