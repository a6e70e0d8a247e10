"""A NUL character (\\x00) anywhere in a request (PostgreSQL cannot store it) is a 400 that writes nothing, on
pages and in the API alike, instead of a 500 from the database."""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse

from annotation.models import Assignment
from annotation.services import assignment_create, assignment_draft_save, campaign_member_add
from annotation.tests.factories import VideoPairFactory
from distillation.models import DistillationJob
from distillation.services import endpoint_create
from webapp.nul_characters import MESSAGE

pytestmark = pytest.mark.django_db


@pytest.fixture
def members(campaign, expert, curator, ml_engineer):
    for user, role in ((expert, "expert"), (curator, "curator"), (ml_engineer, "ml_engineer")):
        campaign_member_add(campaign=campaign, user=user, role=role)
    return campaign


def test_a_draft_holding_a_nul_character_is_refused_and_the_saved_draft_is_kept(client, expert, members):
    assignment = assignment_create(pair=VideoPairFactory(campaign=members), expert=expert)
    assignment_draft_save(assignment=assignment, draft={"notes": "so far"})
    client.force_login(expert)

    response = client.post(reverse("draft-save", args=[assignment.pk]), {"notes": "a\x00b"})

    assert response.status_code == 400
    assert MESSAGE in response.content.decode()
    assert Assignment.objects.get(pk=assignment.pk).draft == {"notes": "so far"}


def test_a_nul_character_in_an_api_query_string_is_refused(client, curator, members):
    client.force_login(curator)

    response = client.get("/api/pairs/", {"campaign": "test-campaign\x00"})

    assert response.status_code == 400
    assert response.json() == {"detail": MESSAGE}


def test_a_nul_character_in_an_api_json_body_is_refused_and_no_job_is_created(client, ml_engineer, members):
    endpoint_create(name="teacher", base_url="http://127.0.0.1:9/v1", model="none")
    client.force_login(ml_engineer)

    response = client.post(
        "/api/distillation/jobs/",
        {"campaign": "test-campaign\x00", "endpoint": "teacher"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json() == {"detail": MESSAGE}
    assert not DistillationJob.objects.exists()


def test_a_nul_character_in_basic_auth_credentials_is_refused(client, members):
    credentials = base64.b64encode(b"curator\x00:secret").decode()

    response = client.get("/api/pairs/", HTTP_AUTHORIZATION=f"Basic {credentials}")

    assert response.status_code == 400
