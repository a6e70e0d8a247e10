"""The `active` pairing strategy: a round of N new pairs, within prompts and between different generators, spread
over the generator pairs whose order the campaign's consensus judgments leave most uncertain; previewed, then
applied; the next round reads the judgments of the last.

Generations are database rows (no media files are read); one expert judges, so a pair's consensus is their verdict."""

from __future__ import annotations

from collections import Counter

import pytest
from django.urls import reverse

from agreement.tests.factories import expert_make, judge
from annotation.models import Campaign, VideoPair
from annotation.tests.factories import VideoPairFactory
from leaderboards.pairing import pairing_apply, pairing_plan
from leaderboards.tests.test_pairing import generation_make, generations_campaign

pytestmark = pytest.mark.django_db

SORA, VEO, BASE = "sora-ckpt-3", "veo-nightly", "base-v1"


def generator_pairs_of(pairs) -> Counter:
    return Counter(frozenset((pair.video_a.source_model, pair.video_b.source_model)) for pair in pairs)


def judge_round(campaign: Campaign, expert, verdict_of) -> None:
    """The expert judges every pair of the campaign not yet judged: verdict_of(generator A, generator B) -> -1/0/1."""
    for pair in campaign.pairs.filter(assignments__isnull=True).select_related("video_a", "video_b"):
        judge(pair, expert, default=verdict_of(pair.video_a.source_model, pair.video_b.source_model))


def sora_wins_and_veo_base_split(generator_a: str, generator_b: str) -> int:
    """sora-ckpt-3 beats everyone; veo-nightly and base-v1 tie in judgment (a comparable verdict): their order stays
    uncertain however many pairs are judged."""
    if SORA in (generator_a, generator_b):
        return 1 if generator_a == SORA else -1
    return 0


def test_a_first_round_without_judgments_compares_every_generator_pair_alike_and_preview_makes_nothing():
    campaign = generations_campaign(prompts=6)

    plan = pairing_plan(campaign=campaign, strategy="active", round_size=6, seed=0)

    # Three generators, nothing judged: round-robin, then every pair a coin toss, so 2 pairs of each generator pair.
    assert (plan.generations, plan.generators, plan.judged_comparisons, plan.existing_count) == (18, 3, 0, 0)
    assert len(plan.new_pairs) == 6
    made = Counter(frozenset((p.generation_a.generator, p.generation_b.generator)) for p in plan.new_pairs)
    assert sorted(made.values()) == [2, 2, 2]
    assert sorted(choice.pairs for choice in plan.active_choices) == [2, 2, 2]
    for planned in plan.new_pairs:
        assert planned.generation_a.prompt == planned.generation_b.prompt
        assert planned.generation_a.generator != planned.generation_b.generator
    assert VideoPair.objects.filter(campaign=campaign).count() == 0


def test_apply_makes_the_previewed_round_and_the_next_round_goes_to_the_pair_judgments_left_uncertain():
    campaign = generations_campaign(prompts=8)
    expert = expert_make("active-judge", campaign)

    preview = pairing_plan(campaign=campaign, strategy="active", round_size=12, seed=4)
    created = pairing_apply(campaign=campaign, strategy="active", round_size=12, seed=4)
    pairs = list(campaign.pairs.select_related("video_a", "video_b"))
    judge_round(campaign, expert, sora_wins_and_veo_base_split)
    second = pairing_plan(campaign=campaign, strategy="active", round_size=3, seed=4)
    second_created = pairing_apply(campaign=campaign, strategy="active", round_size=3, seed=4)

    assert created == 12
    assert sorted(pair.external_id for pair in pairs) == sorted(planned.external_id for planned in preview.new_pairs)
    assert all(pair.metadata["pairing"] == "active" and pair.prompt == pair.video_a.prompt for pair in pairs)
    assert sorted(generator_pairs_of(pairs).values()) == [4, 4, 4]
    # sora-ckpt-3 won all 8 of its pairs: settled above both. veo-nightly vs base-v1: 4 ties, a coin toss.
    assert second.judged_comparisons == 12 and second.awaiting_judgment == 0
    assert [(choice.generator_a, choice.generator_b, choice.pairs) for choice in second.active_choices] == [
        (BASE, VEO, 3)
    ]
    assert second.active_choices[0].order_uncertainty > 0.3
    assert second_created == 3
    round_two = campaign.pairs.exclude(pk__in=[pair.pk for pair in pairs]).select_related("video_a", "video_b")
    assert generator_pairs_of(round_two) == {frozenset((VEO, BASE)): 3}
    every_video_set = [frozenset(videos) for videos in campaign.pairs.values_list("video_a", "video_b")]
    assert len(every_video_set) == len(set(every_video_set)) == 15


def test_a_generator_added_after_the_first_round_is_compared_first_in_the_next():
    campaign = generations_campaign(prompts=4)
    expert = expert_make("active-judge", campaign)
    pairing_apply(campaign=campaign, strategy="active", round_size=6, seed=0)
    judge_round(campaign, expert, sora_wins_and_veo_base_split)
    for index in range(1, 5):
        generation_make(campaign, prompt=f"prompt {index}", generator="new-ckpt")

    plan = pairing_plan(campaign=campaign, strategy="active", round_size=1, seed=0)

    (only,) = plan.new_pairs
    assert "new-ckpt" in (only.generation_a.generator, only.generation_b.generator)
    assert plan.active_choices[0].cold_start


def test_a_round_never_remakes_a_pair_and_stops_when_every_pair_is_made():
    campaign = generations_campaign(prompts=2)

    first = pairing_apply(campaign=campaign, strategy="active", round_size=4, seed=1)
    second = pairing_apply(campaign=campaign, strategy="active", round_size=4, seed=1)
    plan = pairing_plan(campaign=campaign, strategy="active", round_size=4, seed=1)

    # Two prompts of three generators: 6 pairs in all.
    assert (first, second) == (4, 2)
    assert plan.new_pairs == [] and plan.existing_count == 6


def test_the_active_round_reads_the_chosen_target_and_refuses_an_unknown_one():
    campaign = generations_campaign(prompts=4)
    expert = expert_make("active-judge", campaign)
    pairing_apply(campaign=campaign, strategy="active", round_size=6, seed=0)
    # Overall every pair is a tie (all codes 0) except VA, where the expert prefers video A.
    for pair in campaign.pairs.all():
        judge(pair, expert, VA=1)

    overall = pairing_plan(campaign=campaign, strategy="active", round_size=2, target="overall")
    by_va = pairing_plan(campaign=campaign, strategy="active", round_size=2, target="VA")

    assert overall.judged_comparisons == by_va.judged_comparisons == 6
    assert by_va.target == "VA"
    with pytest.raises(ValueError, match="unknown target"):
        pairing_plan(campaign=campaign, strategy="active", target="NOPE")


def test_the_page_previews_an_active_round_with_its_reasons_and_applies_it(client, curator):
    campaign = generations_campaign(prompts=4, members={curator: "curator"})
    client.force_login(curator)
    url = reverse("pairing", args=[campaign.pk])
    options = {"strategy": "active", "opponents": 2, "seed": 0, "round_size": 5, "target": "overall"}

    preview = client.get(url, options)
    applied = client.post(url, options, follow=True)

    html = preview.content.decode()
    assert preview.status_code == 200
    assert 'data-new-pairs="5"' in html and 'data-judged-comparisons="0"' in html
    assert html.count("data-active-choice=") == 3 and "not compared yet" in html
    assert 'name="round_size" value="5"' in html and 'name="target" value="overall"' in html
    assert "5 pairs added to from-generations." in applied.content.decode()
    assert 'data-awaiting-judgment="5"' in applied.content.decode()
    assert campaign.pairs.count() == 5


def test_a_round_size_of_zero_or_an_unknown_target_is_refused_on_the_page(client, curator):
    campaign = generations_campaign(prompts=2, members={curator: "curator"})
    client.force_login(curator)
    url = reverse("pairing", args=[campaign.pk])

    zero = client.post(url, {"strategy": "active", "opponents": 2, "seed": 0, "round_size": 0})
    unknown = client.post(url, {"strategy": "active", "opponents": 2, "seed": 0, "target": "NOPE"})

    assert zero.status_code == unknown.status_code == 400
    assert campaign.pairs.count() == 0


def test_pairs_not_judged_yet_are_counted_as_awaiting_and_left_out_of_the_fit():
    campaign = generations_campaign(prompts=4)
    expert = expert_make("active-judge", campaign)
    pairing_apply(campaign=campaign, strategy="active", round_size=6, seed=0)
    for pair in campaign.pairs.order_by("id")[:2]:
        judge(pair, expert, default=1)
    # A judged pair of videos without generators counts neither as judged nor as awaiting.
    anonymous = VideoPairFactory(campaign=campaign, external_id="no-generators")
    judge(anonymous, expert, default=1)

    plan = pairing_plan(campaign=campaign, strategy="active", round_size=2, seed=0)

    assert (plan.judged_comparisons, plan.awaiting_judgment) == (2, 4)
