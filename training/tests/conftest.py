from __future__ import annotations

import itertools

import pytest

from annotation.services import campaign_create
from exports.services import export_build, export_snapshot_create
from exports.tests.factories import checklist_answers, experts_make, judge, pair_make

_folders = itertools.count(1)


def judged_campaign_make(*, name: str = "to-train", pairs: int = 6):
    """Pairs judged by three experts; the better video's checklist is all yes, the worse one's all no."""
    campaign = campaign_create(name=name, overlap=3)
    experts = experts_make(3, campaign)
    for index in range(pairs):
        pair = pair_make(campaign, prompt=f"scene {index}")
        a_better = index % 2 == 0
        checklist = {
            pair.video_a_id: checklist_answers(campaign, yes=a_better),
            pair.video_b_id: checklist_answers(campaign, yes=not a_better),
        }
        for expert in experts:
            judge(pair, expert, value=1 if a_better else -1, checklist=checklist)
    return campaign


def snapshot_make(*, campaign, export_format: str, folder):
    snapshot = export_snapshot_create(
        campaign=campaign, export_format=export_format, options={"split": [0.5, 0.25, 0.25], "seed": 3}, path=folder
    )
    snapshot = export_build(snapshot_id=snapshot.pk)
    assert snapshot.status == "succeeded", snapshot.error
    return snapshot


@pytest.fixture
def pairwise_snapshot(db, tmp_path):
    return snapshot_make(
        campaign=judged_campaign_make(), export_format="aesrm-pairwise", folder=tmp_path / f"pairwise-{next(_folders)}"
    )


@pytest.fixture
def model_dir(settings, tmp_path):
    """A declared model directory holding one (fake) model folder."""
    root = tmp_path / "models"
    (root / "tiny").mkdir(parents=True)
    (root / "tiny" / "config.json").write_text("{}")
    settings.TRAINING_MODEL_DIRS = [str(root)]
    return root


LONG_RUN = {"checklist.max_epochs": "100000000", "checklist.tolerance": "0"}  # runs for minutes unless stopped


@pytest.fixture
def gpu_queue(settings):
    """A gpu queue of this test session's own (parallel sessions share the test broker), with the run task
    routed to it as CELERY_TASK_ROUTES routes it to `gpu` in production."""
    from conftest import TEST_QUEUE
    from webapp.celery import app

    queue = f"{TEST_QUEUE}-gpu"
    routes = app.conf.task_routes
    settings.TRAINING_QUEUE = queue
    app.conf.task_routes = {"training.tasks.training_job_run_task": {"queue": queue}}
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()
    yield queue
    app.conf.task_routes = routes
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()


@pytest.fixture
def gpu_worker(start_worker, gpu_queue, monkeypatch):
    """A real Celery worker consuming only the gpu queue, with quick heartbeats."""
    monkeypatch.setenv("TRAINING_HEARTBEAT_SECONDS", "0.3")
    monkeypatch.setenv("TRAINING_CANCEL_GRACE_SECONDS", "3")
    return start_worker(queues=(gpu_queue,))


# Browser fixtures (Debian's Chromium through Playwright, a live server of the real app) from the annotation app.
from annotation.tests.conftest import app_url, chromium, django_orm_beside_playwright  # noqa: E402, F401
