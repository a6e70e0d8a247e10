"""The admin shows expert work read-only: a judgment, its revisions and its checklist answers change only through
a submit (which a locked campaign refuses), never by editing rows."""

import pytest
from django.urls import reverse

from annotation.models import ChecklistAnswer, PairJudgment, TimedComment
from annotation.services import assignment_create, pair_judgment_submit, timed_comment_add
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts

pytestmark = pytest.mark.django_db


def test_staff_read_judgments_and_checklist_answers_in_the_admin_but_cannot_change_or_delete_them(
    client, campaign, expert, django_user_model
):
    pair = VideoPairFactory(campaign=campaign)
    criteria, dimensions = all_verdicts(campaign, 1)
    assignment = assignment_create(pair=pair, expert=expert)
    note = timed_comment_add(assignment=assignment, seconds=1.0, side="A", text="the sky tears")
    judgment = pair_judgment_submit(
        assignment=assignment,
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, pair),
    )
    answer = ChecklistAnswer.objects.filter(assignment=judgment.assignment).first()
    client.force_login(django_user_model.objects.create_superuser(username="root", password="x"))

    for name, row in (("pairjudgment", judgment), ("checklistanswer", answer), ("timedcomment", note)):
        change = reverse(f"admin:annotation_{name}_change", args=[row.pk])
        assert client.get(change).status_code == 200  # view only
        assert client.post(change, {"answer": "no", "revision": 9}).status_code == 403
        delete = reverse(f"admin:annotation_{name}_delete", args=[row.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403

    answer.refresh_from_db()
    assert answer.answer == "yes" and PairJudgment.objects.get().revision == 1
    assert TimedComment.objects.get().text == "the sky tears"
