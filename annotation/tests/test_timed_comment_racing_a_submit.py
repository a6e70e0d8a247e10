"""A note racing the submit of its own judgment on PostgreSQL: it waits for the submit's row lock on the assignment
and is then refused, so no note is ever added to a judgment after it was submitted."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from annotation.models import TimedComment
from annotation.services import (
    CommentsClosed,
    assignment_create,
    campaign_member_add,
    pair_judgment_submit,
    timed_comment_add,
)
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_note_sent_while_the_judgment_is_being_submitted_waits_and_is_refused(campaign, expert):
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pair = VideoPairFactory(campaign=campaign)
    assignment = assignment_create(pair=pair, expert=expert)
    criteria, dimensions = all_verdicts(campaign)
    checklist = all_checklist_yes(campaign, pair)
    submit_holds_its_locks, let_submit_commit = threading.Event(), threading.Event()

    def submit() -> None:
        try:
            with transaction.atomic():
                pair_judgment_submit(
                    assignment=assignment, criteria=criteria, dimensions=dimensions, checklist=checklist
                )
                submit_holds_its_locks.set()
                let_submit_commit.wait(timeout=20)
        finally:
            connection.close()

    def note() -> str:
        try:
            timed_comment_add(assignment=assignment, seconds=0.5, side="both", text="sent at the last moment")
            return "stored"
        except CommentsClosed:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        submitting = pool.submit(submit)
        assert submit_holds_its_locks.wait(timeout=20)
        noting = pool.submit(note)
        time.sleep(0.5)
        assert not noting.done(), "the note must wait for the submit's lock on the assignment"
        let_submit_commit.set()
        submitting.result(timeout=20)
        assert noting.result(timeout=20) == "refused"

    assert not TimedComment.objects.exists()
