"""The review page as a curator works through it: every expert's card (severe flags, notes) and the checklist
answers they differ on, errors beside the field that caused them, and where recording a label leads next."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agreement.models import Adjudication, GoldLabel
from agreement.tests.factories import (
    CRITERIA,
    DIMENSIONS,
    campaign_make,
    checklist_complete,
    expert_make,
    judge,
    two_level_question,
)
from annotation.services import assignment_create, pair_judgment_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(curator):
    """Three pairs in the adjudication queue, each with one code the three experts split three ways (so equally
    agreed, in id order), and p4, agreed and outside the queue."""
    campaign = campaign_make(name="flow", pairs=4, overlap=3, members={curator: "curator"})
    experts = [expert_make(name, campaign) for name in ("ann", "ben", "cal")]
    disputed = {"p1": "VP2", "p2": "VA1", "p3": "VF1"}
    for external_id in ("p1", "p2", "p3", "p4"):
        pair = campaign.pairs.get(external_id=external_id)
        for expert, verdict in zip(experts, (1, 0, -1), strict=True):
            judge(pair, expert, **({disputed[external_id]: verdict} if external_id in disputed else {}))
    return campaign


def review_url(campaign, external_id: str) -> str:
    return reverse("agreement-pair", args=[campaign.pk, campaign.pairs.get(external_id=external_id).pk])


def test_after_a_gold_answer_the_next_pair_of_the_queue_opens(client, curator, queue):
    client.force_login(curator)

    response = client.post(review_url(queue, "p2"), {"action": "gold", "verdict_VP2": "1", "reason": ""})

    assert GoldLabel.objects.filter(pair__external_id="p2").exists()
    assert response.status_code == 302 and response.url == review_url(queue, "p3")


def test_after_an_adjudication_the_pair_that_followed_it_in_the_queue_opens(client, curator, queue):
    client.force_login(curator)

    response = client.post(review_url(queue, "p1"), {"action": "adjudicate", "verdict_VP2": "0", "reason": "a tie"})

    assert response.url == review_url(queue, "p2")


def test_a_pair_outside_the_queue_leads_to_the_head_of_the_queue(client, curator, queue):
    client.force_login(curator)

    response = client.post(review_url(queue, "p4"), {"action": "gold", "verdict_VP2": "1"})

    assert response.url == review_url(queue, "p1")


def test_once_the_queue_is_empty_the_curator_lands_on_the_queue_page(client, curator, queue):
    client.force_login(curator)
    for external_id, code in (("p1", "VP2"), ("p2", "VA1")):
        client.post(review_url(queue, external_id), {"action": "adjudicate", f"verdict_{code}": "1", "reason": "A"})

    response = client.post(review_url(queue, "p3"), {"action": "adjudicate", "verdict_VF1": "-1", "reason": "B"})

    assert response.url == reverse("agreement-queue", args=[queue.pk])
    assert Adjudication.objects.count() == 3


def test_opened_from_the_pair_browser_it_goes_back_there_with_the_same_filters(client, curator, queue):
    client.force_login(curator)
    url = review_url(queue, "p4") + "?browser=status%3Djudged%26after%3D3%26evil%3Dhttps%3A%2F%2Fexample.com"

    response = client.post(url, {"action": "gold", "verdict_VP2": "1"})

    browser = reverse("agreement-pair-browser", args=[queue.pk])
    assert response.url == f"{browser}?status=judged&after=3"


def test_removing_gold_stays_on_the_pair(client, curator, queue):
    client.force_login(curator)
    client.post(review_url(queue, "p4"), {"action": "gold", "verdict_VP2": "1"})

    response = client.post(review_url(queue, "p4"), {"action": "ungold"})

    assert response.url == review_url(queue, "p4") and not GoldLabel.objects.exists()


def test_a_missing_reason_is_shown_under_the_reason_field_which_gets_the_focus(client, curator, queue):
    client.force_login(curator)

    response = client.post(review_url(queue, "p1"), {"action": "adjudicate", "verdict_VP2": "1", "reason": ""})

    html = response.content.decode()
    assert response.status_code == 400
    reason_field = html[html.index('name="reason"') - 200 : html.index("</textarea>")]
    assert "autofocus" in reason_field and 'aria-invalid="true"' in reason_field
    errors = html[html.index("</textarea>") : html.index("</textarea>") + 300]
    assert "data-reason-errors" in errors and "Say why" in errors
    assert "Say why" not in html[: html.index('name="reason"')]  # not at the top of the page


def test_no_verdict_chosen_is_said_above_the_verdicts_and_focuses_the_first(client, curator, queue):
    client.force_login(curator)
    blank = {f"verdict_{code}": "" for code in CRITERIA + DIMENSIONS}

    response = client.post(review_url(queue, "p1"), {"action": "gold", **blank})

    html = response.content.decode()
    assert response.status_code == 400
    assert html.index("Choose at least one verdict") < html.index('name="verdict_VA1"')
    first_select = html[html.index('name="verdict_VA1"') - 100 : html.index('name="verdict_VA1"') + 100]
    assert "autofocus" in first_select


def test_each_expert_has_a_card_with_severe_flags_notes_and_a_slot_for_comments(client, curator):
    campaign = campaign_make(name="cards", pairs=1, overlap=2, members={curator: "curator"})
    pair = campaign.pairs.get()
    pair_judgment_submit(
        assignment=assignment_create(pair=pair, expert=expert_make("ann", campaign), swapped=True),
        criteria=dict.fromkeys(CRITERIA, 1),
        dimensions=dict.fromkeys(DIMENSIONS, 1),
        severe={"A": {"VP": False}, "B": {"VP": True}},
        notes="the dog in B has five legs",
        checklist={},
    )
    judge(pair, expert_make("ben", campaign))
    client.force_login(curator)

    response = client.get(reverse("agreement-pair", args=[campaign.pk, pair.pk]))

    cards = {card.judgment.assignment.expert.username: card for card in response.context["review"].cards}
    assert cards["ann"].severe == ["B · VP"] and cards["ben"].severe == []
    html = response.content.decode()
    assert "the dog in B has five legs" in html and "Severe: B · VP" in html


def test_only_the_checklist_answers_experts_differ_on_are_shown_first(client, curator):
    campaign = campaign_make(name="checklists", pairs=1, overlap=2, checklist=True, members={curator: "curator"})
    pair = campaign.pairs.get()
    disputed = two_level_question(campaign)
    for name, answer in (("ann", "yes"), ("ben", "no")):
        pair_judgment_submit(
            assignment=assignment_create(pair=pair, expert=expert_make(name, campaign), swapped=False),
            criteria=dict.fromkeys(CRITERIA, 0),
            dimensions=dict.fromkeys(DIMENSIONS, 0),
            checklist={
                pair.video_a_id: checklist_complete(campaign, **{f"q{disputed.pk}": answer}),
                pair.video_b_id: checklist_complete(campaign),
            },
        )
    client.force_login(curator)

    review = client.get(reverse("agreement-pair", args=[campaign.pk, pair.pk])).context["review"]

    assert [row.question.pk for row in review.checklist_differences] == [disputed.pk]
    (row,) = review.checklist_differences
    assert (row.answers_a, row.answers_b) == (["yes", "no"], ["no", "no"])
    assert len(review.checklist) == campaign.checklist.questions.count()
