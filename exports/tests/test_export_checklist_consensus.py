"""The consensus answer an export gives each checklist question of a video: the answer most annotators gave, none
when the top count is shared."""

import numpy as np

from exports.selectors import CONSENSUS_ANSWERS, checklist_consensus


def test_the_most_given_answer_wins_and_a_shared_top_count_or_no_answer_gives_none():
    yes, no, na = (CONSENSUS_ANSWERS.index(answer) for answer in ("yes", "no", "na"))
    counts = np.array(
        [
            [2, 1, 0],  # two yes, one no
            [0, 1, 2],  # two na, one no
            [1, 1, 1],  # one each
            [1, 1, 0],  # one yes, one no
            [0, 0, 0],  # nobody answered
            [0, 3, 0],
        ]
    )

    assert checklist_consensus(counts).tolist() == [yes, na, -1, -1, -1, no]
