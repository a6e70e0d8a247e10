"""GET /api/campaigns/<id>/leaderboard/: the same leaderboard as the page, in the OpenAPI schema, for curators and
ML engineers only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leaderboards.tests.factories import judged_generator_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged(curator, ml_engineer):
    return judged_generator_campaign(members={curator: "curator", ml_engineer: "ml_engineer"})


def api(client, campaign, **params):
    return client.get(reverse("api-leaderboard", args=[campaign.pk]), params)


def test_ml_engineer_gets_the_ranked_generators_with_intervals_and_win_rates(client, ml_engineer, judged):
    client.force_login(ml_engineer)

    response = api(client, judged, target="VF", resamples=25, seed=1)

    data = response.json()
    assert response.status_code == 200
    assert [row["generator"] for row in data["generators"]] == ["sora-ckpt-3", "veo-nightly", "base-v1"]
    assert all(row["ci_low"] <= row["score"] <= row["ci_high"] for row in data["generators"])
    assert {"generator": "base-v1", "opponent": "sora-ckpt-3", "win_rate": 1 / 3, "n": 3.0} in data["win_rate"]
    assert (data["target"], data["resamples"], data["seed"]) == ("VF", 25, 1)


def test_the_api_answers_what_the_json_download_gives(client, curator, judged):
    client.force_login(curator)

    from_api = api(client, judged, resamples=10).json()
    download = client.get(reverse("leaderboard-json", args=[judged.pk]), {"resamples": 10}).json()

    assert from_api == download


def test_an_expert_is_refused(client, judged):
    client.force_login(judged.memberships.filter(role="expert").first().user)

    response = api(client, judged)

    assert response.status_code == 403
    assert "sora" not in response.content.decode()


def test_basic_authentication_works_for_scripts(client, ml_engineer, judged):
    import base64

    token = base64.b64encode(f"{ml_engineer.username}:pw-{ml_engineer.username}".encode()).decode()

    response = client.get(
        reverse("api-leaderboard", args=[judged.pk]), {"resamples": 0}, HTTP_AUTHORIZATION=f"Basic {token}"
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    "params, field", [({"target": "XX9"}, "target"), ({"resamples": 99999}, "resamples"), ({"also": 999999}, "also")]
)
def test_bad_options_are_refused_field_by_field(client, curator, judged, params, field):
    client.force_login(curator)

    response = api(client, judged, **params)

    assert response.status_code == 400
    assert field in response.json()


def test_no_such_campaign_is_404(client, curator, judged):
    client.force_login(curator)

    assert client.get(reverse("api-leaderboard", args=[judged.pk + 1000])).status_code == 404


def test_the_endpoint_is_in_the_openapi_schema(client, curator):
    client.force_login(curator)

    schema = client.get(reverse("schema"), HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/campaigns/{campaign_id}/leaderboard/"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"target", "source", "resamples", "seed"}
    assert "Leaderboard" in schema["components"]["schemas"]
