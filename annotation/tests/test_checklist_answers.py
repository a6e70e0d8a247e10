"""Checklist answers belong to the judgment's assignment: the same video judged in a second pair or a second
campaign is pre-filled from the expert's earlier answers, and answering it again never changes an earlier
judgment's answers. Readers of a campaign take one set per (video, expert): the latest submitted."""

import pytest
from django.urls import reverse

from agreement.tests.factories import checklist_complete
from annotation.checklist import checklist_unpack
from annotation.models import ChecklistAnswer, PairJudgmentRevision
from annotation.selectors import checklist_answer_sets
from annotation.services import (
    assignment_create,
    campaign_create,
    campaign_lock,
    campaign_member_add,
    pair_judgment_submit,
)
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts
from annotation.tests.workbench_page import workbench_state

pytestmark = pytest.mark.django_db


def _submit(assignment, checklist: dict, *, base_revision: int = 0):
    criteria, dimensions = all_verdicts(assignment.campaign, 1)
    return pair_judgment_submit(
        assignment=assignment,
        criteria=criteria,
        dimensions=dimensions,
        checklist=checklist,
        base_revision=base_revision,
    )


def _mostly_no(campaign, pair) -> dict[int, dict[int, str]]:
    """The weakest option of every sub-dimension answered no: a complete checklist unlike all_checklist_yes."""
    return {pair.video_a_id: checklist_complete(campaign), pair.video_b_id: checklist_complete(campaign)}


def _answers(assignment) -> dict[tuple[int, int], str]:
    rows = ChecklistAnswer.objects.filter(assignment=assignment).values_list("video_id", "question_id", "answer")
    return {(video_id, question_id): answer for video_id, question_id, answer in rows}


def _answers_of_video(assignment, video_id: int) -> dict[int, str]:
    return {question: answer for (video, question), answer in _answers(assignment).items() if video == video_id}


@pytest.fixture
def shared_video_pairs(campaign, expert):
    """Two pairs of one campaign that share their video A, the first judged by the expert (every answer yes)."""
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    first = VideoPairFactory(campaign=campaign, external_id="gen-sora-vs-veo-1")
    second = VideoPairFactory(campaign=campaign, video_a=first.video_a, external_id="gen-sora-vs-veo-2")
    first_assignment = assignment_create(pair=first, expert=expert, swapped=False)
    _submit(first_assignment, all_checklist_yes(campaign, first))
    return first_assignment, assignment_create(pair=second, expert=expert, swapped=False)


def test_the_same_video_in_a_second_pair_opens_with_the_first_answers_pre_filled(client, expert, shared_video_pairs):
    first, second = shared_video_pairs
    client.force_login(expert)

    page = client.get(reverse("workbench", args=[second.pk])).content.decode()

    shared = second.pair.video_a  # shown on the left: the assignment is not swapped
    expected = {
        f"checklist-left-{question_id}": answer
        for (video_id, question_id), answer in _answers(first).items()
        if video_id == shared.id
    }
    # The right video is new to the expert: nothing chosen for it.
    assert len(expected) == 64 and workbench_state(page)["values"] == expected
    note = page.split("data-prefill-note>")[1].split("</p>")[0]
    assert "Pre-filled from your earlier answers to this video in another pair (left video)" in note
    assert first.pair.external_id not in note and "sora" not in note


def test_answering_the_video_again_in_a_second_pair_leaves_the_first_judgments_answers_unchanged(
    campaign, shared_video_pairs
):
    first, second = shared_video_pairs
    before = _answers(first)

    _submit(second, _mostly_no(campaign, second.pair))

    assert len(before) == 128 and _answers(first) == before
    shared = second.pair.video_a_id
    assert len(_answers(second)) == 128
    assert {answer for (video, _), answer in _answers(second).items() if video == shared} != {"yes"}


def test_a_locked_campaigns_answers_stay_when_the_expert_answers_the_video_in_another_campaign(
    client, campaign, expert, shared_video_pairs
):
    first, _ = shared_video_pairs
    before = _answers(first)
    campaign_lock(campaign=campaign)
    other = campaign_create(name="second-campaign")  # the same default checklist version
    campaign_member_add(campaign=other, user=expert, role="expert")
    pair = VideoPairFactory(campaign=other, video_b=first.pair.video_a)
    assignment = assignment_create(pair=pair, expert=expert, swapped=True)  # the shared video B shows on the left
    client.force_login(expert)

    page = client.get(reverse("workbench", args=[assignment.pk])).content.decode()
    values = workbench_state(page)["values"]
    assert "data-prefill-note" in page and len(values) == 64
    assert all(field.startswith("checklist-left-") for field in values)  # the shared video B shows on the left

    _submit(assignment, _mostly_no(other, pair))

    assert _answers(first) == before and len(before) == 128
    assert len(_answers(assignment)) == 128


def test_each_revision_keeps_the_checklist_it_was_submitted_with(campaign, expert):
    pair = VideoPairFactory(campaign=campaign)
    assignment = assignment_create(pair=pair, expert=expert)
    judgment = _submit(assignment, all_checklist_yes(campaign, pair))
    _submit(assignment, _mostly_no(campaign, pair), base_revision=judgment.revision)

    first, second = PairJudgmentRevision.objects.filter(judgment=judgment).order_by("revision")
    assert set(first.checklist) == set(second.checklist) == {str(pair.video_a_id), str(pair.video_b_id)}
    assert all(len(answers) == 64 for answers in first.checklist.values())
    assert {answer for answers in first.checklist.values() for answer in answers.values()} == {"yes"}
    stored = {str(pair.video_a_id): {}, str(pair.video_b_id): {}}  # the assignment holds the second revision's
    for (video_id, question_id), answer in _answers(assignment).items():
        stored[str(video_id)][str(question_id)] = answer
    assert second.checklist == stored and "no" in {a for answers in stored.values() for a in answers.values()}


def test_readers_take_the_answers_of_the_experts_latest_submitted_assignment_of_a_video(
    campaign, expert, shared_video_pairs
):
    first, second = shared_video_pairs
    _submit(second, _mostly_no(campaign, second.pair))
    shared = second.pair.video_a_id

    sets = checklist_answer_sets(campaign=campaign)

    videos = sets.video_ids.tolist()
    assert sorted(videos) == sorted([first.pair.video_b_id, shared, second.pair.video_b_id])
    assert set(sets.annotator_ids.tolist()) == {expert.pk}
    assert sets.answers_of(videos.index(shared)) == _answers_of_video(second, shared)
    assert sets.answers_of(videos.index(first.pair.video_b_id)) == _answers_of_video(first, first.pair.video_b_id)
    assert "no" in sets.answers_of(videos.index(shared)).values()
    only_shared = checklist_answer_sets(campaign=campaign, video_ids=[shared])
    assert only_shared.video_ids.tolist() == [shared]
    assert only_shared.answers_of(0) == _answers_of_video(second, shared)


def test_an_open_assignment_with_a_draft_or_a_judgment_is_not_pre_filled(client, expert, shared_video_pairs):
    _, second = shared_video_pairs
    client.force_login(expert)
    client.post(reverse("draft-save", args=[second.pk]), {"notes": "started"})

    page = client.get(reverse("workbench", args=[second.pk])).content.decode()

    assert "data-prefill-note" not in page and workbench_state(page)["values"] == {}


def test_a_revision_packs_the_answers_it_stores_for_video_a_and_video_b(campaign, expert):
    pair = VideoPairFactory(campaign=campaign)
    assignment = assignment_create(pair=pair, expert=expert)
    judgment = _submit(assignment, all_checklist_yes(campaign, pair))
    assert judgment.checklist_a == judgment.checklist_b == "y" * 64

    _submit(assignment, _mostly_no(campaign, pair), base_revision=judgment.revision)

    judgment.refresh_from_db()
    question_ids = sorted(campaign.checklist.questions.values_list("id", flat=True))
    answers = _answers(assignment)
    for video_id, packed in ((pair.video_a_id, judgment.checklist_a), (pair.video_b_id, judgment.checklist_b)):
        assert checklist_unpack(question_ids, packed) == {
            question_id: answer for (video, question_id), answer in answers.items() if video == video_id
        }
    assert "n" in judgment.checklist_a
