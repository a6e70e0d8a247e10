"""A locked campaign is frozen: no first submit, revision, draft or checklist answer from any path, and a lock
racing a submit cannot let it slip through. The workbench shows it read-only with a banner. (No API writes
judgments or drafts: the workbench and import_judgments are the only paths; import is in
agreement/tests/test_import_judgments.py.)"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse

from annotation.models import Assignment, ChecklistAnswer, PairJudgment, PairJudgmentRevision
from annotation.services import (
    CampaignLocked,
    assignment_create,
    assignment_draft_save,
    campaign_lock,
    campaign_member_add,
    campaign_unlock,
    pair_judgment_submit,
)
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts, workbench_form
from annotation.tests.workbench_page import workbench_state
from webapp.testing import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_assignment(campaign, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    return assignment_create(pair=VideoPairFactory(campaign=campaign), expert=expert, swapped=False)


def _submit(assignment):
    criteria, dimensions = all_verdicts(assignment.campaign, 1)
    return pair_judgment_submit(
        assignment=assignment,
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(assignment.campaign, assignment.pair),
    )


def _complete_form(assignment) -> dict:
    return workbench_form(assignment.campaign)


def test_a_first_submit_after_the_lock_is_refused_by_the_workbench_and_stores_nothing(
    client, campaign, expert, open_assignment
):
    campaign_lock(campaign=campaign)
    client.force_login(expert)

    response = client.post(reverse("judgment-submit", args=[open_assignment.pk]), _complete_form(open_assignment))

    assert response.status_code == 409
    assert "Campaign test-campaign is locked; judgments are final" in response.content.decode()
    assert not PairJudgment.objects.exists() and not ChecklistAnswer.objects.exists()
    assert Assignment.objects.get().status == Assignment.Status.ASSIGNED


def test_a_draft_after_the_lock_is_refused_with_423_and_not_saved(client, campaign, expert, open_assignment):
    client.force_login(expert)
    url = reverse("draft-save", args=[open_assignment.pk])
    assert client.post(url, {"notes": "before"}).status_code == 204
    campaign_lock(campaign=campaign)

    response = client.post(url, {"notes": "after", "checklist-left-1": "yes"})

    assert response.status_code == 423
    assert response.content.decode() == "Campaign test-campaign is locked; drafts are no longer saved."
    assert Assignment.objects.get().draft == {"notes": "before"}


def test_the_workbench_of_a_locked_campaign_is_read_only_with_a_banner(client, campaign, expert, open_assignment):
    _submit(open_assignment)
    campaign_lock(campaign=campaign)
    client.force_login(expert)

    page = client.get(reverse("workbench", args=[open_assignment.pk])).content.decode()

    assert "Campaign test-campaign is locked: judgments are final and nothing here can be changed." in page
    assert 'data-read-only="true"' in page and "data-submit" not in page
    radios = page.count('type="radio"')
    assert radios > 0 and page.count(" disabled>") >= radios  # every radio and box is disabled
    values = workbench_state(page)["values"]
    answers = {field: value for field, value in values.items() if field.startswith("checklist")}
    assert len(answers) == 128 and 'name="checklist-left-' in page  # the submitted answers are shown


def test_services_refuse_a_first_submit_a_revision_and_a_draft_in_a_locked_campaign(campaign, expert):
    judged = assignment_create(pair=VideoPairFactory(campaign=campaign), expert=expert)
    _submit(judged)
    fresh = assignment_create(pair=VideoPairFactory(campaign=campaign), expert=expert)
    campaign_lock(campaign=campaign)

    with pytest.raises(CampaignLocked, match="is locked"):
        _submit(fresh)
    with pytest.raises(CampaignLocked, match="is locked"):
        criteria, dimensions = all_verdicts(campaign, 0)
        pair_judgment_submit(
            assignment=judged,
            criteria=criteria,
            dimensions=dimensions,
            checklist=all_checklist_yes(campaign, judged.pair),
            base_revision=1,
        )
    with pytest.raises(CampaignLocked, match="drafts are no longer saved"):
        assignment_draft_save(assignment=fresh, draft={"notes": "x"})

    assert PairJudgment.objects.count() == 1 == PairJudgmentRevision.objects.count()
    assert ChecklistAnswer.objects.filter(assignment=fresh).count() == 0
    campaign_unlock(campaign=campaign)
    assert _submit(fresh).revision == 1


def test_a_bad_draft_is_refused_before_anything_is_written(open_assignment):
    with pytest.raises(ValidationError):
        assignment_draft_save(assignment=open_assignment, draft=["not", "an", "object"])
    assert Assignment.objects.get().draft == {}


@pytest.mark.django_db(transaction=True)
def test_a_submit_racing_a_lock_waits_for_it_and_is_refused(campaign, expert):
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    assignment = assignment_create(pair=VideoPairFactory(campaign=campaign), expert=expert)
    locked_not_committed, commit = threading.Event(), threading.Event()

    def lock_and_hold():
        try:
            with transaction.atomic():
                campaign_lock(campaign=campaign)
                locked_not_committed.set()
                commit.wait(60)
        finally:
            connection.close()

    def submit():
        try:
            _submit(assignment)
            return "saved"
        except CampaignLocked:
            return "refused"
        finally:
            connection.close()

    def a_backend_waits_on_a_row_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0] > 0

    with ThreadPoolExecutor(max_workers=2) as pool:
        holder = pool.submit(lock_and_hold)
        assert locked_not_committed.wait(60)
        outcome = pool.submit(submit)
        wait_until(a_backend_waits_on_a_row_lock, timeout=60, message="the submit to wait for the lock")
        commit.set()
        holder.result()
        assert outcome.result() == "refused"

    assert not PairJudgment.objects.exists() and not ChecklistAnswer.objects.exists()
