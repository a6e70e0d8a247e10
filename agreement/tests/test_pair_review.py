"""The adjudication queue and the pair review page, where curators adjudicate and set gold answers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agreement.models import Adjudication, GoldLabel
from agreement.selectors import consensus_for_pair
from agreement.tests.factories import campaign_make, expert_make, judge

pytestmark = pytest.mark.django_db


@pytest.fixture
def split_pair(curator):
    campaign = campaign_make(name="review", pairs=2, overlap=3, members={curator: "curator"})
    pair = campaign.pairs.get(external_id="p1")
    for name, verdict in (("ann", 1), ("ben", 0), ("cal", -1)):
        judge(pair, expert_make(name, campaign), VP2=verdict)
    return pair


def review_url(pair) -> str:
    return reverse("agreement-pair", args=[pair.campaign_id, pair.pk])


def test_the_queue_lists_the_split_pair(client, curator, split_pair):
    client.force_login(curator)

    html = client.get(reverse("agreement-queue", args=[split_pair.campaign_id])).content.decode()

    assert review_url(split_pair) in html
    assert "<code>VP2</code>" in html


def test_review_page_shows_every_judgment_side_by_side_with_the_player(client, curator, split_pair):
    client.force_login(curator)

    response = client.get(review_url(split_pair))
    html = response.content.decode()

    assert response.status_code == 200
    assert "data-pair-player" in html
    assert all(name in html for name in ("ann", "ben", "cal"))
    assert split_pair.video_a.proxy.url in html and split_pair.video_b.proxy.url in html
    assert response.context["form"]["verdict_VP2"].value() == "0"  # prefilled with the tie-broken vote


def test_posting_an_adjudication_records_it_and_overrides_the_vote(client, curator, split_pair):
    client.force_login(curator)

    response = client.post(
        review_url(split_pair), {"action": "adjudicate", "verdict_VP2": "-1", "reason": "B walks naturally"}
    )

    assert response.status_code == 302
    adjudication = Adjudication.objects.get()
    assert (adjudication.adjudicated_by, adjudication.reason) == (curator, "B walks naturally")
    assert consensus_for_pair(pair=split_pair).criteria["VP2"].label == -1


def test_an_adjudication_without_a_reason_is_refused(client, curator, split_pair):
    client.force_login(curator)

    response = client.post(review_url(split_pair), {"action": "adjudicate", "verdict_VP2": "-1", "reason": ""})

    assert response.status_code == 400
    assert "Say why" in response.content.decode()
    assert not Adjudication.objects.exists()


def test_saving_and_removing_a_gold_answer(client, curator, split_pair):
    client.force_login(curator)

    client.post(review_url(split_pair), {"action": "gold", "verdict_VP2": "1", "verdict_VP": "1"})
    gold = GoldLabel.objects.get(pair=split_pair)
    assert (gold.criteria, gold.dimensions, gold.set_by) == ({"VP2": 1}, {"VP": 1}, curator)

    client.post(review_url(split_pair), {"action": "ungold"})
    assert not GoldLabel.objects.exists()


def test_experts_cannot_post_adjudications(client, split_pair):
    client.force_login(split_pair.campaign.memberships.get(user__username="ann").user)

    response = client.post(review_url(split_pair), {"action": "adjudicate", "verdict_VP2": "1", "reason": "mine"})

    assert response.status_code == 403
    assert not Adjudication.objects.exists()


def test_a_pair_of_another_campaign_is_not_found(client, curator, split_pair):
    other = campaign_make(name="elsewhere", pairs=1).pairs.get()
    client.force_login(curator)

    assert client.get(reverse("agreement-pair", args=[split_pair.campaign_id, other.pk])).status_code == 404


def test_a_pair_whose_videos_have_no_proxy_yet_is_still_reviewable(client, curator, split_pair):
    from annotation.models import Video

    Video.objects.filter(pk=split_pair.video_b_id).update(proxy="", status=Video.Status.PENDING)
    client.force_login(curator)

    response = client.get(review_url(split_pair))

    assert response.status_code == 200
    assert "no playable proxy yet" in response.content.decode()
    assert "data-pair-player" not in response.content.decode()


def test_submitting_the_prefilled_form_records_only_disputed_and_changed_codes(client, curator, split_pair):
    client.force_login(curator)
    prefilled = client.get(review_url(split_pair)).context["form"]
    data = {name: prefilled[name].value() or "" for name in prefilled.fields if name.startswith("verdict_")}
    data.update(action="adjudicate", reason="settled the motion question", verdict_VA1="1")

    client.post(review_url(split_pair), data)

    adjudication = Adjudication.objects.get()
    assert adjudication.criteria == {"VP2": 0, "VA1": 1}  # VP2 was a three-way tie; VA1 was changed from 0
    assert adjudication.dimensions == {}
