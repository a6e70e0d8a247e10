"""Removing an expert releases their open pairs, but never a judgment: a submit in flight when the curator removes
them finishes first, and its assignment, submitted by then, stays with its judgment. Real PostgreSQL row locks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from annotation.models import Assignment, PairJudgment, VideoPair
from annotation.services import assignment_create, campaign_member_add, campaign_member_remove, pair_judgment_submit
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts
from webapp.testing import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _a_backend_waits_on_a_row_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_a_submit_in_flight_when_its_expert_is_removed_keeps_its_judgment(campaign, expert):
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pair = VideoPairFactory(campaign=campaign)
    assignment = assignment_create(pair=pair, expert=expert, swapped=False)
    submitted_not_committed, commit = threading.Event(), threading.Event()

    def submit_and_hold():
        try:
            with transaction.atomic():
                criteria, dimensions = all_verdicts(campaign, 1)
                pair_judgment_submit(
                    assignment=assignment,
                    criteria=criteria,
                    dimensions=dimensions,
                    checklist=all_checklist_yes(campaign, pair),
                )
                submitted_not_committed.set()
                commit.wait(60)
        finally:
            connection.close()

    def remove():
        try:
            campaign_member_remove(campaign=campaign, user_id=expert.pk, role="expert")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        holder = pool.submit(submit_and_hold)
        assert submitted_not_committed.wait(60)
        removal = pool.submit(remove)
        wait_until(_a_backend_waits_on_a_row_lock, timeout=60, message="the removal to wait for the submit")
        commit.set()
        holder.result()
        removal.result()

    assert not campaign.memberships.filter(user=expert).exists()
    assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.SUBMITTED
    assert PairJudgment.objects.filter(assignment_id=assignment.pk).exists()
    assert VideoPair.objects.get(pk=pair.pk).assigned_count == 1
