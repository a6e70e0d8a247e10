from __future__ import annotations

import itertools

import pytest

from annotation.services import assignment_create, campaign_create, campaign_member_add, pair_judgment_submit
from exports.services import export_build, export_snapshot_create, exports_root
from exports.tests.factories import checklist_answers, experts_make, judge, pair_make
from fixtures.demo_clips import generate_demo_set
from pipelines.ingest import manifest_import
from rm_training.cli import main as rm_training_main
from rm_training.tiny import save_tiny_qwen2_5_vl
from training.models import TrainingJob
from training.services import registered_model_create
from webapp.testing import asgi_served, campaign_staff_add

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
def pairwise_snapshot(db, tmp_path, request):
    """An aesrm-pairwise export of a judged campaign; the test's curator and ML engineer hold their roles there."""
    campaign = campaign_staff_add(request, judged_campaign_make())
    return snapshot_make(
        campaign=campaign, export_format="aesrm-pairwise", folder=tmp_path / f"pairwise-{next(_folders)}"
    )


@pytest.fixture
def model_dir(settings, tmp_path):
    """A declared model directory holding one (fake) model folder."""
    root = tmp_path / "models"
    (root / "tiny").mkdir(parents=True)
    (root / "tiny" / "config.json").write_text("{}")
    settings.TRAINING_MODEL_DIRS = [str(root)]
    return root


@pytest.fixture(scope="session")
def four_scenes(tmp_path_factory):
    return generate_demo_set(tmp_path_factory.mktemp("scenes"), scenes=4, seconds=1.0, width=160, height=96)


def judged_clips_snapshot(four_scenes, django_user_model, folder, export_format: str = "aesrm-base-sft"):
    """Twelve real clip pairs judged by three experts following the demo set's known preferences."""
    campaign = campaign_create(name="judged-clips", overlap=3)
    assert manifest_import(manifest_path=four_scenes.manifest_path, campaign=campaign).created == 12
    experts = [django_user_model.objects.create_user(username=f"judge-{i}", password="x") for i in range(3)]
    codes = {d.code: [c.code for c in d.criteria.all()] for d in campaign.rubric.dimensions.all()}
    for pair in campaign.pairs.all():
        expected = four_scenes.expected[pair.external_id]
        a_better = sum(expected.values()) >= 0
        checklist = {
            pair.video_a_id: checklist_answers(campaign, yes=a_better),
            pair.video_b_id: checklist_answers(campaign, yes=not a_better),
        }
        for expert in experts:
            pair_judgment_submit(
                assignment=assignment_create(pair=pair, expert=expert, swapped=False),
                criteria={code: expected[dimension] for dimension, members in codes.items() for code in members},
                dimensions=dict(expected),
                checklist=checklist,
            )
    return snapshot_make(campaign=campaign, export_format=export_format, folder=folder)


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



TINY_VIDEO = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "grpo.max_new_tokens=16"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return save_tiny_qwen2_5_vl(tmp_path_factory.mktemp("models") / "tiny-qwen")


@pytest.fixture
def registered_model(four_scenes, django_user_model, ml_engineer, tiny_model, tmp_path):
    """aesrm-base trained for one step on an export of twelve judged clip pairs (of a campaign where `ml_engineer`
    is an ML engineer), evaluated and registered."""
    snapshot = judged_clips_snapshot(four_scenes, django_user_model, exports_root() / "base-sft")
    campaign_member_add(campaign=snapshot.campaign, user=ml_engineer, role="ml_engineer")
    run = tmp_path / "run"
    arguments = ["--recipe", "aesrm-base", "--data", snapshot.path, "--out", str(run), f"model_path={tiny_model}"]
    assert rm_training_main(["train", *arguments, "stages.sft_steps=1", *TINY_VIDEO]) == 0
    assert rm_training_main(["eval", "--run", str(run), "--data", snapshot.path, "--split", "test"]) == 0
    job = TrainingJob.objects.create(
        recipe="aesrm-base", model_path=str(tiny_model), snapshot=snapshot, run_dir=str(run),
        status=TrainingJob.Status.SUCCEEDED, created_by=ml_engineer,
    )
    return registered_model_create(job=job)


@pytest.fixture
def playground_url(transactional_db):
    """The whole app (Django and the playground at /playground/) served by uvicorn, as webapp/asgi.py builds it."""
    from django.core.asgi import get_asgi_application

    from training.playground import playground_asgi

    with asgi_served(playground_asgi(get_asgi_application())) as url:
        yield url


# Browser fixtures (Debian's Chromium through Playwright, a live server of the real app) from the annotation app.
from annotation.tests.conftest import app_url, chromium, django_orm_beside_playwright  # noqa: E402, F401
