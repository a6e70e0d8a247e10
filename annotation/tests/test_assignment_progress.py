"""The workbench's progress line: "pair N of M · about K min left at your pace", from the expert's own work."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation import selectors
from annotation.models import Assignment
from annotation.selectors import PROGRESS_COUNT_LIMIT, assignment_progress
from annotation.services import assignment_create, campaign_member_add
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def expert_in_campaign(campaign, expert, other_expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    campaign_member_add(campaign=campaign, user=other_expert, role="expert")
    return expert


def _submitted(pair, expert, seconds: float, submitted_at=None) -> Assignment:
    """An assignment marked submitted with its active time (the pace reads only status, time and when)."""
    assignment = assignment_create(pair=pair, expert=expert, swapped=False)
    Assignment.objects.filter(pk=assignment.pk).update(
        status=Assignment.Status.SUBMITTED, time_spent_seconds=seconds, submitted_at=submitted_at or timezone.now()
    )
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

    assert assignment_progress(assignment=current) == {
        "position": 4, "total": 9, "remaining": 6, "remaining_over_limit": False, "minutes_left": 9,
        "count_limit": PROGRESS_COUNT_LIMIT,
    }  # fmt: skip


def test_before_a_first_judgment_there_is_no_pace_and_the_page_says_so(client, campaign, expert_in_campaign):
    """Two pairs, none judged: pair 1 of 2, no minutes yet."""
    first, _second = VideoPairFactory.create_batch(2, campaign=campaign)
    current = assignment_create(pair=first, expert=expert_in_campaign, swapped=False)
    assert assignment_progress(assignment=current) == {
        "position": 1, "total": 2, "remaining": 2, "remaining_over_limit": False, "minutes_left": None,
        "count_limit": PROGRESS_COUNT_LIMIT,
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


def test_the_pace_is_the_median_of_the_latest_judgments_only(campaign, expert_in_campaign, monkeypatch):
    """PACE_JUDGMENTS = 2: of judgments in 600 s (oldest), 30 s and 90 s, the pace is the median of the latest two,
    60 s. Two pairs left with this one: 2 min."""
    monkeypatch.setattr(selectors, "PACE_JUDGMENTS", 2)
    pairs = VideoPairFactory.create_batch(4, campaign=campaign)
    now = timezone.now()
    for pair, seconds, minutes_ago in zip(pairs[:3], (600.0, 30.0, 90.0), (30, 20, 10), strict=True):
        _submitted(pair, expert_in_campaign, seconds, submitted_at=now - timedelta(minutes=minutes_ago))
    current = assignment_create(pair=pairs[3], expert=expert_in_campaign, swapped=False)
    progress = assignment_progress(assignment=current)
    assert (progress["remaining"], progress["minutes_left"]) == (1, 1)
    assert progress["position"] == 4


def test_past_the_count_limit_the_counts_stop_and_give_a_lower_bound(campaign, expert_in_campaign):
    """Count limit 3, six pairs open to the expert besides the one they hold: the counts stop after 4 rows, so the
    line reads "over 3 pairs left" and the minutes are at least (1 held + 4 counted) x 60 s = 5 min."""
    pairs = VideoPairFactory.create_batch(8, campaign=campaign)
    _submitted(pairs[0], expert_in_campaign, 60.0)
    current = assignment_create(pair=pairs[1], expert=expert_in_campaign, swapped=False)
    progress = assignment_progress(assignment=current, count_limit=3)
    assert progress == {
        "position": None, "total": None, "remaining": 5, "remaining_over_limit": True, "minutes_left": 5,
        "count_limit": 3,
    }  # fmt: skip


def test_past_the_count_limit_of_judgments_the_line_gives_pairs_left_without_a_position(
    client, campaign, expert_in_campaign, monkeypatch
):
    """Count limit 2, three judgments submitted, the held pair and one more open: "2 pairs left", no position."""
    monkeypatch.setattr(selectors, "PROGRESS_COUNT_LIMIT", 2)
    pairs = VideoPairFactory.create_batch(5, campaign=campaign)
    for pair in pairs[:3]:
        _submitted(pair, expert_in_campaign, 60.0)
    current = assignment_create(pair=pairs[3], expert=expert_in_campaign, swapped=False)
    client.force_login(expert_in_campaign)
    page = client.get(reverse("workbench", args=[current.pk])).content.decode()
    assert "2 pairs left · about 2 min left at your pace" in page


def test_the_page_past_the_count_limit_of_open_pairs(client, campaign, expert_in_campaign, monkeypatch):
    """Count limit 2, five pairs open besides the held one: the counts stop at 3, so at least 4 x 60 s."""
    monkeypatch.setattr(selectors, "PROGRESS_COUNT_LIMIT", 2)
    pairs = VideoPairFactory.create_batch(7, campaign=campaign)
    _submitted(pairs[0], expert_in_campaign, 60.0)
    current = assignment_create(pair=pairs[1], expert=expert_in_campaign, swapped=False)
    client.force_login(expert_in_campaign)
    page = client.get(reverse("workbench", args=[current.pk])).content.decode()
    assert "over 2 pairs left · at least 4 min at your pace" in page
