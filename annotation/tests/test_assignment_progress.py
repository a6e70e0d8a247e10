"""The workbench's progress line: "pair N of M · about K min left at your pace", from the expert's own work."""

import pytest
from django.urls import reverse

from annotation.models import Assignment
from annotation.selectors import assignment_progress
from annotation.services import assignment_create, campaign_member_add
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def expert_in_campaign(campaign, expert, other_expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    campaign_member_add(campaign=campaign, user=other_expert, role="expert")
    return expert


def _submitted(pair, expert, seconds: float) -> Assignment:
    """An assignment marked submitted with its active time (the pace reads only status and time)."""
    assignment = assignment_create(pair=pair, expert=expert, swapped=False)
    Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.SUBMITTED, time_spent_seconds=seconds)
    return assignment


def test_position_total_and_minutes_left_at_the_experts_median_pace(campaign, expert_in_campaign, other_expert):
    """Ten pairs, overlap 2. The expert submitted three (60 s, 90 s, 300 s: median 90 s) and holds a fourth.
    Of the six others, one is full (two other experts hold it), one is the other expert's alone (still open):
    total = 4 held + 5 still open = 9; this is pair 3 + 1 = 4; remaining = 9 - 3 = 6 pairs x 90 s = 9 min."""
    pairs = VideoPairFactory.create_batch(10, campaign=campaign)
    for pair, seconds in zip(pairs[:3], (60.0, 90.0, 300.0), strict=True):
        _submitted(pair, expert_in_campaign, seconds)
    current = assignment_create(pair=pairs[3], expert=expert_in_campaign, swapped=False)
    assignment_create(pair=pairs[4], expert=other_expert, swapped=False)
    type(pairs[5]).objects.filter(pk=pairs[5].pk).update(assigned_count=2)  # full: held by two other experts

    assert assignment_progress(assignment=current) == {"position": 4, "total": 9, "remaining": 6, "minutes_left": 9}


def test_before_a_first_judgment_there_is_no_pace_and_the_page_says_so(client, campaign, expert_in_campaign):
    """Two pairs, none judged: pair 1 of 2, no minutes yet."""
    first, _second = VideoPairFactory.create_batch(2, campaign=campaign)
    current = assignment_create(pair=first, expert=expert_in_campaign, swapped=False)
    assert assignment_progress(assignment=current) == {
        "position": 1, "total": 2, "remaining": 2, "minutes_left": None,
    }  # fmt: skip
    client.force_login(expert_in_campaign)
    page = client.get(reverse("workbench", args=[current.pk])).content.decode()
    assert "pair 1 of 2 · your pace shows after your first judgment" in page


def test_an_even_count_of_judgments_takes_the_mean_of_the_middle_two_and_rounds_minutes_up(
    client, campaign, expert_in_campaign
):
    """Judged in 40 s and 50 s: pace 45 s. Three pairs left with this one: 135 s, shown as 3 min (rounded up)."""
    pairs = VideoPairFactory.create_batch(5, campaign=campaign)
    _submitted(pairs[0], expert_in_campaign, 40.0)
    _submitted(pairs[1], expert_in_campaign, 50.0)
    current = assignment_create(pair=pairs[2], expert=expert_in_campaign, swapped=False)
    assert assignment_progress(assignment=current)["minutes_left"] == 3
    client.force_login(expert_in_campaign)
    page = client.get(reverse("workbench", args=[current.pk])).content.decode()
    assert "pair 3 of 5 · about 3 min left at your pace" in page
