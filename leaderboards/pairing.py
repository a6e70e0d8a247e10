"""Pairing strategies: build a campaign's VideoPairs from its generations, previewed before they are applied.

Every strategy pairs two generations of the same prompt made by different generators (a pair shows experts one
prompt). Strategies:

- `all_pairs`: every two generations of a prompt whose generators differ.
- `random_opponents`: each generation gets k opponents drawn at random (Python's `random.Random(seed)`) among the
  generations of its prompt by other generators; fewer when the prompt has fewer. Pairs drawn twice count once.
- `dominance`: VisionReward's multi-objective selection. A video's checklist score on each checklist dimension is
  its share of "yes" among the yes/no answers of that dimension's questions, pooled over the experts whose answers
  count (annotation.selectors.checklist_answer_sets; "not applicable" left out). Two generations are paired when
  one scores at least as high as the other on every dimension both were scored on, and higher on one: a preference
  no dimension contradicts. Scores come from pairs already judged with the checklist, so this is a second round
  after, say, random opponents; videos without answers are left out, as are pairs the campaign already has.
- `active`: one round of N new pairs ("pairs this round") where one more judgment most reduces the uncertainty of
  the generators' order. The campaign's consensus judgments so far (overall, or one target) are fitted
  (leaderboards.ranking) and leaderboards.active chooses the generator pairs: probability that their fitted order is
  wrong times the share of its variance one more judgment removes; generators without a comparison first. Each chosen
  generator pair becomes one pair of two of their generations of a shared prompt, drawn at random (seeded) among
  those the campaign does not have. Apply the round, let experts judge it, then preview the next round.

A pair's canonical A is the generation imported first; experts see sides in the order of their assignment and never
a generator name (the pair id is `gen-<id>-<id>`, the generators live on the videos' `source_model`, which only
curators and ML engineers read). A pair of the same two videos already in the campaign, whoever made it, is not
made again, so applying twice, or applying two strategies, creates no duplicates.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from django.db import transaction

from annotation.models import Campaign, VideoPair
from annotation.selectors import checklist_answer_sets, checklist_questions
from leaderboards.active import active_pairs_choose, ranking_for_selection
from leaderboards.models import Generation
from leaderboards.ranking import Comparison
from leaderboards.selectors import OVERALL, LabelledComparison, comparisons_from_consensus, targets_for

STRATEGIES = {
    "all_pairs": "All pairs of generators within each prompt",
    "random_opponents": "k random opponents per video (seeded)",
    "dominance": "Dominance pairs from checklist scores",
    "active": "Active: a round where the ranking is least certain",
}
PREVIEW_SIZE = 20
DEFAULT_ROUND_SIZE = 20
MAX_ROUND_SIZE = 1000


@dataclass(frozen=True, slots=True)
class PlannedPair:
    generation_a: Generation
    generation_b: Generation
    exists: bool  # the campaign already has a pair of these two videos

    @property
    def external_id(self) -> str:
        return f"gen-{self.generation_a.pk}-{self.generation_b.pk}"


@dataclass(frozen=True, slots=True)
class ActiveChoice:
    """A generator pair the active round compares, and why: how uncertain its order is and how often it met."""

    generator_a: str
    generator_b: str
    order_uncertainty: float  # the probability that the fitted order of the two is wrong (leaderboards.active)
    comparisons: float  # judged comparisons of the two so far (consensus labels)
    pairs: int  # new pairs of the two in this round
    cold_start: bool  # chosen because one of them had no comparison yet


@dataclass(frozen=True)
class PairingPlan:
    strategy: str
    opponents: int
    seed: int
    generations: int
    prompts: int
    generators: int
    pairs: list[PlannedPair]
    scored_videos: int | None = None  # dominance only: videos with checklist scores
    round_size: int = DEFAULT_ROUND_SIZE
    target: str = OVERALL
    judged_comparisons: int | None = None  # active only: consensus labels the round was chosen from
    # active only: pairs of two generators in the campaign without a consensus label for the target yet
    awaiting_judgment: int | None = None
    active_choices: list[ActiveChoice] | None = None  # active only, most pairs first

    @property
    def new_pairs(self) -> list[PlannedPair]:
        return [planned for planned in self.pairs if not planned.exists]

    @property
    def new_count(self) -> int:
        return len(self.new_pairs)

    @property
    def existing_count(self) -> int:
        return len(self.pairs) - len(self.new_pairs)

    @property
    def preview(self) -> list[PlannedPair]:
        return self.new_pairs[:PREVIEW_SIZE]


def _by_prompt(generations: list[Generation]) -> dict[str, list[Generation]]:
    groups: dict[str, list[Generation]] = defaultdict(list)
    for generation in generations:
        groups[generation.prompt].append(generation)
    return groups


def all_pairs_within_prompt(generations: list[Generation]) -> list[tuple[Generation, Generation]]:
    """Every two generations of one prompt by different generators, in id order."""
    pairs = []
    for group in _by_prompt(generations).values():
        pairs += [(a, b) for a, b in combinations(group, 2) if a.generator != b.generator]
    return pairs


def random_opponents_within_prompt(
    generations: list[Generation], *, opponents: int, seed: int
) -> list[tuple[Generation, Generation]]:
    """For each generation, `opponents` others of its prompt by other generators drawn without replacement; each
    unordered pair once, the earlier-imported generation first. The same generations and seed give the same pairs."""
    rng = random.Random(seed)
    chosen: set[tuple[int, int]] = set()
    by_id = {generation.pk: generation for generation in generations}
    for group in _by_prompt(generations).values():
        for generation in group:
            rivals = [other for other in group if other.generator != generation.generator]
            for rival in rng.sample(rivals, min(opponents, len(rivals))):
                chosen.add((min(generation.pk, rival.pk), max(generation.pk, rival.pk)))
    return [(by_id[a], by_id[b]) for a, b in sorted(chosen)]


def checklist_scores(*, campaign: Campaign) -> dict[int, dict[str, float]]:
    """{video id: {checklist dimension: share of "yes" among its yes/no answers}} over the answers that count."""
    sets = checklist_answer_sets(campaign=campaign)
    dimension_of = {question.pk: question.dimension for question in checklist_questions(checklist=campaign.checklist)}
    codes = sets.codes(("no", "yes"))  # "na" and unanswered are -1
    counts: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    columns_of: dict[str, list[int]] = defaultdict(list)
    for column, question_id in enumerate(sets.question_ids):
        columns_of[dimension_of[question_id]].append(column)
    for dimension, columns in columns_of.items():
        answers = codes[:, columns]
        yes = (answers == 1).sum(axis=1).tolist()
        given = (answers >= 0).sum(axis=1).tolist()
        for video_id, yes_count, given_count in zip(sets.video_ids.tolist(), yes, given, strict=True):
            if given_count:
                tally = counts[video_id][dimension]
                tally[0] += yes_count
                tally[1] += given_count
    return {
        video_id: {dimension: yes / total for dimension, (yes, total) in by_dimension.items()}
        for video_id, by_dimension in counts.items()
    }


def dominates(scores: dict[str, float], other: dict[str, float]) -> bool:
    """At least as high on every dimension both were scored on, higher on one."""
    shared = scores.keys() & other.keys()
    return bool(shared) and all(scores[d] >= other[d] for d in shared) and any(scores[d] > other[d] for d in shared)


def dominance_pairs_within_prompt(
    generations: list[Generation], *, scores: dict[int, dict[str, float]]
) -> list[tuple[Generation, Generation]]:
    """Two generations of a prompt by different generators, both scored, one dominating the other."""
    pairs = []
    for a, b in all_pairs_within_prompt(generations):
        scores_a, scores_b = scores.get(a.video_id), scores.get(b.video_id)
        if scores_a and scores_b and (dominates(scores_a, scores_b) or dominates(scores_b, scores_a)):
            pairs.append((a, b))
    return pairs


@dataclass(frozen=True)
class ActiveRound:
    pairs: list[tuple[Generation, Generation]]
    choices: list[ActiveChoice]
    judged_comparisons: int


def active_round_within_prompt(
    generations: list[Generation],
    *,
    comparisons: list[LabelledComparison],
    existing: set[frozenset[int]],
    round_size: int,
    seed: int,
) -> ActiveRound:
    """Up to `round_size` new pairs of generations (same prompt, different generators, two videos not in
    `existing`), spread over generator pairs by leaderboards.active on the fit of `comparisons`."""
    generators = sorted(
        {generation.generator for generation in generations}
        | {comparison.generator_a for comparison in comparisons}
        | {comparison.generator_b for comparison in comparisons}
    )
    index = {generator: position for position, generator in enumerate(generators)}
    unmade: dict[tuple[int, int], list[tuple[Generation, Generation]]] = defaultdict(list)
    for a, b in all_pairs_within_prompt(generations):
        if frozenset((a.video_id, b.video_id)) not in existing:
            first, second = sorted((index[a.generator], index[b.generator]))
            unmade[(first, second)].append((a, b))
    fitted = ranking_for_selection(
        generators, [Comparison(index[c.generator_a], index[c.generator_b], c.outcome, c.weight) for c in comparisons]
    )
    picks = active_pairs_choose(
        fitted, {key: len(pairs) for key, pairs in unmade.items()}, round_size=round_size, seed=seed
    )
    draw = random.Random(seed)
    for key in sorted(unmade):
        draw.shuffle(unmade[key])
    chosen, picks_per_pair = [], defaultdict(list)
    for pick in picks:
        chosen.append(unmade[(pick.first, pick.second)].pop())
        picks_per_pair[(pick.first, pick.second)].append(pick)
    choices = [
        ActiveChoice(
            generator_a=generators[first],
            generator_b=generators[second],
            order_uncertainty=same[0].order_uncertainty,
            comparisons=same[0].comparisons,
            pairs=len(same),
            cold_start=any(pick.cold_start for pick in same),
        )
        for (first, second), same in picks_per_pair.items()
    ]
    choices.sort(key=lambda choice: -choice.pairs)
    return ActiveRound(pairs=chosen, choices=choices, judged_comparisons=len(comparisons))


def pairing_plan(
    *,
    campaign: Campaign,
    strategy: str,
    opponents: int = 1,
    seed: int = 0,
    round_size: int = DEFAULT_ROUND_SIZE,
    target: str = OVERALL,
) -> PairingPlan:
    """The pairs `strategy` would build in the campaign now, each marked when the campaign already has it. For
    `active`: the round's new pairs, and the within-prompt pairs the campaign already has, marked."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown pairing strategy {strategy!r}")
    if strategy == "active" and target not in dict(targets_for(campaign=campaign)):
        raise ValueError(f"unknown target {target!r} for rubric {campaign.rubric.label}")
    generations = list(Generation.objects.filter(campaign=campaign).select_related("video").order_by("id"))
    existing = {
        frozenset(videos) for videos in VideoPair.objects.filter(campaign=campaign).values_list("video_a", "video_b")
    }
    scored_videos = active_round = awaiting_judgment = None
    if strategy == "all_pairs":
        candidates = all_pairs_within_prompt(generations)
    elif strategy == "random_opponents":
        candidates = random_opponents_within_prompt(generations, opponents=opponents, seed=seed)
    elif strategy == "dominance":
        scores = checklist_scores(campaign=campaign)
        scored_videos = len({generation.video_id for generation in generations} & scores.keys())
        candidates = dominance_pairs_within_prompt(generations, scores=scores)
    else:
        comparisons, without_generators = comparisons_from_consensus(campaigns=[campaign], target=target)
        active_round = active_round_within_prompt(
            generations, comparisons=comparisons, existing=existing, round_size=round_size, seed=seed
        )
        already_made = [
            (a, b) for a, b in all_pairs_within_prompt(generations) if frozenset((a.video_id, b.video_id)) in existing
        ]
        candidates = active_round.pairs + already_made
        compared = VideoPair.objects.filter(campaign=campaign).count() - without_generators
        awaiting_judgment = compared - len(comparisons)
    pairs = [
        PlannedPair(generation_a=a, generation_b=b, exists=frozenset((a.video_id, b.video_id)) in existing)
        for a, b in candidates
    ]
    return PairingPlan(
        strategy=strategy,
        opponents=opponents,
        seed=seed,
        generations=len(generations),
        prompts=len({generation.prompt for generation in generations}),
        generators=len({generation.generator for generation in generations}),
        pairs=pairs,
        scored_videos=scored_videos,
        round_size=round_size,
        target=target,
        judged_comparisons=active_round.judged_comparisons if active_round else None,
        awaiting_judgment=awaiting_judgment,
        active_choices=active_round.choices if active_round else None,
    )


def _pair_metadata(planned: PlannedPair, strategy: str) -> dict:
    metadata = {"pairing": strategy, "generations": [planned.generation_a.pk, planned.generation_b.pk]}
    category_a = planned.generation_a.metadata.get("category")
    if category_a and category_a == planned.generation_b.metadata.get("category"):
        metadata["category"] = category_a
    return metadata


def pairing_apply(
    *,
    campaign: Campaign,
    strategy: str,
    opponents: int = 1,
    seed: int = 0,
    round_size: int = DEFAULT_ROUND_SIZE,
    target: str = OVERALL,
) -> int:
    """Create the new pairs of the plan; returns how many. Applies of one campaign run one at a time (the campaign
    row is locked), each planning afresh, so two applies at once create each pair once. An active round planned
    afresh on the same judgments is the round previewed (the bootstrap and the draws are seeded)."""
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        plan = pairing_plan(
            campaign=campaign, strategy=strategy, opponents=opponents, seed=seed, round_size=round_size, target=target
        )
        pairs = []
        for planned in plan.new_pairs:
            pair = VideoPair(
                campaign=campaign,
                external_id=planned.external_id,
                prompt=planned.generation_a.prompt,
                video_a=planned.generation_a.video,
                video_b=planned.generation_b.video,
                metadata=_pair_metadata(planned, strategy),
            )
            pair.full_clean(validate_unique=False, validate_constraints=False)
            pairs.append(pair)
        before = VideoPair.objects.filter(campaign=campaign).count()
        # A pair someone made by hand under one of these ids is kept as it is.
        VideoPair.objects.bulk_create(pairs, ignore_conflicts=True)
        return VideoPair.objects.filter(campaign=campaign).count() - before
