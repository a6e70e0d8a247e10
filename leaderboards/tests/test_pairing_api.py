"""`POST /api/campaigns/<id>/pairing/`: curators and ML engineers preview a pairing strategy (200, nothing made) or
apply it (201 with the number of pairs made); experts, who judge blind, get 403; the endpoint is in the schema.

Generations are database rows (no media files are read)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agreement.tests.factories import expert_make, judge
from leaderboards.tests.test_pairing import generations_campaign

pytestmark = pytest.mark.django_db


def test_a_curator_previews_all_pairs_then_applies_them(client, curator):
    campaign = generations_campaign(prompts=2, members={curator: "curator"})
    client.force_login(curator)
    url = reverse("api-pairing", args=[campaign.pk])

    preview = client.post(url, {"strategy": "all_pairs"}, content_type="application/json")
    applied = client.post(url, {"strategy": "all_pairs", "apply": True}, content_type="application/json")
    again = client.post(url, {"strategy": "all_pairs", "apply": True}, content_type="application/json")

    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert (body["generations"], body["prompts"], body["generators"]) == (6, 2, 3)
    assert (body["new_pairs"], body["existing_pairs"], body["active_choices"]) == (6, 0, None)
    first = body["preview"][0]
    assert first["external_id"] == f"gen-{first['generation_a']}-{first['generation_b']}"
    assert first["generator_a"] != first["generator_b"] and first["prompt"] == "prompt 1"
    assert applied.status_code == 201 and applied.json() == {"strategy": "all_pairs", "created": 6}
    assert again.status_code == 201 and again.json()["created"] == 0
    assert campaign.pairs.count() == 6


def test_an_ml_engineer_runs_two_active_rounds_and_the_second_reads_the_first_rounds_judgments(client, ml_engineer):
    campaign = generations_campaign(prompts=4, members={ml_engineer: "ml_engineer"})
    expert = expert_make("api-judge", campaign)
    client.force_login(ml_engineer)
    url = reverse("api-pairing", args=[campaign.pk])
    round_of = {"strategy": "active", "round_size": 6, "seed": 2, "target": "overall"}

    preview = client.post(url, round_of, content_type="application/json")
    applied = client.post(url, {**round_of, "apply": True}, content_type="application/json")
    for pair in campaign.pairs.select_related("video_a", "video_b"):
        judge(pair, expert, default=1 if pair.video_a.source_model < pair.video_b.source_model else -1)
    second = client.post(url, {**round_of, "round_size": 2}, content_type="application/json")

    assert preview.status_code == 200
    assert preview.json()["new_pairs"] == 6 and preview.json()["judged_comparisons"] == 0
    assert {choice["pairs"] for choice in preview.json()["active_choices"]} == {2}
    assert applied.status_code == 201 and applied.json()["created"] == 6
    assert campaign.pairs.count() == 6
    # The alphabetically first generator wins every pair: the order is set, nobody is unjudged.
    assert second.json()["judged_comparisons"] == 6 and second.json()["awaiting_judgment"] == 0
    assert not any(choice["cold_start"] for choice in second.json()["active_choices"])


def test_an_expert_of_the_campaign_may_neither_preview_nor_apply(client):
    campaign = generations_campaign(prompts=1)
    expert = expert_make("blind-api-expert", campaign)
    client.force_login(expert)
    url = reverse("api-pairing", args=[campaign.pk])

    preview = client.post(url, {"strategy": "active"}, content_type="application/json")
    applied = client.post(url, {"strategy": "all_pairs", "apply": True}, content_type="application/json")

    assert preview.status_code == applied.status_code == 403
    assert "sora-ckpt-3" not in preview.content.decode()
    assert campaign.pairs.count() == 0


def test_an_unknown_strategy_target_or_round_size_is_a_400_and_makes_nothing(client, curator):
    campaign = generations_campaign(prompts=1, members={curator: "curator"})
    client.force_login(curator)
    url = reverse("api-pairing", args=[campaign.pk])

    answers = [
        client.post(url, body, content_type="application/json")
        for body in (
            {"strategy": "everything", "apply": True},
            {"strategy": "active", "target": "NOPE", "apply": True},
            {"strategy": "active", "round_size": 0, "apply": True},
        )
    ]

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert [set(answer.json()) for answer in answers] == [{"strategy"}, {"target"}, {"round_size"}]
    assert campaign.pairs.count() == 0


def test_the_pairing_endpoint_is_in_the_openapi_schema(client, curator):
    client.force_login(curator)

    schema = client.get(reverse("schema"), HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/campaigns/{campaign_id}/pairing/"]["post"]
    assert set(operation["responses"]) >= {"200", "201"}
    request_schema = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"strategy", "apply", "round_size", "target"} <= set(
        schema["components"]["schemas"][request_schema]["properties"]
    )
