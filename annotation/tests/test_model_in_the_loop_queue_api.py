"""The model-in-the-loop queue through the API: `GET/PUT /api/campaigns/<id>/queue/` (curators read and choose the
queue model) and `POST /api/work/next/` (an expert's next assignment, in the model's order). Real PostgreSQL."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.models import Assignment, VideoPair
from annotation.services import campaign_create, campaign_member_add
from annotation.tests.factories import VideoPairFactory
from leaderboards.models import ModelJudgmentRun, ModelPairVerdict
from leaderboards.tests.factories import registered_model_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored_campaign(curator, expert, tmp_path):
    """Overlap 1, three pairs; a model that scored it is sure of the first and calls the other two comparable."""
    campaign = campaign_create(name="queue-api", overlap=1)
    campaign_member_add(campaign=campaign, user=curator, role="curator")
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pairs = [VideoPairFactory(campaign=campaign) for _ in range(3)]
    model = registered_model_make(campaign, tmp_path / "run", name="aesrm-base-queue")
    run = ModelJudgmentRun.objects.create(model=model, campaign=campaign, status=ModelJudgmentRun.Status.SUCCEEDED)
    for pair, overall in zip(pairs, (1, 0, 0), strict=True):
        ModelPairVerdict.objects.create(run=run, pair=pair, overall=overall)
    return campaign, model, pairs


def test_a_curator_reads_and_sets_the_queue_model_and_the_expert_gets_the_doubted_pair_first(
    client, curator, expert, scored_campaign
):
    campaign, model, (sure, doubted, also_doubted) = scored_campaign
    url = reverse("api-campaign-queue", args=[campaign.pk])
    client.force_login(curator)

    before = client.get(url)
    chosen = client.put(url, {"queue_model": model.pk}, content_type="application/json")

    assert before.status_code == 200
    assert before.json() == {
        "queue_model": None,
        "queue_model_name": None,
        "prioritised": 0,
        "uncertain": 0,
        "disputed": 0,
    }
    assert chosen.status_code == 200, chosen.content
    assert chosen.json() == {
        "queue_model": model.pk,
        "queue_model_name": "aesrm-base-queue",
        "prioritised": 2,
        "uncertain": 2,
        "disputed": 0,
    }
    client.force_login(expert)
    served = [client.post(reverse("api-assignment-next")) for _ in range(2)]
    assert [response.status_code for response in served] == [200, 200]
    first = Assignment.objects.get(pk=served[0].json()["assignment"])
    assert first.pair_id == doubted.pk
    assert served[0].json() == {
        "assignment": first.pk,
        "campaign": campaign.pk,
        "url": reverse("workbench", args=[first.pk]),
    }
    assert served[1].json() == served[0].json(), "the open assignment again until it is submitted"


def test_without_a_queue_model_the_api_serves_pairs_in_the_order_they_were_added(client, expert, scored_campaign):
    campaign, _, (sure, _, _) = scored_campaign
    client.force_login(expert)

    response = client.post(reverse("api-assignment-next"))

    assert Assignment.objects.get(pk=response.json()["assignment"]).pair_id == sure.pk


def test_clearing_the_queue_model_resets_the_order_and_bad_models_are_400(
    client, curator, expert, scored_campaign, tmp_path
):
    campaign, model, _ = scored_campaign
    url = reverse("api-campaign-queue", args=[campaign.pk])
    client.force_login(curator)
    client.put(url, {"queue_model": model.pk}, content_type="application/json")
    unscored = registered_model_make(campaign, tmp_path / "unscored", name="never-scored")

    refused = client.put(url, {"queue_model": unscored.pk}, content_type="application/json")
    cleared = client.put(url, {"queue_model": None}, content_type="application/json")

    assert refused.status_code == 400 and "queue_model" in refused.json()
    assert cleared.status_code == 200 and cleared.json()["queue_model"] is None
    assert set(VideoPair.objects.filter(campaign=campaign).values_list("model_priority", flat=True)) == {0}


def test_experts_may_neither_read_nor_set_the_queue_model_and_get_204_when_nothing_is_left(
    client, expert, scored_campaign
):
    campaign, model, _ = scored_campaign
    url = reverse("api-campaign-queue", args=[campaign.pk])
    client.force_login(expert)

    assert client.get(url).status_code == 403
    assert client.put(url, {"queue_model": model.pk}, content_type="application/json").status_code == 403
    Assignment.objects.all().delete()
    VideoPair.objects.filter(campaign=campaign).update(assigned_count=1)
    assert client.post(reverse("api-assignment-next")).status_code == 204


def test_both_endpoints_are_in_the_openapi_schema(client, curator):
    client.force_login(curator)
    paths = client.get(reverse("schema"), HTTP_ACCEPT="application/json").json()["paths"]
    assert {"get", "put"} <= set(paths["/api/campaigns/{campaign_id}/queue/"])
    assert "post" in paths["/api/work/next/"]
