from __future__ import annotations

import json

import pytest

from annotation.tests.conftest import app_url, chromium, django_orm_beside_playwright  # noqa: F401
from pipelines.tests.conftest import bad_files, clip_paths  # noqa: F401
from training.tests.conftest import gpu_queue, tiny_model  # noqa: F401


@pytest.fixture(scope="session")
def tiny_descore_run(tmp_path_factory, tiny_model):  # noqa: F811
    """A descore run of a tiny random Qwen2.5-VL, one training step on real clips (rm_training's test export):
    it scores any video, so it can judge a campaign's pairs. Trained once per test session."""
    from rm_training.cli import main as rm_training_main
    from rm_training.tests.export_builder import build_export, make_clips

    clips = make_clips(tmp_path_factory.mktemp("descore-clips"))
    export = build_export(tmp_path_factory.mktemp("descore-export"), "aesrm-pairwise", clips)
    run = tmp_path_factory.mktemp("descore") / "run"
    arguments = ["--recipe", "descore", "--data", str(export), "--out", str(run), f"model_path={tiny_model}"]
    tiny = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "descore.use_cot=false"]
    assert rm_training_main(["train", *arguments, "stages.sft_steps=1", "descore.eval_cot_tokens=0", *tiny]) == 0
    return run


@pytest.fixture
def with_a_broker():
    """As in production, tasks are sent to a broker rather than run in the process (the tests using this capture them at
    commit or stub the sending, and never send them)."""
    from webapp.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


def judged_demo_campaign(demo_set, campaign):
    """The demo set (two scenes, six pairs of real clips, the clip variant as generator) imported into `campaign`
    and judged by three simulated experts following the known preferences."""
    from django.contrib.auth import get_user_model

    from agreement.services import judgments_import
    from annotation.services import campaign_member_add
    from fixtures.demo_judgments import simulated_judgments
    from pipelines.ingest import manifest_import

    assert manifest_import(manifest_path=demo_set.manifest_path, campaign=campaign).ok
    experts = ["sim-1", "sim-2", "sim-3"]
    for username in experts:
        campaign_member_add(campaign=campaign, user=get_user_model().objects.create_user(username), role="expert")
    records = simulated_judgments(demo_set.expected, experts=experts, noise=0.0)
    judgments_import(campaign=campaign, lines=[json.dumps(record) for record in records])
    return campaign
