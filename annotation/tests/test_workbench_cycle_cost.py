"""What one judging cycle with the default checklist costs the server: queries per request and page bytes, pinned.

The rubric and checklist markup is the same for every pair of a campaign (annotation.rendering, cached); the
assignment's own state (a draft of 18 verdicts and 128 answers here) travels as a small JSON payload."""

import json

import pytest
from django.urls import reverse

from annotation.models import Assignment, PairJudgment
from annotation.services import campaign_member_add
from annotation.tests.factories import VideoPairFactory, workbench_form
from annotation.tests.workbench_page import workbench_state

pytestmark = pytest.mark.django_db

# Measured 127.6 kB with the default rubric and checklist (nearly all of it the cached form markup); a full draft
# adds its JSON, about 6 kB. Rendering per-field state back into the page would show here first.
PAGE_BYTES_MAX = 140_000
DRAFT_JSON_BYTES_MAX = 8_000


@pytest.fixture
def judging(client, campaign, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    VideoPairFactory.create_batch(3, campaign=campaign)
    client.force_login(expert)
    # A first page warms the definition cache, as every later page of the campaign finds it.
    first = client.post(reverse("assignment-next")).url
    client.get(first)
    return campaign, Assignment.objects.get(expert=expert)


def test_a_full_cycle_runs_a_pinned_number_of_queries_per_request(client, judging, django_assert_max_num_queries):
    campaign, assignment = judging
    form = workbench_form(campaign, verdict="right")
    page_url = reverse("workbench", args=[assignment.pk])
    # In a test each view's own transaction (views.workbench_transaction) is a savepoint: 2 queries more than live.
    # Page: session, user, assignment with its pair, videos and campaign, start time, judgment, earlier answers,
    # progress (2), notes on moments, the roles the menu needs (one read for its four links).
    with django_assert_max_num_queries(14):
        assert client.get(page_url).status_code == 200
    # Autosave: session, user, assignment, the campaign's lock check and the update (+ savepoint around them).
    with django_assert_max_num_queries(9):
        assert client.post(reverse("draft-save", args=[assignment.pk]), form).status_code == 204
    # Submit: session, user, assignment, lock check, locked re-read, judgment, its revision, the checklist's
    # 128 answers in one INSERT, the assignment (+ savepoints), the agreement dashboard's nudge after commit.
    with django_assert_max_num_queries(18):
        assert client.post(reverse("judgment-submit", args=[assignment.pk]), form).status_code == 302
    assert PairJudgment.objects.filter(assignment=assignment).exists()
    assert assignment.checklist_answers.count() == 128  # 64 questions for each video


def test_the_page_carries_the_draft_as_a_small_json_payload_under_a_pinned_size(client, judging):
    campaign, assignment = judging
    form = workbench_form(campaign, verdict="left", notes="soft focus")
    client.post(reverse("draft-save", args=[assignment.pk]), form)

    page = client.get(reverse("workbench", args=[assignment.pk])).content.decode()

    state = workbench_state(page)
    choice_fields = {name: value for name, value in form.items() if name.startswith(("criterion-", "dimension-"))}
    answers = {name: value for name, value in form.items() if name.startswith("checklist-")}
    assert len(choice_fields) == 18 and len(answers) == 128
    assert state == {"values": {**choice_fields, **answers}, "missing": []}
    # Nothing is chosen in the markup itself; notes and the revision are ordinary fields of the page.
    assert " checked" not in page and ">soft focus</textarea>" in page
    assert len(json.dumps(state)) < DRAFT_JSON_BYTES_MAX
    assert len(page.encode()) < PAGE_BYTES_MAX
