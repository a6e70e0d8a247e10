"""Shared test fixtures: demo clips made with real ffmpeg, users with their roles, a real Celery worker."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from webapp.testing import (
    RequestsInFlight,
    S3Bucket,
    WorkerHandle,
    campaign_staff_add,
    celery_publishing_to,
    celery_worker_command,
    dead_broker_url,
)

ROOT = Path(__file__).resolve().parent

# One Celery queue per test session, so parallel runs never pick up each other's tasks. Django's settings are
# loaded before this file, so the queue is set on the Celery app itself when a worker starts.
TEST_QUEUE = f"aeslab-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"


TEST_BROKER = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def pytest_configure(config):
    from django.conf import settings

    from webapp.celery import app

    # Password hashing is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Live-server request threads must not keep connections open, or the test database cannot be dropped.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tasks still run eagerly unless a test starts a worker, but any connection Celery opens (its pools are
    # created once and kept) points at the test broker and queue from the start.
    app.conf.update(broker_url=TEST_BROKER, task_default_queue=TEST_QUEUE)


@pytest.fixture(autouse=True)
def default_rubric_checklist_and_roles(request):
    """The migration installs these; a transactional test's flush removes them, so put them back."""
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if not uses_db:
        return
    from django.apps import apps

    from annotation import defaults

    request.getfixturevalue("_django_db_helper")
    defaults.install(apps.get_model)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A browser test's pages are closed when its body ends, before its fixtures are torn down: a page left open
    kept polling the live server (the leaderboard's status line, every 2 s) while the worker was stopped and
    tasks ran in the request again, and its reloads outlived the wait for the server's last request."""
    try:
        return (yield)
    finally:
        browser = item.funcargs.get("chromium")
        if browser is not None:
            for context in list(browser.contexts):
                context.close()


@pytest.fixture(autouse=True)
def live_server_requests_drained():
    """After a browser test, wait until the live server has answered its last request (a video still streaming to
    a closed page) before the database is flushed: pytest-django's database fixtures are set up before this one,
    so they are torn down after it."""
    yield
    for server in RequestsInFlight.servers:
        server.wait_idle()


@pytest.fixture(scope="session")
def demo_set(tmp_path_factory):
    """Two lavfi scenes: six one-second clips and six pairs with known expected preferences."""
    from fixtures.demo_clips import generate_demo_set

    return generate_demo_set(tmp_path_factory.mktemp("demo"), scenes=2, seconds=1.0, width=160, height=96)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def s3_media(settings, monkeypatch):
    """Media on S3: moto's S3-compatible HTTP server on a free port of 127.0.0.1, an empty bucket, and the default
    storage set to django-storages' S3Storage on it, here and (through the environment) in workers started after."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    bucket = S3Bucket(name=f"aeslab-media-{uuid.uuid4().hex[:8]}", endpoint_url=f"http://{host}:{port}")
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_STORAGE_BUCKET_NAME": bucket.name,
        "AWS_S3_ENDPOINT_URL": bucket.endpoint_url,
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    bucket.client = boto3.client(
        "s3",
        endpoint_url=bucket.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket.client.create_bucket(Bucket=bucket.name)
    settings.AWS_STORAGE_BUCKET_NAME = bucket.name
    settings.AWS_S3_ENDPOINT_URL = bucket.endpoint_url
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket.name,
                "endpoint_url": bucket.endpoint_url,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "signature_version": "s3v4",
            },
        },
    }
    yield bucket
    server.stop()


def _user(django_user_model, username: str):
    return django_user_model.objects.create_user(username=username, password="pw-" + username)


@pytest.fixture
def expert(db, django_user_model):
    """A member of no campaign yet: a test makes the expert a member where they judge."""
    return _user(django_user_model, "expert-ada")


@pytest.fixture
def other_expert(db, django_user_model):
    return _user(django_user_model, "expert-bo")


@pytest.fixture
def curator(db, django_user_model):
    """Curator of the test's campaign fixture (see campaign_staff_add)."""
    return _user(django_user_model, "curator-cy")


@pytest.fixture
def ml_engineer(db, django_user_model):
    """ML engineer of the test's campaign fixture (see campaign_staff_add)."""
    return _user(django_user_model, "ml-dee")


@pytest.fixture
def campaign(db, request):
    from annotation.services import campaign_create

    return campaign_staff_add(request, campaign_create(name="test-campaign", overlap=2))


def _postgres_required():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail("Worker tests need PostgreSQL: run them through ./run test (DATABASE_URL is set there).")


@pytest.fixture
def start_worker(transactional_db, settings, tmp_path):
    """Start real Celery workers (prefork, one process) on Redis against the test database."""
    from django.db import connection

    from webapp.celery import app

    _postgres_required()
    broker = TEST_BROKER
    queue = TEST_QUEUE
    database = connection.settings_dict
    started: list[WorkerHandle] = []
    app.conf.task_always_eager = False

    def start(extra_args: tuple[str, ...] = (), queues: tuple[str, ...] = ()) -> WorkerHandle:
        node_name = f"{queue}-{len(started)}@{socket.gethostname()}"
        env = dict(os.environ)
        env.update(
            DATABASE_URL=(
                f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:"
                f"{database['PORT'] or 5432}/{database['NAME']}"
            ),
            CELERY_BROKER_URL=broker,
            CELERY_TASK_DEFAULT_QUEUE=queue,
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            CONN_MAX_AGE="0",
            PYTHONPATH=str(ROOT),
        )
        for key in ("VIDEO_MAX_BYTES", "VIDEO_MAX_DURATION_SECONDS"):
            env[key] = str(getattr(settings, key))
        log_path = tmp_path / f"worker-{len(started)}.log"
        process = subprocess.Popen(
            celery_worker_command(
                queues=queues or (queue,), node_name=node_name, pool="prefork", concurrency=1, log_level="INFO",
                extra_args=extra_args,
            ),
            cwd=ROOT,
            env=env,
            stdout=open(log_path, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle = WorkerHandle(process=process, log_path=log_path, node_name=node_name)
        started.append(handle)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"Celery worker exited early:\n{handle.log()}")
            if app.control.ping(destination=[node_name], timeout=0.5):
                return handle
        pytest.fail(f"Celery worker did not answer a ping in 120 s:\n{handle.log()}")

    yield start
    for handle in started:
        handle.kill()
    app.conf.task_always_eager = True


class UnreachableBroker:
    """Where Celery now sends (nothing listens there), and a way to make a request that must not hang."""

    def __init__(self, url: str):
        self.url = url

    def answer(self, send, *, within: float = 60.0):
        """The response of `send()`, run in a thread; the test fails if it has not answered `within` seconds (a
        request that waits on a dead broker for ever must not hang the suite). Nothing here asserts speed."""
        import threading

        from django.db import connection

        outcome: dict = {}

        def run():
            try:
                outcome["response"] = send()
            except BaseException as error:  # handed to the test below
                outcome["error"] = error
            finally:
                connection.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(within)
        if thread.is_alive():
            pytest.fail(f"no answer within {within:g} s with the job queue unreachable")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["response"]


@pytest.fixture
def broker_unreachable(transactional_db):
    """Redis down: Celery publishes to a local port nothing listens on, and tasks are sent, not run eagerly.
    Transactional, so that work is enqueued on a real commit, as in a request."""
    url = dead_broker_url()
    with celery_publishing_to(url):
        yield UnreachableBroker(url)
