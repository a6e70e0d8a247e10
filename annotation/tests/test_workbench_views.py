"""The workbench over HTTP: who may see what, autosave, submit, and bounded query counts."""

import pytest
from django.urls import reverse

from annotation.models import Assignment, PairJudgment
from annotation.services import assignment_create, campaign_member_add, pair_judgment_submit
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts, workbench_form
from annotation.tests.workbench_page import workbench_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def members(campaign, expert, other_expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    campaign_member_add(campaign=campaign, user=other_expert, role="expert")
    return expert, other_expert


@pytest.fixture
def assignment(campaign, members):
    pair = VideoPairFactory(campaign=campaign)
    return assignment_create(pair=pair, expert=members[0], swapped=True)


def _complete_form(assignment, choice="left", **extra) -> dict:
    return workbench_form(
        assignment.campaign, verdict=choice, **{"time_spent_seconds": "12.5", "notes": "crisp", **extra}
    )


def test_next_pair_opens_the_workbench_with_the_pair_in_its_display_order(client, members, campaign):
    VideoPairFactory(campaign=campaign)
    client.force_login(members[0])
    response = client.post(reverse("assignment-next"))
    assignment = Assignment.objects.get(expert=members[0])
    assert response.url == reverse("workbench", args=[assignment.pk])
    page = client.get(response.url).content.decode()
    left = assignment.pair.video_b if assignment.swapped else assignment.pair.video_a
    assert page.index(left.proxy.url) < page.index(
        (assignment.pair.video_a if assignment.swapped else assignment.pair.video_b).proxy.url
    )
    for code in ("VA1", "VA7", "VF5", "VP3"):
        assert f'name="criterion-{code}"' in page
    assert page.count('name="checklist-left-') == 64 * 3


def test_next_pair_with_nothing_left_says_so(client, members):
    client.force_login(members[0])
    response = client.post(reverse("assignment-next"), follow=True)
    assert "No pair is waiting for you" in response.content.decode()


def test_an_expert_cannot_open_or_write_another_experts_assignment(client, assignment, members):
    client.force_login(members[1])
    assert client.get(reverse("workbench", args=[assignment.pk])).status_code == 404
    assert client.post(reverse("draft-save", args=[assignment.pk]), {"notes": "x"}).status_code == 404
    assert client.post(reverse("judgment-submit", args=[assignment.pk]), _complete_form(assignment)).status_code == 404
    assignment.refresh_from_db()
    assert assignment.draft == {} and not PairJudgment.objects.exists()


def test_experts_never_see_other_experts_judgments_of_a_pair(client, campaign, members):
    pair = VideoPairFactory(campaign=campaign)
    theirs = assignment_create(pair=pair, expert=members[1])
    criteria, dimensions = all_verdicts(campaign, -1)
    pair_judgment_submit(
        assignment=theirs,
        criteria=criteria,
        dimensions=dimensions,
        notes="SECRET-NOTE",
        checklist=all_checklist_yes(campaign, pair),
    )
    mine = assignment_create(pair=pair, expert=members[0])
    client.force_login(members[0])
    page = client.get(reverse("workbench", args=[mine.pk])).content.decode()
    assert "SECRET-NOTE" not in page and " checked" not in page and workbench_state(page)["values"] == {}


def test_a_curator_reads_any_assignment_but_cannot_write_it(client, assignment, curator):
    client.force_login(curator)
    page = client.get(reverse("workbench", args=[assignment.pk]))
    assert page.status_code == 200 and "read-only" in page.content.decode()
    assert client.post(reverse("draft-save", args=[assignment.pk]), {"notes": "x"}).status_code == 404


def test_autosave_keeps_the_draft_and_the_page_restores_it(client, assignment, members):
    client.force_login(members[0])
    response = client.post(reverse("draft-save", args=[assignment.pk]), {"criterion-VA1": "right", "notes": "hmm"})
    assert response.status_code == 204
    page = client.get(reverse("workbench", args=[assignment.pk])).content.decode()
    assert workbench_state(page)["values"] == {"criterion-VA1": "right"}
    assert ">hmm</textarea>" in page


def test_submit_lists_the_missing_criteria(client, assignment, members):
    client.force_login(members[0])
    data = _complete_form(assignment)
    del data["criterion-VA2"], data["dimension-VP"]
    response = client.post(reverse("judgment-submit", args=[assignment.pk]), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Missing verdicts: <span data-missing-list>VA2, VP</span>" in page
    state = workbench_state(page)
    assert state["missing"] == ["VA2", "VP"] and state["values"]["criterion-VA1"] == data["criterion-VA1"]
    assert not PairJudgment.objects.exists()


def test_submit_stores_canonical_verdicts_and_a_second_tab_gets_a_clear_message(client, assignment, members):
    client.force_login(members[0])
    url = reverse("judgment-submit", args=[assignment.pk])
    assert client.post(url, _complete_form(assignment, "left")).status_code == 302
    judgment = PairJudgment.objects.get()
    # Shown swapped: the left video is B, so "left better" is stored as -1.
    assert set(judgment.criteria.values()) == {-1} and judgment.dimensions == {"VA": -1, "VF": -1, "VP": -1}
    second = client.post(url, _complete_form(assignment, "right"))
    assert second.status_code == 409
    assert "already submitted from another tab or device" in second.content.decode()
    assert PairJudgment.objects.get().dimensions == {"VA": -1, "VF": -1, "VP": -1}


def test_a_revision_starts_from_the_submitted_judgment_in_display_terms(client, assignment, members):
    client.force_login(members[0])
    url = reverse("judgment-submit", args=[assignment.pk])
    client.post(url, _complete_form(assignment, "left"))
    page = client.get(reverse("workbench", args=[assignment.pk])).content.decode()
    assert workbench_state(page)["values"]["criterion-VA1"] == "left" and "revision 1" in page
    assert 'name="base_revision" value="1"' in page
    client.post(url, _complete_form(assignment, "same", base_revision="1"))
    assert PairJudgment.objects.get().revision == 2


def test_home_shows_progress_per_campaign(client, assignment, members, campaign):
    client.force_login(members[0])
    page = client.get(reverse("home")).content.decode()
    assert f"<td>{campaign.name}</td><td>0</td><td>1</td>" in page


def test_workbench_next_and_autosave_run_a_bounded_number_of_queries(
    client, campaign, members, django_assert_max_num_queries
):
    VideoPairFactory.create_batch(30, campaign=campaign)
    client.force_login(members[0])
    # In a test each view's own transaction (views.workbench_transaction) is a savepoint: 2 queries more than live.
    with django_assert_max_num_queries(14):  # 1 of them: the expert's last task number
        response = client.post(reverse("assignment-next"))
    assignment = Assignment.objects.get(expert=members[0])
    # 2 of them: the progress line (counts stopped at 1,000, the latest 50 active times); 1: notes on moments;
    # 3 read the rubric and checklist when the definition cache is cold (annotation.selectors.definition_cached)
    with django_assert_max_num_queries(18):
        assert client.get(response.url).status_code == 200
    with django_assert_max_num_queries(9):  # 3 of them: the campaign's lock check in a savepoint
        client.post(reverse("draft-save", args=[assignment.pk]), {"criterion-VA1": "left"})
    with django_assert_max_num_queries(40):
        client.post(reverse("judgment-submit", args=[assignment.pk]), _complete_form(assignment))


def test_a_curator_locks_the_campaign_and_revisions_are_refused(client, assignment, members, curator, campaign):
    client.force_login(members[0])
    url = reverse("judgment-submit", args=[assignment.pk])
    client.post(url, _complete_form(assignment, "left"))
    assert client.post(reverse("campaign-lock-toggle", args=[campaign.pk])).status_code == 403
    client.force_login(curator)
    client.post(reverse("campaign-lock-toggle", args=[campaign.pk]))
    campaign.refresh_from_db()
    assert campaign.status == "locked"
    client.force_login(members[0])
    refused = client.post(url, _complete_form(assignment, "same", base_revision="1"))
    assert refused.status_code == 409 and "is locked" in refused.content.decode()
    assert PairJudgment.objects.get().revision == 1


def test_workbench_renders_while_a_video_has_no_proxy_yet(client, assignment, members):
    video = assignment.pair.video_a
    type(video).objects.filter(pk=video.pk).update(proxy="", poster="", status="pending")
    client.force_login(members[0])
    response = client.get(reverse("workbench", args=[assignment.pk]))
    assert response.status_code == 200 and response.content.decode().count("<video") == 2
