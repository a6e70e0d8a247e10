"""Redis down: judging needs no job queue. An expert takes the next pair, autosaves and submits as usual while
Celery points at a port nothing listens on."""

import pytest
from django.urls import reverse

from annotation.models import Assignment, PairJudgment
from annotation.services import campaign_member_add
from annotation.tests.factories import VideoPairFactory, workbench_form

pytestmark = pytest.mark.django_db(transaction=True)


def _complete_form(campaign) -> dict:
    return workbench_form(campaign, time_spent_seconds="9", notes="steady")


def test_an_expert_takes_a_pair_autosaves_and_submits_with_the_job_queue_down(
    client, campaign, expert, broker_unreachable
):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    VideoPairFactory(campaign=campaign)
    client.force_login(expert)

    opened = broker_unreachable.answer(lambda: client.post(reverse("assignment-next")))
    assignment = Assignment.objects.get(expert=expert)
    assert opened.status_code == 302 and opened.url == reverse("workbench", args=[assignment.pk])
    saved = broker_unreachable.answer(
        lambda: client.post(reverse("draft-save", args=[assignment.pk]), {"notes": "first look"})
    )
    assert saved.status_code == 204
    submitted = broker_unreachable.answer(
        lambda: client.post(reverse("judgment-submit", args=[assignment.pk]), _complete_form(campaign))
    )

    assert submitted.status_code == 302
    judgment = PairJudgment.objects.get(assignment=assignment)
    assert judgment.notes == "steady"
