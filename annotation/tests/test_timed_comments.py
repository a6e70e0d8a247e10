"""Time-stamped comments: an expert's note pinned to a moment of the pair, stored with the player's time and a
canonical side, deletable by its author while the assignment is open, refused once the judgment is submitted or
the campaign locked, never counted as a judgment, and shown to the pair's curators in adjudication."""

import numpy as np
import pytest
from django.urls import reverse

from agreement.selectors import agreement_fingerprint, campaign_ratings
from annotation.models import Assignment, PairJudgment, TimedComment
from annotation.services import (
    CommentsClosed,
    assignment_create,
    campaign_lock,
    campaign_member_add,
    pair_judgment_submit,
    timed_comment_add,
)
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts

pytestmark = pytest.mark.django_db


@pytest.fixture
def expert_in_campaign(campaign, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    return expert


@pytest.fixture
def swapped_assignment(campaign, expert_in_campaign):
    """Video B shown on the left: the expert's "left" is canonical B."""
    return assignment_create(
        pair=VideoPairFactory(campaign=campaign, external_id="dusk-7"), expert=expert_in_campaign, swapped=True
    )


def _add(client, assignment, **fields):
    data = {"seconds": "1.250", "side": "both", "text": "the horizon wobbles", **fields}
    return client.post(reverse("timed-comment-add", args=[assignment.pk]), data)


def test_a_note_keeps_the_time_and_the_side_in_canonical_terms(client, swapped_assignment, expert_in_campaign):
    client.force_login(expert_in_campaign)

    response = _add(client, swapped_assignment, seconds="0.625", side="left", text="  a hand grows a sixth finger ")

    assert response.status_code == 201
    comment = TimedComment.objects.get()
    assert (comment.assignment, comment.seconds, comment.side) == (swapped_assignment, 0.625, "B")
    assert comment.text == "a hand grows a sixth finger"
    # The expert gets it back as they saw it: left, never A or B (blind judging).
    assert response.json()["side"] == "left" and response.json()["seconds"] == 0.625


def test_both_sides_is_the_default_and_the_notes_survive_a_reload(client, swapped_assignment, expert_in_campaign):
    client.force_login(expert_in_campaign)
    _add(client, swapped_assignment, seconds="1.5", side="both", text="both flicker here")
    _add(client, swapped_assignment, seconds="0.25", side="right", text="right: logo appears")

    page = client.get(reverse("workbench", args=[swapped_assignment.pk]))

    notes = page.context["timed_comments"]
    assert [(note["seconds"], note["side"], note["text"]) for note in notes] == [
        (0.25, "right", "right: logo appears"),
        (1.5, "both", "both flicker here"),
    ]
    assert TimedComment.objects.get(text="right: logo appears").side == "A"
    assert 'id="timed-comments-data"' in page.content.decode()


def test_a_blank_note_a_bad_side_and_a_time_past_the_end_are_refused(client, swapped_assignment, expert_in_campaign):
    client.force_login(expert_in_campaign)
    assert _add(client, swapped_assignment, text="   ").json() == {"error": "Write the note first."}
    assert _add(client, swapped_assignment, side="top").status_code == 400
    past_the_end = _add(client, swapped_assignment, seconds="9.0")  # the factory's videos last 2 s
    assert past_the_end.status_code == 400 and "past the end" in past_the_end.json()["error"]
    assert _add(client, swapped_assignment, seconds="-1").status_code == 400
    assert _add(client, swapped_assignment, seconds="nan").status_code == 400
    assert _add(client, swapped_assignment, seconds="soon").status_code == 400
    assert not TimedComment.objects.exists()


def test_the_same_note_from_two_tabs_is_stored_twice(client, swapped_assignment, expert_in_campaign):
    client.force_login(expert_in_campaign)
    assert _add(client, swapped_assignment).status_code == 201
    assert _add(client, swapped_assignment).status_code == 201
    assert TimedComment.objects.count() == 2


def test_a_submitted_judgment_takes_no_more_notes(client, campaign, swapped_assignment, expert_in_campaign):
    client.force_login(expert_in_campaign)
    kept = _add(client, swapped_assignment, text="before submitting").json()
    criteria, dimensions = all_verdicts(campaign)
    pair_judgment_submit(
        assignment=swapped_assignment,
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, swapped_assignment.pair),
    )

    refused = _add(client, swapped_assignment, text="after submitting")
    delete = client.post(kept["delete_url"])

    assert refused.status_code == 409 and "submitted" in refused.json()["error"]
    assert delete.status_code == 409
    assert list(TimedComment.objects.values_list("text", flat=True)) == ["before submitting"]
    page = client.get(reverse("workbench", args=[swapped_assignment.pk]))
    assert page.context["comments_open"] is False


def test_a_locked_campaign_takes_no_notes_and_keeps_the_ones_it_has(
    client, campaign, swapped_assignment, expert_in_campaign
):
    client.force_login(expert_in_campaign)
    kept = _add(client, swapped_assignment).json()
    campaign_lock(campaign=campaign)

    refused = _add(client, swapped_assignment, text="too late")

    assert refused.status_code == 409 and "locked" in refused.json()["error"]
    assert client.post(kept["delete_url"]).status_code == 409
    assert TimedComment.objects.count() == 1
    with pytest.raises(CommentsClosed):
        timed_comment_add(assignment=swapped_assignment, seconds=0.5, side="A", text="by the service")


def test_only_the_author_deletes_a_note(client, swapped_assignment, expert_in_campaign, other_expert, curator):
    client.force_login(expert_in_campaign)
    note = _add(client, swapped_assignment).json()

    client.force_login(other_expert)
    assert client.post(note["delete_url"]).status_code == 404
    assert _add(client, swapped_assignment, text="not mine").status_code == 404
    client.force_login(curator)  # curators read the assignment, but write nothing in it
    assert client.post(note["delete_url"]).status_code == 404
    assert TimedComment.objects.count() == 1

    client.force_login(expert_in_campaign)
    assert client.post(note["delete_url"]).status_code == 204
    assert not TimedComment.objects.exists()
    assert client.post(note["delete_url"]).status_code == 204  # already gone (another tab): nothing to do


def _what_agreement_reads(campaign) -> tuple:
    verdicts = campaign_ratings(campaign=campaign).verdicts
    ratings = np.nan_to_num(verdicts.ratings, nan=-99).tolist()
    return agreement_fingerprint(campaign=campaign), verdicts.rater_ids, verdicts.item_ids, ratings


def test_a_note_is_never_a_judgment_and_never_fills_the_overlap(campaign, expert_in_campaign, other_expert):
    campaign_member_add(campaign=campaign, user=other_expert, role="expert")
    pair = VideoPairFactory(campaign=campaign)
    criteria, dimensions = all_verdicts(campaign, 1)
    pair_judgment_submit(
        assignment=assignment_create(pair=pair, expert=expert_in_campaign, swapped=False),
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, pair),
    )
    noted = assignment_create(pair=pair, expert=other_expert, swapped=False)
    before = _what_agreement_reads(campaign)

    for seconds in (0.0, 0.5, 1.0):
        timed_comment_add(assignment=noted, seconds=seconds, side="both", text="the water freezes")

    assert _what_agreement_reads(campaign) == before
    assert PairJudgment.objects.count() == 1
    assert Assignment.objects.get(pk=noted.pk).status == Assignment.Status.ASSIGNED
    pair.refresh_from_db()
    assert pair.assigned_count == 2


def test_curators_see_every_experts_notes_in_adjudication(
    client, campaign, swapped_assignment, expert_in_campaign, other_expert, curator
):
    campaign_member_add(campaign=campaign, user=other_expert, role="expert")
    pair = swapped_assignment.pair
    other = assignment_create(pair=pair, expert=other_expert, swapped=False)
    timed_comment_add(assignment=swapped_assignment, seconds=1.25, side="B", text="B's sky tears <b>apart</b>")
    timed_comment_add(assignment=other, seconds=0.5, side="both", text="both lose the boat")

    client.force_login(curator)
    page = client.get(reverse("agreement-pair", args=[campaign.pk, pair.pk])).content.decode()

    assert 'data-comments-of="expert-ada"' in page and 'data-comments-of="expert-bo"' in page
    assert 'data-seconds="1.250" data-side="B"' in page
    assert "B&#x27;s sky tears &lt;b&gt;apart&lt;/b&gt;" in page  # escaped, never markup
    assert "both lose the boat" in page
    assert "(judgment not submitted yet)" in page
