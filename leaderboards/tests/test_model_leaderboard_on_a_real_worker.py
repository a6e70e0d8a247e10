"""A real tiny reward model (descore, one training step of a random Qwen2.5-VL) scores a campaign of real clips on
a real Celery worker consuming the gpu queue, through the API; then the API and the command give its leaderboard
beside the experts'. The model is random, so only the shape of what comes back is known, not its order."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import call_command
from django.urls import reverse

from leaderboards.models import ModelJudgmentRun, ModelPairVerdict
from leaderboards.tests.conftest import judged_demo_campaign
from leaderboards.tests.factories import registered_model_make

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_GENERATORS = {"lavfi-clean"}  # and the two degradations each scene drew


def _wait_until_stopped(run_id: int, *, within: float = 240.0) -> ModelJudgmentRun:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run = ModelJudgmentRun.objects.get(pk=run_id)
        if not run.active:
            return run
        time.sleep(0.5)
    pytest.fail(f"the model was still scoring after {within:g} s: {ModelJudgmentRun.objects.get(pk=run_id)}")


def test_the_api_scores_a_campaign_on_the_gpu_worker_and_the_command_reads_the_result(
    client, ml_engineer, demo_set, campaign, tiny_descore_run, gpu_queue, start_worker
):
    judged_demo_campaign(demo_set, campaign)
    model = registered_model_make(campaign, tiny_descore_run, name="tiny-descore")
    worker = start_worker(queues=(gpu_queue,))
    client.force_login(ml_engineer)

    started = client.post(
        reverse("api-leaderboard-model-runs", args=[campaign.pk]), {"model": model.pk}, content_type="application/json"
    )

    assert started.status_code == 202, started.content
    run = _wait_until_stopped(started.json()["id"])
    assert run.status == ModelJudgmentRun.Status.SUCCEEDED, (run.error, worker.log())
    assert (run.pairs_total, run.pairs_judged, run.pairs_unparsable) == (6, 6, 0)
    for verdict in ModelPairVerdict.objects.filter(run=run):
        assert set(verdict.dimensions) == {"VA", "VF", "VP"} and verdict.overall in (-1, 0, 1)

    data = client.get(reverse("api-leaderboard-model", args=[campaign.pk, model.pk]), {"resamples": 20}).json()

    assert data["experts"]["generators"][0]["generator"] == "lavfi-clean"
    assert {row["generator"] for row in data["reward_model"]["generators"]} >= DEMO_GENERATORS
    agreement = data["agreement"]
    assert agreement["pairs_judged_by_both"] == 6 and 0 <= agreement["verdict_agreement"] <= 1
    assert -1 <= agreement["kendall_tau"] <= 1 and agreement["generators_compared"] >= 3

    out = io.StringIO()
    call_command("leaderboard", "--campaign", campaign.name, "--model", "tiny-descore", "--json", stdout=out)
    printed = json.loads(out.getvalue())
    assert printed["run"]["status"] == "succeeded" and printed["run"]["pairs_judged"] == 6
    assert printed["targets"]["overall"]["agreement"]["verdict_agreement"] == agreement["verdict_agreement"]
