"""The expert queue: overlap, never twice for one expert, fullest pairs first, and no races."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.utils import ConnectionHandler

from annotation.models import Assignment, Video, VideoPair
from annotation.services import NoPairAvailable, assignment_next_for, campaign_member_add
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def experts(django_user_model, campaign):
    users = [django_user_model.objects.create_user(username=f"e{i}", password="x") for i in range(6)]
    for user in users:
        campaign_member_add(campaign=campaign, user=user, role="expert")
    return users


def test_open_assignment_is_returned_again_until_submitted(campaign, experts):
    VideoPairFactory.create_batch(3, campaign=campaign)
    first = assignment_next_for(expert=experts[0])
    assert assignment_next_for(expert=experts[0]) == first
    assert Assignment.objects.count() == 1


def test_pairs_closest_to_full_overlap_are_handed_out_first(campaign, experts):
    pairs = VideoPairFactory.create_batch(3, campaign=campaign)  # overlap is 2
    handed = []
    for expert in experts[:4]:
        assignment = assignment_next_for(expert=expert)
        handed.append(assignment.pair_id)
        Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.SUBMITTED)
    assert handed == [pairs[0].id, pairs[0].id, pairs[1].id, pairs[1].id]


def test_an_expert_never_gets_the_same_pair_twice_and_overlap_is_respected(campaign, experts):
    VideoPairFactory.create_batch(2, campaign=campaign)
    for expert in experts:
        while True:
            try:
                assignment = assignment_next_for(expert=expert)
            except NoPairAvailable:
                break
            Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.SUBMITTED)
    per_pair = {pair.id: pair.assignments.count() for pair in VideoPair.objects.all()}
    assert per_pair == {pair_id: 2 for pair_id in per_pair}
    assert Assignment.objects.values("pair", "expert").distinct().count() == Assignment.objects.count() == 4


def test_pairs_with_unready_videos_and_other_campaigns_are_not_handed_out(campaign, experts):
    from annotation.services import campaign_create

    VideoPairFactory(campaign=campaign, video_a__status=Video.Status.PENDING)
    VideoPairFactory(campaign=campaign_create(name="not-mine"))
    with pytest.raises(NoPairAvailable):
        assignment_next_for(expert=experts[0])


def test_display_order_is_randomised_per_assignment(campaign, experts, django_user_model):
    VideoPairFactory.create_batch(40, campaign=campaign)
    swapped = [assignment_next_for(expert=experts[0]).swapped]
    for _ in range(39):
        Assignment.objects.filter(expert=experts[0]).update(status=Assignment.Status.SUBMITTED)
        swapped.append(assignment_next_for(expert=experts[0]).swapped)
    assert 0 < sum(swapped) < 40


@pytest.mark.django_db(transaction=True)
def test_many_experts_pressing_next_at_the_same_instant_never_share_a_slot(campaign, django_user_model):
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    experts = [django_user_model.objects.create_user(username=f"c{i}", password="x") for i in range(12)]
    for expert in experts:
        campaign_member_add(campaign=campaign, user=expert, role="expert")
    VideoPairFactory.create_batch(5, campaign=campaign)  # 10 slots at overlap 2, 12 experts x 2 tabs
    barrier = threading.Barrier(24)

    def press_next(expert):
        barrier.wait()
        try:
            return assignment_next_for(expert=expert).pk
        except NoPairAvailable:
            return None
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(press_next, experts + experts))

    assignments = Assignment.objects.all()
    assert assignments.count() == 10
    assert all(pair.assignments.count() == 2 == pair.assigned_count for pair in VideoPair.objects.all())
    assert assignments.values("pair", "expert").distinct().count() == 10
    # Both tabs of one expert got the same assignment, or both got nothing.
    by_expert = {}
    for expert, result in zip(experts + experts, results, strict=True):
        by_expert.setdefault(expert.pk, set()).add(result)
    assert all(len(results_of_expert) == 1 for results_of_expert in by_expert.values())


@pytest.mark.django_db(transaction=True)
def test_a_pair_held_by_a_slow_submit_is_waited_for_rather_than_reported_as_nothing_left(campaign, experts):
    """Five fixed retries gave up after 0.1 s; a submit under load holds its pair's row for longer."""
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    pair = VideoPairFactory(campaign=campaign)
    locked, release = threading.Event(), threading.Event()

    def hold_the_pair_like_a_submit():
        other = ConnectionHandler(connections.settings)["default"]
        try:
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT id FROM annotation_videopair WHERE id = %s FOR NO KEY UPDATE", [pair.pk])
                locked.set()
                release.wait(5)
                cursor.execute("COMMIT")
        finally:
            other.close()

    holder = threading.Thread(target=hold_the_pair_like_a_submit)
    holder.start()
    assert locked.wait(5)
    threading.Timer(0.6, release.set).start()
    try:
        assignment = assignment_next_for(expert=experts[0])
    finally:
        release.set()
        holder.join()

    assert assignment.pair_id == pair.pk
