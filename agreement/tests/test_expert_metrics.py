"""Per-expert numbers: gold accuracy, agreement with the others' consensus, position bias, comparable rate,
median time on task, and Cohen's kappa between experts."""

from __future__ import annotations

import pytest

from agreement.models import GoldLabel
from agreement.selectors import agreement_report_for, consensus_for_pair
from agreement.services import gold_label_set
from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.models import Assignment

pytestmark = pytest.mark.django_db


def experts_by_name(report):
    return {expert.username: expert for expert in report.experts}


def test_gold_accuracy_counts_each_gold_verdict_an_expert_gave(curator):
    campaign = campaign_make(name="gold", pairs=3, overlap=2)
    gold_pair, other_gold, plain = campaign.pairs.order_by("external_id")
    ann, ben = expert_make("ann", campaign), expert_make("ben", campaign)
    gold_label_set(pair=gold_pair, set_by=curator, criteria={"VP3": -1}, dimensions={"VP": -1})
    gold_label_set(pair=other_gold, set_by=curator, criteria={}, dimensions={"VA": 1})
    judge(gold_pair, ann, VP3=-1, VP=-1)  # 2 of 2
    judge(other_gold, ann, VA=1)  # 1 of 1
    judge(gold_pair, ben, VP3=-1, VP=1)  # 1 of 2
    judge(other_gold, ben, VA=0)  # 0 of 1
    judge(plain, ann, VA1=1)
    judge(plain, ben, VA1=-1)

    experts = experts_by_name(agreement_report_for(campaign=campaign, n_resamples=0))

    assert (experts["ann"].gold_accuracy, experts["ann"].n_gold_verdicts) == (1.0, 3)
    assert experts["ben"].gold_accuracy == pytest.approx(1 / 3)


def test_gold_does_not_change_consensus_and_can_be_replaced(curator):
    campaign = campaign_make(name="gold-consensus", pairs=1, overlap=2)
    pair = campaign.pairs.get()
    judge(pair, expert_make("ann", campaign), VA=1)
    judge(pair, expert_make("ben", campaign), VA=1)
    gold_label_set(pair=pair, set_by=curator, criteria={}, dimensions={"VA": -1})
    gold_label_set(pair=pair, set_by=curator, criteria={}, dimensions={"VA": 0}, note="re-checked")

    assert consensus_for_pair(pair=pair).dimensions["VA"].label == 1
    assert GoldLabel.objects.get(pair=pair).dimensions == {"VA": 0}


def test_agreement_with_the_others_consensus_is_leave_one_out():
    campaign = campaign_make(name="leave-one-out", pairs=2, overlap=3)
    first, second = campaign.pairs.order_by("external_id")
    ann, ben, cal = (expert_make(name, campaign) for name in ("ann", "ben", "cal"))
    for pair in (first, second):
        judge(pair, ann, VA1=1)
        judge(pair, ben, VA1=1)
        judge(pair, cal, VA1=-1)

    experts = experts_by_name(agreement_report_for(campaign=campaign, n_resamples=0))

    # ann: the others are ben (+1) and cal (-1), a tie -> comparable, so ann's +1 disagrees on VA1;
    # cal: ann and ben both say +1, so cal's -1 disagrees. Every other code is 0 from everyone.
    assert experts["ann"].consensus_agreement_by_variable["VA1"] == 0.0
    assert experts["cal"].consensus_agreement_by_variable["VA1"] == 0.0
    assert experts["ann"].consensus_agreement_by_variable["VA2"] == 1.0
    assert experts["ann"].consensus_agreement == pytest.approx(17 / 18)


def test_position_bias_counts_the_left_displayed_video_whatever_the_canonical_order():
    campaign = campaign_make(name="position", pairs=4, overlap=1)
    lefty = expert_make("lefty", campaign)
    pairs = list(campaign.pairs.order_by("external_id"))
    # Canonical +1 with A on the left, and -1 with B on the left (swapped): both chose the left video.
    judge(pairs[0], lefty, swapped=False, VA1=1)
    judge(pairs[1], lefty, swapped=True, VA1=-1)
    judge(pairs[2], lefty, swapped=True, VA1=-1)
    judge(pairs[3], lefty, swapped=False, VA1=-1)  # chose the right video

    expert = agreement_report_for(campaign=campaign, n_resamples=0).experts[0]

    assert expert.left_rate == pytest.approx(3 / 4)
    assert expert.n_decisive == 4
    assert expert.comparable_rate == pytest.approx((4 * 18 - 4) / (4 * 18))


def test_median_time_on_task_uses_submitted_assignments():
    campaign = campaign_make(name="time", pairs=3, overlap=1)
    expert = expert_make("ann", campaign)
    for pair, seconds in zip(campaign.pairs.order_by("external_id"), (30, 90, 45), strict=True):
        judgment = judge(pair, expert)
        Assignment.objects.filter(pk=judgment.assignment_id).update(time_spent_seconds=seconds)

    assert agreement_report_for(campaign=campaign, n_resamples=0).experts[0].median_seconds == 45


def test_cohens_kappa_between_two_experts_matches_a_hand_count():
    """ann and ben on VA over four pairs: (1,1), (1,1), (-1,-1), (1,-1); every other code is (0,0).

    Pooled over 18 codes x 4 pairs = 72 verdicts: 71 agree, so p_o = 71/72. Marginals: ann +1:3, -1:1, 0:68;
    ben +1:2, -1:2, 0:68. p_e = (3*2 + 1*2 + 68*68) / 72**2, kappa = (p_o - p_e) / (1 - p_e)."""
    campaign = campaign_make(name="kappa", pairs=4, overlap=2)
    ann, ben = expert_make("ann", campaign), expert_make("ben", campaign)
    for pair, (a, b) in zip(campaign.pairs.order_by("external_id"), ((1, 1), (1, 1), (-1, -1), (1, -1)), strict=True):
        judge(pair, ann, VA=a)
        judge(pair, ben, VA=b)

    kappa = agreement_report_for(campaign=campaign, n_resamples=0).kappas[0]

    p_o, p_e = 71 / 72, (3 * 2 + 1 * 2 + 68 * 68) / 72**2
    assert kappa.kappa == pytest.approx((p_o - p_e) / (1 - p_e))
    assert (kappa.first, kappa.second, kappa.n_items) == ("ann", "ben", 4)


def test_gold_pairs_reach_expert_queues_like_any_other_pair(curator):
    from annotation.services import assignment_next_for

    campaign = campaign_make(name="gold-queue", pairs=1, overlap=1)
    pair = campaign.pairs.get()
    gold_label_set(pair=pair, set_by=curator, criteria={"VA1": 1}, dimensions={})
    expert = expert_make("ann", campaign)

    assignment = assignment_next_for(expert=expert, campaign=campaign)

    assert assignment.pair == pair
