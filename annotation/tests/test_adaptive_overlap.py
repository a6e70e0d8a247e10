"""Adaptive overlap: a pair is judged by the campaign's overlap of experts, and by one more at a time while their
dimension verdicts disagree, up to the campaign's maximum. Real PostgreSQL; the races use threads on their own
connections."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from annotation.models import Assignment, PairJudgment, VideoPair
from annotation.overlap import dimension_verdicts_disagree
from annotation.services import (
    NoPairAvailable,
    assignment_next_for,
    campaign_create,
    campaign_member_add,
    campaign_overlap_set,
    pair_judgment_submit,
)
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts

pytestmark = pytest.mark.django_db

# --- The rule -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdicts", "disagree"),
    [
        ([1, 1], False),  # 2 of 2 for A: agreement 1.0
        ([1, -1], True),  # a tie votes "comparable", which nobody chose: agreement 0 < 0.6
        ([1, 1, -1], False),  # 2 of 3: 0.667 >= 0.6
        ([1, 0, -1], True),  # three-way tie: "comparable", chosen by 1 of 3, 0.333
        ([1, 1, -1, -1], True),  # 2-2 tie: "comparable", chosen by nobody
        ([1, 1, 1, -1, -1], False),  # 3 of 5: exactly 0.6, not below
        ([1, 1, 0, -1, -1], True),  # 2-2-1 tie: "comparable", chosen by 1 of 5, 0.2
    ],
)
def test_a_dimension_disagrees_when_its_majority_is_backed_by_less_than_the_threshold(verdicts, disagree):
    judgments = [{"VA": verdict, "VF": 1} for verdict in verdicts]
    assert dimension_verdicts_disagree(judgments, threshold=0.6) is disagree


def test_one_split_dimension_is_enough_and_agreeing_dimensions_do_not_outvote_it():
    judgments = [{"VA": 1, "VF": 1, "VP": -1}, {"VA": 1, "VF": 1, "VP": 1}]
    assert dimension_verdicts_disagree(judgments, threshold=0.6)
    assert not dimension_verdicts_disagree([{"VA": 1, "VF": 1}, {"VA": 1, "VF": 1}], threshold=0.6)


def test_the_threshold_is_the_campaigns_agreement_threshold_not_a_constant():
    two_of_three = [{"VA": 1}, {"VA": 1}, {"VA": -1}]
    assert not dimension_verdicts_disagree(two_of_three, threshold=0.6)
    assert dimension_verdicts_disagree(two_of_three, threshold=0.7)


# --- Through the queue and the submit -------------------------------------------------------------------------


@pytest.fixture
def experts(django_user_model):
    return [django_user_model.objects.create_user(username=f"judge-{i}", password="x") for i in range(6)]


def _adaptive_campaign(experts, *, overlap=2, max_overlap=4, name="adaptive"):
    campaign = campaign_create(name=name, overlap=overlap, max_overlap=max_overlap)
    for expert in experts:
        campaign_member_add(campaign=campaign, user=expert, role="expert")
    return campaign


def _judge(campaign, expert, verdict: int) -> Assignment:
    """The expert takes their next pair and submits every verdict as `verdict` (+1 A better, -1 B better)."""
    assignment = assignment_next_for(expert=expert, campaign=campaign)
    criteria, dimensions = all_verdicts(campaign, verdict)
    pair_judgment_submit(
        assignment=assignment,
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, assignment.pair),
    )
    return assignment


def _pair(pair) -> VideoPair:
    return VideoPair.objects.get(pk=pair.pk)


def test_an_easy_pair_closes_at_the_minimum(experts):
    campaign = _adaptive_campaign(experts)
    pair = VideoPairFactory(campaign=campaign)
    _judge(campaign, experts[0], 1)
    _judge(campaign, experts[1], 1)

    assert _pair(pair).extra_overlap == 0
    assert _pair(pair).assigned_count == 2
    with pytest.raises(NoPairAvailable):
        assignment_next_for(expert=experts[2], campaign=campaign)


def test_a_disputed_pair_gets_one_more_expert_at_a_time_up_to_the_maximum_and_no_further(experts):
    """Overlap 2, maximum 4, threshold 0.6. +1 -1 is a tie: raised to 3. +1 -1 0 is a three-way tie: raised to 4.
    +1 -1 0 0 votes "comparable" with 2 of 4 (0.5), still split, but the pair is at the maximum."""
    campaign = _adaptive_campaign(experts)
    pair = VideoPairFactory(campaign=campaign)
    _judge(campaign, experts[0], 1)
    _judge(campaign, experts[1], -1)
    assert _pair(pair).extra_overlap == 1  # target 3

    _judge(campaign, experts[2], 0)  # +1 -1 0: still split
    assert _pair(pair).extra_overlap == 2  # target 4, the maximum

    _judge(campaign, experts[3], 0)  # +1 -1 0 0: "comparable" by 2 of 4, 0.5 < 0.6, but at the maximum
    assert _pair(pair).extra_overlap == 2
    assert _pair(pair).assigned_count == 4
    with pytest.raises(NoPairAvailable):
        assignment_next_for(expert=experts[4], campaign=campaign)


def test_a_split_settled_by_the_extra_expert_closes_there(experts):
    campaign = _adaptive_campaign(experts)
    pair = VideoPairFactory(campaign=campaign)
    _judge(campaign, experts[0], 1)
    _judge(campaign, experts[1], -1)
    _judge(campaign, experts[2], 1)  # 2 of 3 for A: 0.667 >= 0.6

    assert _pair(pair).extra_overlap == 1
    assert _pair(pair).assigned_count == 3
    with pytest.raises(NoPairAvailable):
        assignment_next_for(expert=experts[3], campaign=campaign)


def test_a_pair_is_not_raised_while_experts_it_has_are_still_judging(experts):
    """Overlap 3: the first two disagree, but the third, still open, may settle it."""
    campaign = _adaptive_campaign(experts, overlap=3, max_overlap=5)
    pair = VideoPairFactory(campaign=campaign)
    _judge(campaign, experts[0], 1)
    _judge(campaign, experts[1], -1)
    third = assignment_next_for(expert=experts[2], campaign=campaign)

    assert third.pair_id == pair.pk
    assert _pair(pair).extra_overlap == 0


def test_a_revision_that_splits_a_closed_pair_reopens_it_and_one_that_settles_it_lowers_nothing(experts):
    campaign = _adaptive_campaign(experts)
    pair = VideoPairFactory(campaign=campaign)
    _judge(campaign, experts[0], 1)
    second = _judge(campaign, experts[1], 1)
    assert _pair(pair).extra_overlap == 0

    criteria, dimensions = all_verdicts(campaign, -1)
    pair_judgment_submit(
        assignment=second,
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, pair),
        base_revision=1,
    )
    assert _pair(pair).extra_overlap == 1
    assert assignment_next_for(expert=experts[2], campaign=campaign).pair_id == pair.pk

    criteria, dimensions = all_verdicts(campaign, 1)
    pair_judgment_submit(
        assignment=second,
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, pair),
        base_revision=2,
    )
    assert _pair(pair).extra_overlap == 1, "a handed-out slot is never taken back"


def test_a_campaign_without_a_maximum_keeps_its_fixed_overlap_however_split_its_pairs(experts):
    campaign = campaign_create(name="fixed", overlap=2)
    for expert in experts:
        campaign_member_add(campaign=campaign, user=expert, role="expert")
    pair = VideoPairFactory(campaign=campaign)
    _judge(campaign, experts[0], 1)
    _judge(campaign, experts[1], -1)

    assert campaign.max_overlap is None and not campaign.overlap_is_adaptive
    assert _pair(pair).extra_overlap == 0
    with pytest.raises(NoPairAvailable):
        assignment_next_for(expert=experts[2], campaign=campaign)


def test_a_maximum_below_the_overlap_is_refused(experts):
    with pytest.raises(ValidationError, match="maximum overlap cannot be below"):
        campaign_create(name="upside-down", overlap=3, max_overlap=2)


def test_a_lowered_maximum_closes_raised_pairs_at_once(experts):
    campaign = _adaptive_campaign(experts)
    pair = VideoPairFactory(campaign=campaign)
    _judge(campaign, experts[0], 1)
    _judge(campaign, experts[1], -1)
    assert _pair(pair).extra_overlap == 1

    campaign_overlap_set(campaign=campaign, overlap=2, max_overlap=2)
    with pytest.raises(NoPairAvailable):
        assignment_next_for(expert=experts[2], campaign=campaign)


def test_pairs_with_fewer_slots_left_are_handed_out_first(experts):
    """A raised pair with one slot left comes before an untouched pair with two."""
    campaign = _adaptive_campaign(experts)
    untouched, disputed = VideoPairFactory(campaign=campaign), VideoPairFactory(campaign=campaign)
    VideoPair.objects.filter(pk=disputed.pk).update(assigned_count=2, extra_overlap=1)

    assert assignment_next_for(expert=experts[0], campaign=campaign).pair_id == disputed.pk
    assert assignment_next_for(expert=experts[1], campaign=campaign).pair_id == untouched.pk, "the disputed one is full"


# --- Races ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_experts_racing_for_the_last_slot_of_a_raised_pair_never_exceed_its_target(experts):
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    campaign = _adaptive_campaign(experts)
    pair = VideoPairFactory(campaign=campaign)
    _judge(campaign, experts[0], 1)
    _judge(campaign, experts[1], -1)
    assert _pair(pair).extra_overlap == 1  # target 3: one slot left
    racers = experts[2:6]
    barrier = threading.Barrier(len(racers))

    def take_next(expert) -> int | None:
        try:
            barrier.wait()
            return assignment_next_for(expert=expert, campaign=campaign).pair_id
        except NoPairAvailable:
            return None
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(racers)) as pool:
        taken = list(pool.map(take_next, racers))

    assert taken.count(pair.pk) == 1 and taken.count(None) == len(racers) - 1
    assert _pair(pair).assigned_count == 3 == Assignment.objects.filter(pair=pair).count()


@pytest.mark.django_db(transaction=True)
def test_two_disagreeing_submits_at_once_raise_the_pair_once(experts):
    """Without the pair's row lock each submit would see only its own judgment and neither would raise the pair."""
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    campaign = _adaptive_campaign(experts)
    pair = VideoPairFactory(campaign=campaign)
    assignments = [assignment_next_for(expert=expert, campaign=campaign) for expert in experts[:2]]
    checklist = all_checklist_yes(campaign, pair)
    barrier = threading.Barrier(2)

    def submit(assignment_and_verdict) -> None:
        assignment, verdict = assignment_and_verdict
        criteria, dimensions = all_verdicts(campaign, verdict)
        try:
            barrier.wait()
            pair_judgment_submit(assignment=assignment, criteria=criteria, dimensions=dimensions, checklist=checklist)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(submit, zip(assignments, (1, -1), strict=True)))

    assert PairJudgment.objects.filter(assignment__pair=pair).count() == 2
    assert _pair(pair).extra_overlap == 1


# --- The campaign page ------------------------------------------------------------------------------------------


def test_only_the_campaigns_curators_change_its_overlap_and_a_bad_maximum_is_shown_beside_its_field(
    client, curator, expert, experts
):
    campaign = _adaptive_campaign(experts)
    campaign_member_add(campaign=campaign, user=curator, role="curator")
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    url = reverse("campaign-overlap", args=[campaign.pk])

    client.force_login(expert)
    assert client.post(url, {"overlap": 1, "max_overlap": 9}).status_code == 403
    client.force_login(curator)
    assert "<td>2–4</td>" in client.get(reverse("home")).content.decode()  # the campaign list shows the range
    refused = client.post(url, {"overlap": 3, "max_overlap": 2})
    assert refused.status_code == 400
    assert refused.context["overlap_form"].errors == {
        "max_overlap": ["The maximum overlap cannot be below the overlap."]
    }
    assert client.post(url, {"overlap": 3, "max_overlap": ""}).status_code == 302

    campaign.refresh_from_db()
    assert (campaign.overlap, campaign.max_overlap, campaign.overlap_is_adaptive) == (3, None, False)


def test_imported_judgments_raise_a_split_pair_like_submits(experts):
    """judgment_import holds the pair's lock and submits in the same transaction: the same rule applies."""
    from agreement.services import judgment_import

    campaign = campaign_create(name="imported", overlap=2, max_overlap=3, checklist=None)
    pair = VideoPairFactory(campaign=campaign)
    for annotator, verdict in (("import-a", 1), ("import-b", -1)):
        criteria, dimensions = all_verdicts(campaign, verdict)
        record = {"pair_id": pair.external_id, "annotator": annotator, "criteria": criteria, "dimensions": dimensions}
        assert judgment_import(campaign=campaign, record=record) == "created"

    assert _pair(pair).extra_overlap == 1
    campaign_member_add(campaign=campaign, user=experts[0], role="expert")
    assert assignment_next_for(expert=experts[0], campaign=campaign).pair_id == pair.pk
