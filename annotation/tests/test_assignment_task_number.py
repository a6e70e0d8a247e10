"""An expert knows an assignment as "Task N" (blind judging). N is stored when the pair is handed out, one more than
their last in the campaign, so the workbench reads it instead of counting their whole history on every page."""

import pytest

from annotation.models import Assignment
from annotation.selectors import assignment_task_number, assignments_recent_for
from annotation.services import assignment_create, campaign_create, campaign_member_add
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db


def test_task_numbers_run_per_expert_and_campaign(campaign, expert, other_expert):
    other_campaign = campaign_create(name="other", overlap=3)
    pairs = VideoPairFactory.create_batch(3, campaign=campaign)
    elsewhere = VideoPairFactory(campaign=other_campaign)

    first = assignment_create(pair=pairs[0], expert=expert, swapped=False)
    theirs = assignment_create(pair=pairs[0], expert=other_expert, swapped=False)
    in_other_campaign = assignment_create(pair=elsewhere, expert=expert, swapped=False)
    second = assignment_create(pair=pairs[1], expert=expert, swapped=False)

    assert [a.task_number for a in (first, theirs, in_other_campaign, second)] == [1, 1, 1, 2]
    assert assignment_task_number(assignment=second) == 2


def test_a_released_assignment_leaves_a_gap_rather_than_renumbering_later_tasks(campaign, expert):
    """Task 2 released (deleted): task 3 stays task 3, as the expert may have noted it, and the next is 4."""
    pairs = VideoPairFactory.create_batch(4, campaign=campaign)
    _first, second, third = (assignment_create(pair=pair, expert=expert, swapped=False) for pair in pairs[:3])
    second.delete()

    assert assignment_task_number(assignment=Assignment.objects.get(pk=third.pk)) == 3
    assert assignment_create(pair=pairs[3], expert=expert, swapped=False).task_number == 4


def test_rows_written_in_bulk_without_a_number_are_counted_and_numbering_goes_on_after_them(campaign, expert):
    pairs = VideoPairFactory.create_batch(3, campaign=campaign)
    Assignment.objects.bulk_create(
        Assignment(campaign=campaign, pair=pair, expert=expert, swapped=False) for pair in pairs[:2]
    )
    unnumbered = Assignment.objects.get(pair=pairs[1], expert=expert)

    assert unnumbered.task_number is None and assignment_task_number(assignment=unnumbered) == 2
    assert assignment_create(pair=pairs[2], expert=expert, swapped=False).task_number == 3


def test_the_home_page_list_shows_stored_and_counted_numbers(campaign, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pairs = VideoPairFactory.create_batch(2, campaign=campaign)
    Assignment.objects.bulk_create([Assignment(campaign=campaign, pair=pairs[0], expert=expert, swapped=False)])
    assignment_create(pair=pairs[1], expert=expert, swapped=False)

    assert sorted(a.task_number_shown for a in assignments_recent_for(expert=expert)) == [1, 2]
