"""Adjudication: who, when and why are recorded, and the curator's label overrides the vote everywhere."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agreement.models import Adjudication
from agreement.selectors import adjudication_queue_for, consensus_for_campaign, consensus_for_pair
from agreement.services import adjudication_record
from agreement.tests.factories import campaign_make, expert_make, judge

pytestmark = pytest.mark.django_db


@pytest.fixture
def disputed_pair():
    campaign = campaign_make(name="adjudication", pairs=1, overlap=3)
    pair = campaign.pairs.get()
    for name, verdict in (("ann", 1), ("ben", 0), ("cal", -1)):
        judge(pair, expert_make(name, campaign), VA3=verdict, VP=verdict)
    return pair


def test_adjudicated_label_overrides_the_vote_and_keeps_the_vote_visible(disputed_pair, curator):
    adjudication_record(
        pair=disputed_pair, adjudicated_by=curator, criteria={"VA3": -1}, dimensions={}, reason="B's key light"
    )

    va3 = consensus_for_pair(pair=disputed_pair).criteria["VA3"]

    assert (va3.label, va3.vote, va3.adjudicated) == (-1, 0, True)
    assert consensus_for_campaign(campaign=disputed_pair.campaign)[disputed_pair.pk].labels()["criteria"]["VA3"] == -1


def test_who_when_and_why_are_recorded(disputed_pair, curator):
    adjudication = adjudication_record(
        pair=disputed_pair, adjudicated_by=curator, criteria={}, dimensions={"VP": 1}, reason="  melting hand in B  "
    )

    stored = Adjudication.objects.get(pk=adjudication.pk)
    assert stored.adjudicated_by == curator
    assert stored.created_at is not None
    assert stored.reason == "melting hand in B"


def test_a_pair_leaves_the_queue_only_when_every_disputed_code_is_adjudicated(disputed_pair, curator):
    campaign = disputed_pair.campaign
    adjudication_record(pair=disputed_pair, adjudicated_by=curator, criteria={"VA3": 1}, dimensions={}, reason="a")
    assert [pair.pair_id for pair in adjudication_queue_for(campaign=campaign)] == [disputed_pair.pk]

    adjudication_record(pair=disputed_pair, adjudicated_by=curator, criteria={}, dimensions={"VP": 0}, reason="b")
    assert adjudication_queue_for(campaign=campaign) == []


def test_the_latest_adjudication_of_a_code_wins_and_history_is_kept(disputed_pair, curator):
    adjudication_record(pair=disputed_pair, adjudicated_by=curator, criteria={"VA3": 1}, dimensions={}, reason="a")
    adjudication_record(pair=disputed_pair, adjudicated_by=curator, criteria={"VA3": -1}, dimensions={}, reason="b")

    assert consensus_for_pair(pair=disputed_pair).criteria["VA3"].label == -1
    assert Adjudication.objects.filter(pair=disputed_pair).count() == 2


@pytest.mark.parametrize(
    ("criteria", "dimensions", "reason", "field"),
    [
        ({"VA3": 1}, {}, "   ", "reason"),
        ({"XX9": 1}, {}, "why", "criteria"),
        ({"VA3": 2}, {}, "why", "criteria"),
        ({}, {}, "why", "criteria"),
    ],
)
def test_an_adjudication_without_reason_or_with_bad_codes_is_refused(
    disputed_pair, curator, criteria, dimensions, reason, field
):
    with pytest.raises(ValidationError) as refused:
        adjudication_record(
            pair=disputed_pair, adjudicated_by=curator, criteria=criteria, dimensions=dimensions, reason=reason
        )

    assert field in refused.value.message_dict
    assert not Adjudication.objects.exists()


def test_a_pair_with_only_an_adjudication_has_a_consensus(curator):
    campaign = campaign_make(name="adjudication-only", pairs=1)
    pair = campaign.pairs.get()
    adjudication_record(pair=pair, adjudicated_by=curator, criteria={}, dimensions={"VF": 1}, reason="obvious")

    consensus = consensus_for_pair(pair=pair)

    assert consensus.dimensions["VF"].label == 1
    assert consensus.dimensions["VF"].vote is None
    assert consensus.n_raters == 0


def test_the_dashboard_queue_size_follows_the_same_rule_as_the_queue(disputed_pair, curator):
    from agreement.selectors import adjudication_queue_size, campaign_ratings

    campaign = disputed_pair.campaign
    calm = campaign.pairs.create(
        external_id="calm", prompt="calm", video_a=disputed_pair.video_a, video_b=disputed_pair.video_b
    )
    for membership in campaign.memberships.filter(role="expert"):
        judge(calm, membership.user, VA1=1)

    def sizes():
        verdicts = campaign_ratings(campaign=campaign).verdicts
        return adjudication_queue_size(campaign=campaign, verdicts=verdicts), len(
            adjudication_queue_for(campaign=campaign)
        )

    assert sizes() == (1, 1)
    adjudication_record(pair=disputed_pair, adjudicated_by=curator, criteria={"VA3": 0}, dimensions={}, reason="a")
    assert sizes() == (1, 1)
    adjudication_record(pair=disputed_pair, adjudicated_by=curator, criteria={}, dimensions={"VP": 0}, reason="b")
    assert sizes() == (0, 0)
