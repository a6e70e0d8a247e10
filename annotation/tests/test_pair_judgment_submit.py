"""Submitting judgments: canonical storage, completeness, idempotency, revisions and locks."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from annotation.models import ChecklistAnswer, PairJudgment, PairJudgmentRevision
from annotation.services import (
    CampaignLocked,
    JudgmentConflict,
    assignment_create,
    campaign_lock,
    pair_judgment_submit,
    severe_from_display,
    verdicts_from_display,
)
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(campaign):
    return VideoPairFactory(campaign=campaign)


def _submit(assignment, campaign, pair, **overrides):
    criteria, dimensions = all_verdicts(campaign, 1)
    arguments = {
        "assignment": assignment,
        "criteria": criteria,
        "dimensions": dimensions,
        "checklist": all_checklist_yes(campaign, pair),
    }
    arguments.update(overrides)
    return pair_judgment_submit(**arguments)


def test_display_verdicts_are_stored_canonically_when_the_pair_was_shown_swapped():
    # Shown swapped: B on the left. "Left better" (+1 in display terms) means B is better (-1).
    assert verdicts_from_display(verdicts={"VA1": 1, "VF1": -1, "VP1": 0}, swapped=True) == {
        "VA1": -1,
        "VF1": 1,
        "VP1": 0,
    }
    assert verdicts_from_display(verdicts={"VA1": 1}, swapped=False) == {"VA1": 1}
    assert severe_from_display(severe={"left": {"VP": True}, "right": {}}, swapped=True) == {
        "A": {},
        "B": {"VP": True},
    }


def test_submit_stores_the_judgment_its_first_revision_and_the_filled_checklist(campaign, pair, expert):
    assignment = assignment_create(pair=pair, expert=expert, swapped=True)
    judgment = _submit(assignment, campaign, pair, time_spent_seconds=42.0)
    assignment.refresh_from_db()
    assert assignment.status == "submitted" and assignment.submitted_at is not None
    assert 0 <= assignment.time_spent_seconds <= 42.0
    assert judgment.revision == 1 and PairJudgmentRevision.objects.filter(judgment=judgment).count() == 1
    assert ChecklistAnswer.objects.filter(assignment=assignment, video=pair.video_a, annotator=expert).count() == 64
    assert not ChecklistAnswer.objects.filter(assignment=assignment, answer="no").exists()
    assert PairJudgmentRevision.objects.get(judgment=judgment).checklist[str(pair.video_b_id)] == {
        str(question_id): "yes" for question_id in campaign.checklist.questions.values_list("id", flat=True)
    }


def test_incomplete_checklist_is_refused_and_nothing_is_stored(campaign, pair, expert):
    assignment = assignment_create(pair=pair, expert=expert)
    answers = all_checklist_yes(campaign, pair)
    answers[pair.video_b_id] = {}
    with pytest.raises(ValidationError, match="64 questions unanswered"):
        _submit(assignment, campaign, pair, checklist=answers)
    assert not PairJudgment.objects.exists() and not ChecklistAnswer.objects.exists()


def test_missing_criteria_are_named_in_the_error(campaign, pair, expert):
    assignment = assignment_create(pair=pair, expert=expert)
    criteria, dimensions = all_verdicts(campaign)
    del criteria["VA3"], criteria["VP2"]
    with pytest.raises(ValidationError, match="missing: VA3, VP2"):
        _submit(assignment, campaign, pair, criteria=criteria, dimensions=dimensions)


def test_second_submit_from_another_tab_is_rejected_and_changes_nothing(campaign, pair, expert):
    assignment = assignment_create(pair=pair, expert=expert)
    _submit(assignment, campaign, pair)
    criteria, dimensions = all_verdicts(campaign, -1)
    with pytest.raises(JudgmentConflict, match="already submitted from another tab"):
        _submit(assignment, campaign, pair, criteria=criteria, dimensions=dimensions, base_revision=0)
    judgment = PairJudgment.objects.get()
    assert judgment.revision == 1 and set(judgment.criteria.values()) == {1}


def test_an_expert_revises_until_the_campaign_is_locked_and_history_is_kept(campaign, pair, expert):
    assignment = assignment_create(pair=pair, expert=expert)
    _submit(assignment, campaign, pair)
    criteria, dimensions = all_verdicts(campaign, 0)
    revised = _submit(assignment, campaign, pair, criteria=criteria, dimensions=dimensions, base_revision=1)
    assert revised.revision == 2 and set(revised.criteria.values()) == {0}
    history = list(PairJudgmentRevision.objects.filter(judgment=revised).values_list("revision", "dimensions"))
    assert history == [(1, {"VA": 1, "VF": 1, "VP": 1}), (2, {"VA": 0, "VF": 0, "VP": 0})]
    campaign_lock(campaign=campaign)
    with pytest.raises(CampaignLocked):
        _submit(assignment, campaign, pair, base_revision=2)
    assert PairJudgment.objects.get().revision == 2


@pytest.mark.django_db(transaction=True)
def test_a_double_click_racing_two_submits_stores_exactly_one_judgment(campaign, expert):
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    pair = VideoPairFactory(campaign=campaign)
    assignment = assignment_create(pair=pair, expert=expert)
    barrier = threading.Barrier(4)

    def click():
        barrier.wait()
        try:
            _submit(assignment, campaign, pair)
            return "saved"
        except JudgmentConflict:
            return "conflict"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(lambda _: click(), range(4)))
    assert outcomes == ["conflict", "conflict", "conflict", "saved"]
    assert PairJudgment.objects.count() == 1 and PairJudgmentRevision.objects.count() == 1
    assert ChecklistAnswer.objects.count() == 128
