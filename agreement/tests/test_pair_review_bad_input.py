"""The pair review page answers incomplete posts and unjudged pairs with a page that says what is wrong."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agreement.models import Adjudication, GoldLabel
from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.services import campaign_member_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(curator):
    """A campaign the curator belongs to: p1 judged alike by three experts (every code 0), p2 judged by nobody."""
    campaign = campaign_make(name="review-bad-input", pairs=2, overlap=3)
    campaign_member_add(campaign=campaign, user=curator, role="curator")
    agreed = campaign.pairs.get(external_id="p1")
    for name in ("ann", "ben", "cal"):
        judge(agreed, expert_make(name, campaign))
    return campaign


def review_url(campaign, external_id: str) -> str:
    pair = campaign.pairs.get(external_id=external_id)
    return reverse("agreement-pair", args=[campaign.pk, pair.pk])


def test_adjudicating_with_no_verdict_chosen_is_refused_with_a_message(client, curator, review):
    client.force_login(curator)

    response = client.post(review_url(review, "p1"), {"action": "adjudicate", "reason": "looked again"})

    assert response.status_code == 400
    assert "Choose at least one verdict to adjudicate." in response.content.decode()
    assert not Adjudication.objects.exists()


def test_saving_gold_with_no_verdict_chosen_is_refused_with_a_message(client, curator, review):
    client.force_login(curator)

    response = client.post(review_url(review, "p1"), {"action": "gold", "reason": ""})

    assert response.status_code == 400
    assert "Choose at least one verdict to save as the gold answer." in response.content.decode()
    assert not GoldLabel.objects.exists()


def test_adjudicating_only_agreed_votes_left_as_they_were_is_refused_with_a_message(client, curator, review):
    client.force_login(curator)

    response = client.post(
        review_url(review, "p1"), {"action": "adjudicate", "verdict_VP2": "0", "reason": "agreed anyway"}
    )

    assert response.status_code == 400
    assert "Nothing to adjudicate" in response.content.decode()
    assert not Adjudication.objects.exists()


def test_the_review_page_of_a_pair_nobody_judged_shows_dashes_for_agreement(client, curator, review):
    client.force_login(curator)

    response = client.get(review_url(review, "p2"))

    assert response.status_code == 200
    assert "<td>–</td>" in response.content.decode()
