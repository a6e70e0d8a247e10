"""Adaptive overlap: easy pairs close at the campaign's overlap, disputed pairs get more experts.

A campaign with `max_overlap` above its `overlap` hands each pair to `overlap` experts first. Once every expert the
pair has now has submitted, the pair's dimension verdicts are put to the vote; if they disagree (below), the pair
asks for one more expert (VideoPair.extra_overlap + 1), up to `max_overlap` experts in all. The queue hands out a
pair while it has fewer assignments than its target (Campaign.overlap_target); see annotation.selectors.

Disagreement is the agreement app's consensus rule applied to the dimension verdicts (A better, comparable, B
better per dimension): a dimension's vote is the verdict most experts gave, a tie votes "comparable", and its
agreement is the share of experts who gave the vote. The pair disagrees when some dimension's agreement is below
the campaign's agreement threshold, exactly when agreement's consensus would send it to adjudication on a dimension.
Criteria are not counted: with 15 of them nearly every pair has one split criterion, and the dimension verdicts are
the labels exports and reward models use.
"""

from __future__ import annotations

import numpy as np

from agreement.metrics import majority_vote

VERDICTS = (-1, 0, 1)
COMPARABLE_INDEX = VERDICTS.index(0)


def dimension_verdicts_disagree(dimension_verdicts: list[dict[str, int]], *, threshold: float) -> bool:
    """Whether the judgments' dimension verdicts ({"VA": 1, "VF": -1, ...}, one dict per judgment) disagree:
    some dimension's majority (ties count as "comparable") is backed by a share of experts below `threshold`."""
    codes = sorted({code for verdicts in dimension_verdicts for code in verdicts})
    if not codes:
        return False
    counts = np.zeros((len(codes), len(VERDICTS)), dtype=np.int64)
    for verdicts in dimension_verdicts:
        for row, code in enumerate(codes):
            if code in verdicts:
                counts[row, VERDICTS.index(verdicts[code])] += 1
    votes = majority_vote(counts, tie_code=COMPARABLE_INDEX)
    return bool((np.nan_to_num(votes.agreement, nan=1.0) < threshold).any())
