"""Pairing strategies build a campaign's pairs from its generations: previewed (counts and the first pairs), then
applied; applying twice, or two strategies one after the other, makes each pair once; the pairs rank on the
leaderboard by their generators; only curators and ML engineers of the campaign see or apply them.

Generations here are database rows (no media files are read)."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.urls import reverse

from agreement.tests.factories import campaign_make, checklist_complete, expert_make, judge, verdicts
from annotation.models import Campaign, ChecklistQuestion, VideoPair
from annotation.services import assignment_create, pair_judgment_submit
from annotation.tests.factories import VideoFactory
from leaderboards.models import Generation
from leaderboards.pairing import PREVIEW_SIZE, checklist_scores, pairing_apply, pairing_plan
from leaderboards.selectors import leaderboard_for

pytestmark = pytest.mark.django_db

GENERATORS = ("sora-ckpt-3", "veo-nightly", "base-v1")
STRENGTH = {"sora-ckpt-3": 3, "veo-nightly": 2, "base-v1": 1}


def generation_make(campaign: Campaign, *, prompt: str, generator: str, seed: int = 0, **metadata) -> Generation:
    return Generation.objects.create(
        campaign=campaign,
        video=VideoFactory(source_model=generator, prompt=prompt),
        prompt=prompt,
        generator=generator,
        seed=seed,
        metadata=metadata,
    )


def generations_campaign(*, prompts: int = 2, members: dict | None = None) -> Campaign:
    """Every generator's video for each prompt ("prompt 1", ...), prompt 1 in category "animals"."""
    campaign = campaign_make(name="from-generations", pairs=0, members=members)
    for index in range(1, prompts + 1):
        for generator in GENERATORS:
            extra = {"category": "animals"} if index == 1 else {}
            generation_make(campaign, prompt=f"prompt {index}", generator=generator, **extra)
    return campaign


def test_all_pairs_pits_every_two_generators_within_each_prompt_and_never_a_generator_against_itself():
    campaign = generations_campaign(prompts=2)
    # A second seed of one generator: paired with the other generators, never with its own first seed.
    generation_make(campaign, prompt="prompt 1", generator="base-v1", seed=1)

    plan = pairing_plan(campaign=campaign, strategy="all_pairs")

    # prompt 1: 4 videos, 6 two-video sets, minus base-v1 vs base-v1 = 5; prompt 2: 3 generators, 3 pairs.
    assert (plan.generations, plan.prompts, plan.generators) == (7, 2, 3)
    assert len(plan.new_pairs) == 8 and plan.existing_count == 0
    for planned in plan.pairs:
        assert planned.generation_a.prompt == planned.generation_b.prompt
        assert planned.generation_a.generator != planned.generation_b.generator
        assert planned.generation_a.pk < planned.generation_b.pk


def test_random_opponents_draws_k_rivals_per_video_the_same_way_for_the_same_seed():
    campaign = campaign_make(name="wide", pairs=0)
    generators = [f"ckpt-{index}" for index in range(8)]
    for generator in generators:
        generation_make(campaign, prompt="one prompt", generator=generator)

    plan = pairing_plan(campaign=campaign, strategy="random_opponents", opponents=2, seed=7)
    again = pairing_plan(campaign=campaign, strategy="random_opponents", opponents=2, seed=7)
    other_seed = pairing_plan(campaign=campaign, strategy="random_opponents", opponents=2, seed=8)

    drawn = [planned.external_id for planned in plan.pairs]
    assert drawn == [planned.external_id for planned in again.pairs]
    assert drawn != [planned.external_id for planned in other_seed.pairs]
    # Each of the 8 videos draws 2 rivals: 16 draws, at least 8 distinct pairs (each drawn at most twice), at most
    # 16, and every video is in at least 2 pairs. All 28 pairs of 8 videos would be all_pairs.
    assert 8 <= len(drawn) <= 16 and len(set(drawn)) == len(drawn)
    for generation in Generation.objects.filter(campaign=campaign):
        appearances = [p for p in plan.pairs if generation in (p.generation_a, p.generation_b)]
        assert len(appearances) >= 2


def test_random_opponents_with_k_above_the_rivals_available_takes_them_all():
    campaign = generations_campaign(prompts=2)

    plan = pairing_plan(campaign=campaign, strategy="random_opponents", opponents=10, seed=0)

    all_pairs = pairing_plan(campaign=campaign, strategy="all_pairs")
    assert sorted(p.external_id for p in plan.pairs) == sorted(p.external_id for p in all_pairs.pairs)


def test_applying_twice_creates_no_duplicates_and_a_second_strategy_adds_only_what_is_missing():
    campaign = generations_campaign(prompts=3)

    first = pairing_apply(campaign=campaign, strategy="random_opponents", opponents=1, seed=3)
    again = pairing_apply(campaign=campaign, strategy="random_opponents", opponents=1, seed=3)
    preview = pairing_plan(campaign=campaign, strategy="all_pairs")
    completed = pairing_apply(campaign=campaign, strategy="all_pairs")
    once_more = pairing_apply(campaign=campaign, strategy="all_pairs")

    assert first > 0 and again == 0
    assert preview.existing_count == first and len(preview.new_pairs) == 9 - first
    assert completed == 9 - first and once_more == 0
    video_sets = [frozenset(videos) for videos in campaign.pairs.values_list("video_a", "video_b")]
    assert len(video_sets) == 9 == len(set(video_sets))


def test_a_pair_already_imported_the_other_way_round_is_not_made_again():
    campaign = generations_campaign(prompts=1)
    sora, veo = (Generation.objects.get(campaign=campaign, generator=name) for name in GENERATORS[:2])
    VideoPair.objects.create(
        campaign=campaign, external_id="imported", prompt="prompt 1", video_a=veo.video, video_b=sora.video
    )

    plan = pairing_plan(campaign=campaign, strategy="all_pairs")

    assert plan.existing_count == 1 and len(plan.new_pairs) == 2
    assert pairing_apply(campaign=campaign, strategy="all_pairs") == 2


def test_built_pairs_carry_the_prompt_and_the_shared_category_and_rank_by_generator_on_the_leaderboard():
    campaign = generations_campaign(prompts=2)
    pairing_apply(campaign=campaign, strategy="all_pairs")
    experts = [expert_make(f"judge-{index}", campaign) for index in (1, 2, 3)]
    pairs = list(campaign.pairs.select_related("video_a", "video_b"))
    for pair in pairs:
        difference = STRENGTH[pair.video_a.source_model] - STRENGTH[pair.video_b.source_model]
        for expert in experts:
            judge(pair, expert, default=(difference > 0) - (difference < 0))

    leaderboard = leaderboard_for(campaigns=[campaign], n_resamples=20)

    assert {pair.prompt for pair in pairs} == {"prompt 1", "prompt 2"}
    assert all(pair.external_id.startswith("gen-") for pair in pairs)
    assert [pair.metadata.get("category") for pair in pairs if pair.prompt == "prompt 1"] == ["animals"] * 3
    assert all("category" not in pair.metadata for pair in pairs if pair.prompt == "prompt 2")
    assert leaderboard.pairs_without_generators == 0
    assert [row["generator"] for row in leaderboard.ranking.rows()] == list(GENERATORS)


def test_the_preview_lists_the_first_twenty_new_pairs_and_the_counts(client, curator):
    campaign = campaign_make(name="many", pairs=0, members={curator: "curator"})
    for index in range(8):
        for generator in GENERATORS:
            generation_make(campaign, prompt=f"prompt {index}", generator=generator)
    client.force_login(curator)

    page = client.get(reverse("pairing", args=[campaign.pk]), {"strategy": "all_pairs", "opponents": 1, "seed": 0})

    html = page.content.decode()
    assert page.status_code == 200
    assert page.context["plan"].generations == 24 and len(page.context["plan"].new_pairs) == 24
    assert 'data-new-pairs="24"' in html and html.count("<code>gen-") == PREVIEW_SIZE
    assert VideoPair.objects.filter(campaign=campaign).count() == 0, "a preview creates nothing"


def test_apply_from_the_page_adds_the_pairs_and_says_how_many(client, ml_engineer):
    campaign = generations_campaign(prompts=2, members={ml_engineer: "ml_engineer"})
    client.force_login(ml_engineer)
    url = reverse("pairing", args=[campaign.pk])

    applied = client.post(url, {"strategy": "all_pairs", "opponents": 2, "seed": 0}, follow=True)
    reapplied = client.post(url, {"strategy": "all_pairs", "opponents": 2, "seed": 0}, follow=True)

    assert "6 pairs added to from-generations." in applied.content.decode()
    assert "0 pairs added to from-generations." in reapplied.content.decode()
    assert 'data-existing-pairs="6"' in reapplied.content.decode()
    assert campaign.pairs.count() == 6


def test_an_unknown_strategy_or_a_k_of_zero_is_refused_and_nothing_is_made(client, curator):
    campaign = generations_campaign(prompts=1, members={curator: "curator"})
    client.force_login(curator)
    url = reverse("pairing", args=[campaign.pk])

    unknown = client.post(url, {"strategy": "everything", "opponents": 1, "seed": 0})
    zero = client.post(url, {"strategy": "random_opponents", "opponents": 0, "seed": 0})

    assert unknown.status_code == zero.status_code == 400
    assert campaign.pairs.count() == 0


def test_experts_who_judge_blind_may_neither_preview_nor_apply(client):
    campaign = generations_campaign(prompts=1)
    expert = expert_make("blind-expert", campaign)
    client.force_login(expert)
    url = reverse("pairing", args=[campaign.pk])

    preview = client.get(url)
    apply = client.post(url, {"strategy": "all_pairs", "opponents": 1, "seed": 0})

    assert preview.status_code == apply.status_code == 403
    assert not any(generator in preview.content.decode() for generator in GENERATORS)
    assert campaign.pairs.count() == 0


# --- Dominance pairs from checklist scores -------------------------------------------------------------------


def _top_questions_by_dimension(campaign: Campaign) -> dict[str, list[ChecklistQuestion]]:
    """{checklist dimension: the top option of each of its sub-dimensions}, skipping sub-dimensions that a presence
    question gates or that gate others (answering them "yes" alone would be contradicted by the defaults)."""
    questions = list(ChecklistQuestion.objects.filter(checklist_id=campaign.checklist_id))
    gated_or_gating = {q.sub_dimension for q in questions if q.not_applicable_when_id} | {
        q.sub_dimension for q in questions if q.gated_questions.exists()
    }
    tops: dict[str, ChecklistQuestion] = {}
    for question in questions:
        if question.sub_dimension in gated_or_gating:
            continue
        if question.sub_dimension not in tops or question.level > tops[question.sub_dimension].level:
            tops[question.sub_dimension] = question
    by_dimension: dict[str, list[ChecklistQuestion]] = defaultdict(list)
    for question in tops.values():
        by_dimension[question.dimension].append(question)
    return dict(by_dimension)


def _checklist_yes_on(campaign: Campaign, questions: list[ChecklistQuestion]) -> dict[int, str]:
    return checklist_complete(campaign, **{f"q{question.pk}": "yes" for question in questions})


def test_dominance_pairs_only_videos_whose_checklist_scores_no_dimension_contradicts():
    campaign = campaign_make(name="dominance", pairs=0, checklist=True)
    tops = _top_questions_by_dimension(campaign)
    first_dimension, second_dimension = sorted(tops)[:2]
    sora, veo, mixed, base = (
        generation_make(campaign, prompt="a fox", generator=name)
        for name in ("sora-ckpt-3", "veo-nightly", "mixed-ckpt", "base-v1")
    )
    answers = {
        sora.video_id: _checklist_yes_on(campaign, [q for questions in tops.values() for q in questions]),
        veo.video_id: _checklist_yes_on(campaign, tops[first_dimension]),
        mixed.video_id: _checklist_yes_on(campaign, tops[second_dimension]),
        base.video_id: checklist_complete(campaign),
    }
    expert = expert_make("checklist-judge", campaign)
    for a, b in ((sora, veo), (mixed, base)):
        pair = VideoPair.objects.create(
            campaign=campaign, external_id=f"round-1-{a.pk}", prompt="a fox", video_a=a.video, video_b=b.video
        )
        criteria, dimensions = verdicts(0)
        pair_judgment_submit(
            assignment=assignment_create(pair=pair, expert=expert, swapped=False),
            criteria=criteria,
            dimensions=dimensions,
            checklist={a.video_id: answers[a.video_id], b.video_id: answers[b.video_id]},
        )

    scores = checklist_scores(campaign=campaign)
    plan = pairing_plan(campaign=campaign, strategy="dominance")

    assert set(scores[base.video_id].values()) == {0.0}
    for other in (veo, mixed, base):
        assert all(scores[sora.video_id][d] >= scores[other.video_id][d] for d in scores[sora.video_id])
    assert scores[veo.video_id][first_dimension] > 0 == scores[veo.video_id][second_dimension]
    assert scores[mixed.video_id][second_dimension] > 0 == scores[mixed.video_id][first_dimension]
    # Of the six pairs of four generators: sora-veo and mixed-base are judged already; veo-mixed contradict each
    # other (each better on one dimension); sora dominates mixed and base, veo dominates base.
    assert plan.scored_videos == 4 and plan.existing_count == 2
    assert {(p.generation_a.generator, p.generation_b.generator) for p in plan.new_pairs} == {
        ("sora-ckpt-3", "mixed-ckpt"),
        ("sora-ckpt-3", "base-v1"),
        ("veo-nightly", "base-v1"),
    }
    assert pairing_apply(campaign=campaign, strategy="dominance") == 3


def test_dominance_without_checklist_answers_makes_no_pairs():
    campaign = generations_campaign(prompts=2)

    plan = pairing_plan(campaign=campaign, strategy="dominance")

    assert plan.scored_videos == 0 and plan.pairs == []
