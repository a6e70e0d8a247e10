"""What the AesRM training rows carry for rm_training: the same pair prompt in SFT rows and rl-prompts rows,
severe flags that decide the taught answer, and each video's checklist answers for the atomic stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from exports.tests.factories import checklist_answers, experts_make, judge, pair_make
from exports.tests.helpers import all_rows, build
from rm_training.data import prompt_messages
from rm_training.recipes.aesrm import atomic_examples, grpo_prompt_messages

pytestmark = pytest.mark.django_db


def _rows(snapshot) -> dict[str, dict]:
    return {row["pair_id"]: row for rows in all_rows(Path(snapshot.path)).values() for row in rows}


def test_an_rl_prompts_pair_is_asked_exactly_as_the_sft_row_of_the_same_pair(export_campaign, tmp_path):
    raters = experts_make(1, export_campaign)
    for index in range(10):
        judge(pair_make(export_campaign, prompt=f"a kite over dunes {index}", external_id=f"p{index}"), raters[0])

    base = _rows(build(export_campaign, "aesrm-base-sft", path=tmp_path / "base"))
    prompts = _rows(build(export_campaign, "rl-prompts", path=tmp_path / "rl"))

    assert base.keys() == prompts.keys()
    for pair_id, row in prompts.items():
        assert grpo_prompt_messages(row, "base") == prompt_messages(base[pair_id]["messages"])
        # the rows themselves carry the AesRM-CoT prompt, format instruction included
        assert grpo_prompt_messages(row, "cot") == row["messages"]
        assert "<think>" in row["messages"][1]["content"][0]["text"]


def test_a_severe_flag_decides_the_taught_answer_and_travels_with_the_rows(export_campaign, tmp_path):
    """The expert prefers A in every dimension but flags a severe violation on A in VP: the consensus label
    stays A, the taught Base answer says B for VP (the severe rule), and the rows carry the flags."""
    raters = experts_make(1, export_campaign)
    for index in range(9):
        judge(pair_make(export_campaign, prompt=f"filler {index}"), raters[0], value=1)
    flagged = pair_make(export_campaign, prompt="a melting face", external_id="flagged")
    judge(flagged, raters[0], value=1, severe={"A": {"VP": True}, "B": {}})

    base = _rows(build(export_campaign, "aesrm-base-sft", path=tmp_path / "base"))["flagged"]
    prompts = _rows(build(export_campaign, "rl-prompts", path=tmp_path / "rl"))["flagged"]

    assert base["labels"] == prompts["labels"] == {"VA": "A", "VF": "A", "VP": "A"}
    assert base["messages"][-1]["content"][0]["text"] == (
        "Video A outperforms Video B in visual aesthetics, it outperforms Video B in visual fidelity, and it "
        "underperforms Video B in visual plausibility. <answer>VA: 1, VF: 1, VP: -1</answer>"
    )
    flags = {"A": {"VA": False, "VF": False, "VP": True}, "B": {"VA": False, "VF": False, "VP": False}}
    assert base["severe"] == prompts["severe"] == flags


def test_base_sft_rows_carry_each_videos_checklist_answers_for_the_atomic_stage(checklist_campaign, tmp_path):
    """Video A answers the checklist "yes", video B "no" (the progressive rules fill in the other options): the
    rows list both videos' answers with the question texts, and the atomic stage asks them about one video
    each, "Yes" about A and "No" about B."""
    (rater,) = experts_make(1, checklist_campaign)
    for index in range(10):
        pair = pair_make(checklist_campaign, prompt=f"a lighthouse {index}", external_id=f"p{index}")
        answers = {pair.video_a_id: checklist_answers(checklist_campaign, yes=True),
                   pair.video_b_id: checklist_answers(checklist_campaign, yes=False)}
        judge(pair, rater, value=1, checklist=answers)

    rows = _rows(build(checklist_campaign, "aesrm-base-sft", path=tmp_path / "base"))

    row = rows["p0"]
    answers_a, answers_b = row["checklist_answers_a"], row["checklist_answers_b"]
    assert answers_a and {item["answer"] for item in answers_a} == {"yes"}
    assert answers_b and {item["answer"] for item in answers_b} == {"no"}
    assert all(item["question"] and "[[prompt]]" not in item["question"] for item in answers_a + answers_b)
    examples = atomic_examples([row])
    assert len(examples) == len(answers_a) + len(answers_b)
    for messages, answer in examples:
        videos = [part["video"] for message in messages for part in message["content"] if part["type"] == "video"]
        assert videos == ([row["video_a"]] if answer == "Yes" else [row["video_b"]])
