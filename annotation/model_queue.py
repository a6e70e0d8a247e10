"""Model-in-the-loop queue: the pairs a reward model is unsure of, or disagrees with the experts on, come first.

A campaign may name a queue model (Campaign.queue_model), a registered reward model that judged the campaign's pairs
(leaderboards.ModelPairVerdict, overall verdict in canonical terms: +1 video A better). Each pair stores a priority
(VideoPair.model_priority), a small integer so the queue stays one range of its index:

    priority = UNCERTAIN if the model's overall verdict is "comparable" or could not be read
             + DISPUTED  if the model's overall verdict differs from the majority of the experts' votes so far

An expert's vote is their judgment's overall verdict by the experts' rule (the video better on more dimensions,
as in the leaderboards); the majority is the verdict most judgments gave, and a tie between verdicts is no majority
(nothing to disagree with). A disagreement counts for more than uncertainty: it is evidence, not doubt. A pair the
model has not judged has priority 0: it is not known to be uncertain. The models store no margin or probability,
so there is nothing finer to rank by.

The queue serves pairs fewest slots left first, as before; the priority orders pairs equally far from their target
(annotation.selectors.pair_candidates_queryset), so the model decides which pairs are started and which open pair
is finished next.
"""

from __future__ import annotations

from collections import Counter

UNCERTAIN = 1
DISPUTED = 2


def overall_vote(dimensions: dict[str, int | None]) -> int | None:
    """An expert's overall verdict: the sign of the sum of their dimension verdicts (None: no dimension given)."""
    given = [value for value in dimensions.values() if value is not None]
    if not given:
        return None
    total = sum(given)
    return (total > 0) - (total < 0)


def majority_vote(votes: list[int | None]) -> int | None:
    """The verdict most votes gave; None when there is no vote or the leading verdicts tie."""
    counted = Counter(vote for vote in votes if vote is not None).most_common(2)
    if not counted or (len(counted) == 2 and counted[0][1] == counted[1][1]):
        return None
    return counted[0][0]


def pair_model_priority(*, model_judged: bool, model_overall: int | None, expert_dimensions: list[dict]) -> int:
    """The pair's priority in the queue from the model's verdict (`model_judged`: the model has a stored verdict
    for it; `model_overall`: its overall verdict, None when unreadable) and the experts' dimension verdicts so far
    (one dict per judgment)."""
    if not model_judged:
        return 0
    priority = UNCERTAIN if model_overall in (None, 0) else 0
    majority = majority_vote([overall_vote(dimensions) for dimensions in expert_dimensions])
    if model_overall is not None and majority is not None and majority != model_overall:
        priority += DISPUTED
    return priority
