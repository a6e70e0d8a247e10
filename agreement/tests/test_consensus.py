"""Consensus labels: majority vote, the tie rule, agreement scores and the adjudication queue."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agreement.selectors import adjudication_queue_for, consensus_for_campaign, consensus_for_pair
from agreement.tests.factories import campaign_make, expert_make, judge

pytestmark = pytest.mark.django_db


@pytest.fixture
def trio():
    campaign = campaign_make(name="consensus", pairs=4, overlap=3)
    return campaign, [expert_make(name, campaign) for name in ("ann", "ben", "cal")]


def test_majority_verdict_wins_and_agreement_is_the_share_of_raters_behind_it(trio):
    campaign, (ann, ben, cal) = trio
    pair = campaign.pairs.get(external_id="p1")
    judge(pair, ann, VA1=1)
    judge(pair, ben, VA1=1)
    judge(pair, cal, VA1=-1)

    va1 = consensus_for_pair(pair=pair).criteria["VA1"]

    assert (va1.label, va1.vote, va1.tie) == (1, 1, False)
    assert va1.agreement == pytest.approx(2 / 3)
    assert va1.votes == {1: 2, 0: 0, -1: 1}
    assert va1.n_raters == 3


def test_a_three_way_split_is_a_tie_broken_to_comparable(trio):
    campaign, (ann, ben, cal) = trio
    pair = campaign.pairs.get(external_id="p1")
    judge(pair, ann, VF2=1)
    judge(pair, ben, VF2=0)
    judge(pair, cal, VF2=-1)

    vf2 = consensus_for_pair(pair=pair).criteria["VF2"]

    assert (vf2.label, vf2.tie) == (0, True)
    assert vf2.agreement == pytest.approx(1 / 3)  # only one rater actually said "comparable"


def test_two_raters_who_disagree_tie_to_comparable_with_zero_agreement():
    campaign = campaign_make(name="consensus-two", pairs=1, overlap=2)
    pair = campaign.pairs.get()
    judge(pair, expert_make("dee", campaign), VP=1)
    judge(pair, expert_make("eve", campaign), VP=-1)

    vp = consensus_for_pair(pair=pair).dimensions["VP"]

    assert (vp.label, vp.tie, vp.agreement) == (0, True, 0.0)


def test_pairs_below_the_campaign_threshold_wait_for_adjudication_least_agreed_first(trio):
    campaign, (ann, ben, cal) = trio
    unanimous, majority, split = (campaign.pairs.get(external_id=f"p{n}") for n in (1, 2, 3))
    for expert in (ann, ben, cal):
        judge(unanimous, expert, VA=1)
    judge(majority, ann, VA=1)
    judge(majority, ben, VA=1)
    judge(majority, cal, VA=0)
    judge(split, ann, VA=1)
    judge(split, ben, VA=0)
    judge(split, cal, VA=-1)

    consensus = consensus_for_campaign(campaign=campaign)
    queue = adjudication_queue_for(campaign=campaign)

    assert consensus[majority.pk].min_agreement == pytest.approx(2 / 3)  # above the default threshold 0.6
    assert not consensus[majority.pk].needs_adjudication
    assert [pair.external_id for pair in queue] == ["p3"]
    assert campaign.pairs.get(external_id="p4").pk not in consensus  # never judged: no consensus yet


def test_raising_the_threshold_sends_majorities_to_adjudication_too(trio):
    campaign, (ann, ben, cal) = trio
    pair = campaign.pairs.get(external_id="p1")
    judge(pair, ann, VA=1)
    judge(pair, ben, VA=1)
    judge(pair, cal, VA=0)
    campaign.agreement_threshold = 0.8
    campaign.save(update_fields=["agreement_threshold"])

    assert [pair.external_id for pair in adjudication_queue_for(campaign=campaign)] == ["p1"]


def test_campaign_consensus_reads_in_two_queries_however_many_pairs(trio):
    campaign, experts = trio
    for pair in campaign.pairs.all():
        for expert in experts:
            judge(pair, expert, VA1=1)

    with CaptureQueriesContext(connection) as queries:
        consensus = consensus_for_campaign(campaign=campaign)

    assert len(consensus) == 4
    assert len(queries) == 2
    assert consensus[campaign.pairs.get(external_id="p4").pk].labels()["criteria"]["VA1"] == 1
