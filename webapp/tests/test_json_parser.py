"""The API's JSON parser answers a body nested thousands of levels deep with a 400 (it used to run the decoder
out of stack: a 500), on every endpoint, and writes nothing."""

from __future__ import annotations

import pytest

from annotation.services import campaign_member_add
from exports.models import ExportSnapshot
from training.models import TrainingJob
from webapp.parsers import MAX_DEPTH, json_depth

pytestmark = pytest.mark.django_db


@pytest.fixture
def engineer(campaign, ml_engineer):
    """An ML engineer of a campaign: allowed to post to both endpoints, so the body is what gets refused."""
    campaign_member_add(campaign=campaign, user=ml_engineer, role="ml_engineer")
    return ml_engineer


FIVE_THOUSAND_LEVELS = '{"a": ' * 5000 + "1" + "}" * 5000


@pytest.mark.parametrize(
    ("path", "model"),
    [("/api/exports/", ExportSnapshot), ("/api/training/jobs/", TrainingJob)],
    ids=["exports", "training"],
)
def test_a_body_nested_five_thousand_levels_deep_is_a_400(client, engineer, path, model):
    client.force_login(engineer)

    response = client.post(path, FIVE_THOUSAND_LEVELS, content_type="application/json")

    assert response.status_code == 400
    assert "nested deeper than" in response.json()["detail"]
    assert not model.objects.exists()


def test_a_body_just_past_the_depth_limit_is_refused_and_one_at_it_is_parsed(client, engineer):
    client.force_login(engineer)
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    past_limit = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)

    refused = client.post("/api/exports/", past_limit, content_type="application/json")
    parsed = client.post("/api/exports/", at_limit, content_type="application/json")

    assert refused.status_code == 400 and "nested deeper than" in refused.json()["detail"]
    assert parsed.status_code == 400 and "nested deeper than" not in str(parsed.json())


def test_json_depth_counts_objects_and_arrays():
    assert json_depth(1) == 0
    assert json_depth({"a": [1]}) == 2
    assert json_depth([[], {"b": {"c": []}}]) == 4
