"""Submits under load on PostgreSQL: 20 experts submit through the workbench view (which then takes their next
pair) at the same time, each on its own database connection. Before submits locked only their assignment row,
a submit locked the campaign and pair rows too and deadlocked against "next pair" creating an assignment."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from annotation.models import Assignment, ChecklistAnswer, PairJudgment
from annotation.services import campaign_create, campaign_member_add
from annotation.tests.factories import VideoPairFactory, workbench_form

pytestmark = pytest.mark.django_db(transaction=True)

EXPERTS = 20
SUBMITS_EACH = 4


def _complete_form(campaign) -> dict:
    return workbench_form(campaign, criterion_verdict="same", then="next")


def test_twenty_experts_submitting_while_others_take_next_pairs_never_deadlock(django_user_model):
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    campaign = campaign_create(name="under-load", overlap=3)
    experts = [django_user_model.objects.create_user(username=f"load-{i}", password="x") for i in range(EXPERTS)]
    for expert in experts:
        campaign_member_add(campaign=campaign, user=expert, role="expert")
    # Each expert's last submit takes a fifth pair ("then next"): 100 slots wanted, so fewer than 34 pairs at
    # overlap 3 let fast experts take the slots a slow one needs for their fourth.
    VideoPairFactory.create_batch(EXPERTS * (SUBMITS_EACH + 1) // 3 + 5, campaign=campaign)
    form = _complete_form(campaign)
    barrier = threading.Barrier(EXPERTS)

    def expert_works(expert) -> list[int]:
        client = Client()
        client.force_login(expert)
        statuses = []
        try:
            barrier.wait()
            location = client.post(reverse("assignment-next")).url
            for _ in range(SUBMITS_EACH):
                opened = re.search(r"/work/assignments/(\d+)/", location)
                if opened is None:
                    break
                response = client.post(reverse("judgment-submit", args=[int(opened.group(1))]), form)
                statuses.append(response.status_code)
                location = response.get("Location", "")
        finally:
            connection.close()
        return statuses

    with ThreadPoolExecutor(max_workers=EXPERTS) as pool:
        statuses = [status for result in pool.map(expert_works, experts) for status in result]

    assert statuses == [302] * (EXPERTS * SUBMITS_EACH)
    submitted = Assignment.objects.filter(status=Assignment.Status.SUBMITTED)
    assert submitted.count() == PairJudgment.objects.count() == EXPERTS * SUBMITS_EACH
    assert ChecklistAnswer.objects.count() == 128 * EXPERTS * SUBMITS_EACH
