"""Skip and flag: a skipped pair waits behind the expert's new pairs and is never lost; a flagged pair goes to its
campaign's curators and is never counted as a judgment."""

import numpy as np
import pytest
from django.urls import reverse

from agreement.selectors import agreement_fingerprint, campaign_ratings
from annotation.models import Assignment, PairFlag, PairJudgment
from annotation.services import (
    assignment_create,
    assignment_next_for,
    campaign_create,
    campaign_lock,
    campaign_member_add,
    pair_flag,
    pair_judgment_submit,
)
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts

pytestmark = pytest.mark.django_db


@pytest.fixture
def expert_in_campaign(campaign, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    return expert


def test_a_skipped_pair_comes_back_after_the_new_pairs_not_lost(client, campaign, expert_in_campaign):
    first_pair, second_pair = VideoPairFactory.create_batch(2, campaign=campaign)
    client.force_login(expert_in_campaign)
    first = assignment_next_for(expert=expert_in_campaign)

    response = client.post(reverse("assignment-skip", args=[first.pk]))

    second = Assignment.objects.get(expert=expert_in_campaign, pair__in=[first_pair, second_pair], skipped_at=None)
    assert second.pk != first.pk
    assert response.url == reverse("workbench", args=[second.pk])
    # The skipped pair keeps its slot (no other expert takes it) and returns once nothing new is waiting.
    first.pair.refresh_from_db()
    assert first.pair.assigned_count == 1
    Assignment.objects.filter(pk=second.pk).update(status=Assignment.Status.SUBMITTED)
    assert assignment_next_for(expert=expert_in_campaign).pk == first.pk


def test_a_submitted_judgment_cannot_be_skipped(client, campaign, expert_in_campaign):
    assignment = assignment_create(pair=VideoPairFactory(campaign=campaign), expert=expert_in_campaign)
    Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.SUBMITTED)
    client.force_login(expert_in_campaign)
    response = client.post(reverse("assignment-skip", args=[assignment.pk]))
    assert response.status_code == 400
    assert Assignment.objects.get(pk=assignment.pk).skipped_at is None


def test_a_flag_is_stored_with_its_reason_and_the_expert_moves_on(client, campaign, expert_in_campaign):
    flagged_pair, _other = VideoPairFactory.create_batch(2, campaign=campaign)
    assignment = assignment_create(pair=flagged_pair, expert=expert_in_campaign)
    client.force_login(expert_in_campaign)

    response = client.post(reverse("pair-flag", args=[assignment.pk]), {"reason": "identical_videos", "text": ""})

    flag = PairFlag.objects.get()
    assert (flag.pair, flag.expert, flag.reason) == (flagged_pair, expert_in_campaign, "identical_videos")
    following = Assignment.objects.exclude(pk=assignment.pk).get()
    assert response.url == reverse("workbench", args=[following.pk])
    assert Assignment.objects.get(pk=assignment.pk).skipped_at is not None


def test_other_needs_words_and_an_unknown_reason_is_refused(client, campaign, expert_in_campaign):
    assignment = assignment_create(pair=VideoPairFactory(campaign=campaign), expert=expert_in_campaign)
    client.force_login(expert_in_campaign)
    response = client.post(reverse("pair-flag", args=[assignment.pk]), {"reason": "other", "text": "  "})
    assert response.status_code == 400
    assert "Say what is wrong with the pair." in response.content.decode()
    response = client.post(reverse("pair-flag", args=[assignment.pk]), {"reason": "boring", "text": ""})
    assert response.status_code == 400
    assert not PairFlag.objects.exists()
    client.post(reverse("pair-flag", args=[assignment.pk]), {"reason": "other", "text": "audio out of sync"})
    assert PairFlag.objects.get().text == "audio out of sync"


def test_a_locked_campaign_takes_no_flag(client, campaign, expert_in_campaign):
    assignment = assignment_create(pair=VideoPairFactory(campaign=campaign), expert=expert_in_campaign)
    campaign_lock(campaign=campaign)
    client.force_login(expert_in_campaign)
    response = client.post(reverse("pair-flag", args=[assignment.pk]), {"reason": "broken_video"})
    assert response.status_code == 409
    assert not PairFlag.objects.exists()


def _what_agreement_reads(campaign) -> tuple:
    verdicts = campaign_ratings(campaign=campaign).verdicts
    ratings = np.nan_to_num(verdicts.ratings, nan=-99).tolist()
    return agreement_fingerprint(campaign=campaign), verdicts.rater_ids, verdicts.item_ids, ratings


def test_a_flag_never_counts_as_a_judgment(campaign, expert_in_campaign, other_expert):
    """One pair judged by one expert and flagged by another: agreement reads the same judgments before and after."""
    campaign_member_add(campaign=campaign, user=other_expert, role="expert")
    pair = VideoPairFactory(campaign=campaign)
    criteria, dimensions = all_verdicts(campaign, 1)
    pair_judgment_submit(
        assignment=assignment_create(pair=pair, expert=expert_in_campaign, swapped=False),
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, pair),
    )
    before = _what_agreement_reads(campaign)

    pair_flag(assignment=assignment_create(pair=pair, expert=other_expert), reason="offensive_content")

    assert _what_agreement_reads(campaign) == before
    assert PairJudgment.objects.count() == 1


def test_only_curators_of_that_campaign_see_its_flag_queue(client, campaign, expert_in_campaign, curator):
    assignment = assignment_create(
        pair=VideoPairFactory(campaign=campaign, external_id="dusk-17"), expert=expert_in_campaign
    )
    client.force_login(expert_in_campaign)
    client.post(reverse("pair-flag", args=[assignment.pk]), {"reason": "broken_video", "text": "right side is black"})
    queue = reverse("pair-flag-queue", args=[campaign.pk])
    assert client.get(queue).status_code == 403

    client.force_login(curator)
    page = client.get(queue).content.decode()
    assert "dusk-17" in page and "Broken video" in page and "right side is black" in page and "expert-ada" in page

    elsewhere = campaign_create(name="elsewhere", overlap=1)
    campaign_member_add(campaign=elsewhere, user=curator, role="curator")
    assert client.get(reverse("pair-flag-queue", args=[elsewhere.pk])).status_code == 200
    assert "dusk-17" not in client.get(reverse("pair-flag-queue", args=[elsewhere.pk])).content.decode()
    outsider = campaign_create(name="outsider", overlap=1)
    assert client.get(reverse("pair-flag-queue", args=[outsider.pk])).status_code == 403
