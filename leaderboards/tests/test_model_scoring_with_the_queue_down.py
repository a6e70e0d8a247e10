"""Start scoring with the job queue unreachable: a 503 that says so, and the run marked failed with the reason
(nothing left "waiting for a worker" with no task behind it)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leaderboards.models import ModelJudgmentRun
from leaderboards.tests.factories import judged_generator_campaign, registered_model_make
from webapp.queue import QUEUE_UNAVAILABLE


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_and_the_run_is_failed_with_the_reason(client, ml_engineer, tmp_path, broker_unreachable):
    campaign = judged_generator_campaign(members={ml_engineer: "ml_engineer"})
    model = registered_model_make(campaign, tmp_path / "run")
    client.force_login(ml_engineer)

    response = broker_unreachable.answer(
        lambda: client.post(
            reverse("api-leaderboard-model-runs", args=[campaign.pk]),
            {"model": model.pk},
            content_type="application/json",
        )
    )

    assert response.status_code == 503 and response.json() == {"detail": QUEUE_UNAVAILABLE}
    run = ModelJudgmentRun.objects.get(model=model, campaign=campaign)
    assert run.status == ModelJudgmentRun.Status.FAILED and run.error == QUEUE_UNAVAILABLE
