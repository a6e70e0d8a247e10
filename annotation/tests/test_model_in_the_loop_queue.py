"""Model-in-the-loop queue: in a campaign with a queue model, among pairs equally far from their target the ones the
model is unsure of, or disagrees with the experts' votes on, are handed out first; without one the queue is as
before. Real PostgreSQL; the races use threads on their own connections."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from annotation.model_queue import DISPUTED, UNCERTAIN, majority_vote, overall_vote, pair_model_priority
from annotation.models import Assignment, VideoPair
from annotation.services import (
    NoPairAvailable,
    assignment_next_for,
    campaign_create,
    campaign_member_add,
    campaign_model_priorities_recompute,
    campaign_queue_model_set,
    pair_judgment_submit,
)
from annotation.tests.factories import VideoPairFactory, all_checklist_yes, all_verdicts
from leaderboards.models import ModelJudgmentRun, ModelPairVerdict
from leaderboards.tests.factories import registered_model_make

pytestmark = pytest.mark.django_db

# --- The rule -------------------------------------------------------------------------------------------------


def test_an_experts_overall_vote_is_the_video_better_on_more_dimensions():
    assert overall_vote({"VA": 1, "VF": 1, "VP": -1}) == 1
    assert overall_vote({"VA": -1, "VF": 0, "VP": 0}) == -1
    assert overall_vote({"VA": 1, "VF": -1, "VP": 0}) == 0
    assert overall_vote({}) is None


def test_the_majority_is_the_verdict_most_experts_gave_and_a_tie_is_none():
    assert majority_vote([1, 1, -1]) == 1
    assert majority_vote([1, -1]) is None
    assert majority_vote([0, 0, 1]) == 0
    assert majority_vote([]) is None


@pytest.mark.parametrize(
    ("model_overall", "expert_votes", "priority"),
    [
        (1, [], 0),  # the model is sure and nobody has voted
        (1, [1, 1], 0),  # the model agrees with the experts
        (0, [], UNCERTAIN),  # "comparable": the model cannot tell
        (None, [-1], UNCERTAIN),  # an unreadable answer is doubt, not an opinion: no disagreement
        (1, [-1], DISPUTED),  # sure, and against the one vote so far
        (1, [-1, -1, 1], DISPUTED),  # against the majority (2 of 3)
        (1, [-1, 1], 0),  # a split vote has no majority to go against
        (0, [1, 1], UNCERTAIN + DISPUTED),  # "comparable" where the experts saw a winner
    ],
)
def test_priority_is_uncertainty_plus_a_larger_bonus_for_going_against_the_votes(model_overall, expert_votes, priority):
    judgments = [{"VA": vote, "VF": vote, "VP": vote} for vote in expert_votes]
    assert pair_model_priority(model_judged=True, model_overall=model_overall, expert_dimensions=judgments) == priority


def test_a_pair_the_model_has_not_judged_is_not_put_first():
    assert pair_model_priority(model_judged=False, model_overall=None, expert_dimensions=[{"VA": 1}]) == 0


# --- Through the queue and the submit -------------------------------------------------------------------------


@pytest.fixture
def experts(django_user_model):
    return [django_user_model.objects.create_user(username=f"judge-{i}", password="x") for i in range(6)]


def _campaign(experts, *, overlap=2, name="mitl"):
    campaign = campaign_create(name=name, overlap=overlap)
    for expert in experts:
        campaign_member_add(campaign=campaign, user=expert, role="expert")
    return campaign


def _model_with_verdicts(campaign, run_dir, verdicts: dict[int, int | None], *, name: str = "tiny-descore"):
    """A registered model with a finished run on `campaign` whose overall verdict per pair id is `verdicts` (None:
    an answer that did not parse)."""
    model = registered_model_make(campaign, run_dir, name=name)
    run = ModelJudgmentRun.objects.create(model=model, campaign=campaign, status=ModelJudgmentRun.Status.SUCCEEDED)
    ModelPairVerdict.objects.bulk_create(
        ModelPairVerdict(run=run, pair_id=pair_id, overall=overall, parse_error="" if overall is not None else "no")
        for pair_id, overall in verdicts.items()
    )
    return model


def _submit(campaign, assignment, verdict: int) -> None:
    criteria, dimensions = all_verdicts(campaign, verdict)
    pair_judgment_submit(
        assignment=assignment,
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, assignment.pair),
    )


def _priorities(campaign) -> dict[int, int]:
    return dict(VideoPair.objects.filter(campaign=campaign).values_list("pk", "model_priority"))


def test_without_a_queue_model_every_priority_is_0_and_pairs_go_out_in_the_order_they_were_added(experts):
    campaign = _campaign(experts, overlap=1)
    pairs = [VideoPairFactory(campaign=campaign) for _ in range(3)]

    served = [assignment_next_for(expert=expert, campaign=campaign).pair_id for expert in experts[:3]]

    assert served == [pair.pk for pair in pairs]
    assert set(_priorities(campaign).values()) == {0}


def test_with_a_queue_model_the_pair_it_doubts_goes_out_first(experts, tmp_path):
    campaign = _campaign(experts, overlap=1)
    sure, unreadable, comparable, not_judged = (VideoPairFactory(campaign=campaign) for _ in range(4))
    model = _model_with_verdicts(campaign, tmp_path / "run", {sure.pk: 1, unreadable.pk: None, comparable.pk: 0})

    campaign_queue_model_set(campaign=campaign, model=model)

    assert _priorities(campaign) == {sure.pk: 0, unreadable.pk: 1, comparable.pk: 1, not_judged.pk: 0}
    served = [assignment_next_for(expert=expert, campaign=campaign).pair_id for expert in experts[:4]]
    assert served == [unreadable.pk, comparable.pk, sure.pk, not_judged.pk]  # equal priorities: by id


def test_a_submit_against_the_models_verdict_puts_the_pair_ahead_of_its_equals(experts, tmp_path):
    """Overlap 2: both pairs get one judgment. The model said A on both; the experts say A on `agreed` and B on
    `against`. The next expert gets `against` (priority 2) before `agreed` (0), both having one slot left."""
    campaign = _campaign(experts)
    agreed, against = VideoPairFactory(campaign=campaign), VideoPairFactory(campaign=campaign)
    campaign_queue_model_set(
        campaign=campaign, model=_model_with_verdicts(campaign, tmp_path / "run", {agreed.pk: 1, against.pk: 1})
    )
    first = assignment_next_for(expert=experts[0], campaign=campaign)
    assert first.pair_id == agreed.pk  # equal priorities: by id
    _submit(campaign, first, 1)
    second = assignment_next_for(expert=experts[1], campaign=campaign)
    assert second.pair_id == agreed.pk, "slots left come first: the started pair is finished"
    _submit(campaign, second, 1)
    third = assignment_next_for(expert=experts[2], campaign=campaign)
    _submit(campaign, third, -1)
    assert _priorities(campaign) == {agreed.pk: 0, against.pk: DISPUTED}
    # `against` now has one slot left and a judgment against the model.
    assert assignment_next_for(expert=experts[3], campaign=campaign).pair_id == against.pk


def test_fewest_slots_left_stays_the_first_rule(experts, tmp_path):
    """A pair the model is sure of with one slot left goes before an untouched pair it doubts."""
    campaign = _campaign(experts)
    doubted, started = VideoPairFactory(campaign=campaign), VideoPairFactory(campaign=campaign)
    campaign_queue_model_set(
        campaign=campaign, model=_model_with_verdicts(campaign, tmp_path / "run", {doubted.pk: 0, started.pk: 1})
    )
    VideoPair.objects.filter(pk=started.pk).update(assigned_count=1)

    assert assignment_next_for(expert=experts[0], campaign=campaign).pair_id == started.pk


def test_removing_the_queue_model_puts_every_priority_back_to_0(experts, tmp_path):
    campaign = _campaign(experts, overlap=1)
    first, doubted = VideoPairFactory(campaign=campaign), VideoPairFactory(campaign=campaign)
    campaign_queue_model_set(
        campaign=campaign, model=_model_with_verdicts(campaign, tmp_path / "run", {first.pk: 1, doubted.pk: 0})
    )
    assert _priorities(campaign)[doubted.pk] == UNCERTAIN

    campaign_queue_model_set(campaign=campaign, model=None)

    assert set(_priorities(campaign).values()) == {0}
    assert assignment_next_for(expert=experts[0], campaign=campaign).pair_id == first.pk


def test_a_model_that_never_judged_the_campaign_is_refused(experts, tmp_path):
    campaign = _campaign(experts)
    elsewhere = _campaign([], name="elsewhere")
    model = _model_with_verdicts(elsewhere, tmp_path / "run", {})

    with pytest.raises(ValidationError) as refused:
        campaign_queue_model_set(campaign=campaign, model=model)

    assert "has not judged this campaign" in str(refused.value.message_dict["queue_model"])
    campaign.refresh_from_db()
    assert campaign.queue_model is None


def test_recomputing_writes_only_the_pairs_whose_priority_changed(experts, tmp_path):
    campaign = _campaign(experts)
    pairs = [VideoPairFactory(campaign=campaign) for _ in range(4)]
    model = _model_with_verdicts(campaign, tmp_path / "run", {pair.pk: 0 for pair in pairs[:3]})
    campaign_queue_model_set(campaign=campaign, model=model)

    assert campaign_model_priorities_recompute(campaign_id=campaign.pk) == 0
    ModelPairVerdict.objects.filter(pair=pairs[0]).update(overall=1)
    assert campaign_model_priorities_recompute(campaign_id=campaign.pk) == 1
    assert _priorities(campaign) == {pairs[0].pk: 0, pairs[1].pk: 1, pairs[2].pk: 1, pairs[3].pk: 0}


# --- A model run finishing ------------------------------------------------------------------------------------


def test_a_scoring_run_that_finishes_sets_the_priorities_of_the_campaign_that_follows_it(tmp_path, monkeypatch):
    """The leaderboards' stand-in judge prefers the stronger generator, and its answer on base-v1 against
    veo-nightly does not parse: that pair goes first once the run is done."""
    from leaderboards import services as leaderboard_services
    from leaderboards.tests.factories import StrengthJudge, generator_campaign

    campaign = generator_campaign(name="scored", matchups=[("sora-ckpt-3", "veo-nightly"), ("base-v1", "veo-nightly")])
    model = registered_model_make(campaign, tmp_path / "run")
    # Chosen while the run waits for a worker: nothing to order by yet.
    run = ModelJudgmentRun.objects.create(model=model, campaign=campaign)
    campaign_queue_model_set(campaign=campaign, model=model)
    assert set(_priorities(campaign).values()) == {0}
    judge = StrengthJudge(campaign, answers={("base-v1", "veo-nightly"): "garbage"})
    monkeypatch.setattr(leaderboard_services, "pair_judge_load", lambda model: judge)

    assert leaderboard_services.model_judgment_run_execute(run_id=run.pk)

    priorities = dict(VideoPair.objects.filter(campaign=campaign).values_list("external_id", "model_priority"))
    assert priorities == {"m1": 0, "m2": UNCERTAIN}


# --- Races ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_experts_racing_through_a_model_ordered_queue_never_overfill_a_pair_nor_get_one_twice(experts, tmp_path):
    """Six experts take and submit pairs at once until none is left, all against the model's verdict: every pair
    ends with exactly its overlap of distinct experts, and every pair's priority counts the last vote."""
    assert connection.vendor == "postgresql", "row locking is what this test proves; run it on PostgreSQL"
    campaign = _campaign(experts)
    pairs = [VideoPairFactory(campaign=campaign) for _ in range(4)]
    doubted = {pairs[1].pk, pairs[3].pk}
    verdicts = {pair.pk: 0 if pair.pk in doubted else 1 for pair in pairs}
    campaign_queue_model_set(campaign=campaign, model=_model_with_verdicts(campaign, tmp_path / "run", verdicts))
    barrier = threading.Barrier(len(experts))

    def judge_until_nothing_left(expert) -> list[int]:
        taken = []
        try:
            barrier.wait()
            while True:
                try:
                    assignment = assignment_next_for(expert=expert, campaign=campaign)
                except NoPairAvailable:
                    return taken
                taken.append(assignment.pair_id)
                _submit(campaign, assignment, -1)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(experts)) as pool:
        taken_by_expert = list(pool.map(judge_until_nothing_left, experts))

    for taken in taken_by_expert:
        assert len(taken) == len(set(taken)), "an expert got a pair twice"
    handed_out = Counter(pair_id for taken in taken_by_expert for pair_id in taken)
    assert handed_out == {pair.pk: 2 for pair in pairs}
    stored = VideoPair.objects.filter(campaign=campaign)
    assert {pair.pk: pair.assigned_count for pair in stored} == {pair.pk: 2 for pair in pairs}
    assert Counter(Assignment.objects.filter(campaign=campaign).values_list("pair_id", flat=True)) == handed_out
    # Experts all said B: against the model's A (2), and against its "comparable" where it also doubted (1 + 2).
    assert _priorities(campaign) == {
        pair.pk: UNCERTAIN + DISPUTED if pair.pk in doubted else DISPUTED for pair in pairs
    }


# --- Pages ----------------------------------------------------------------------------------------------------


def test_next_pair_follows_the_models_order(client, experts, tmp_path):
    campaign = _campaign(experts, overlap=1)
    sure, doubted = VideoPairFactory(campaign=campaign), VideoPairFactory(campaign=campaign)
    campaign_queue_model_set(
        campaign=campaign, model=_model_with_verdicts(campaign, tmp_path / "run", {sure.pk: 1, doubted.pk: 0})
    )
    client.force_login(experts[0])

    response = client.post(reverse("assignment-next"))

    assignment = Assignment.objects.get(expert=experts[0])
    assert response.status_code == 302 and response.url == reverse("workbench", args=[assignment.pk])
    assert assignment.pair_id == doubted.pk


def test_only_curators_choose_the_queue_model_among_models_that_scored_the_campaign(
    client, curator, expert, experts, tmp_path
):
    campaign = _campaign(experts)
    campaign_member_add(campaign=campaign, user=curator, role="curator")
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    doubted = VideoPairFactory(campaign=campaign)
    model = _model_with_verdicts(campaign, tmp_path / "run", {doubted.pk: 0})
    elsewhere = _model_with_verdicts(_campaign([], name="elsewhere"), tmp_path / "other", {}, name="other-model")
    url = reverse("campaign-queue-model", args=[campaign.pk])

    client.force_login(expert)
    assert client.post(url, {"queue_model": model.pk}).status_code == 403
    client.force_login(curator)
    page = client.get(reverse("campaign-detail", args=[campaign.pk]))
    assert list(page.context["queue_model_form"].fields["queue_model"].queryset) == [model]
    refused = client.post(url, {"queue_model": elsewhere.pk})
    assert refused.status_code == 400 and "queue_model" in refused.context["queue_model_form"].errors
    assert client.post(url, {"queue_model": model.pk}).status_code == 302

    campaign.refresh_from_db()
    assert campaign.queue_model == model
    shown = client.get(reverse("campaign-detail", args=[campaign.pk]))
    assert shown.context["model_priority_counts"] == {"prioritised": 1, "uncertain": 1, "disputed": 0}
    assert client.post(url, {"queue_model": ""}).status_code == 302
    campaign.refresh_from_db()
    assert campaign.queue_model is None and VideoPair.objects.get(pk=doubted.pk).model_priority == 0
