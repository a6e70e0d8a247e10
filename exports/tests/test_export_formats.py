"""Every format loads with `datasets` (JSON and Parquet) with the documented columns and types, and its rows
follow the documented rules (preference overall rule and ties file, checklist balancing, AesRM-Base answers)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from exports import formats
from exports.models import ExportSnapshot
from exports.tests.factories import checklist_answers, experts_make, judge, pair_make
from exports.tests.helpers import all_rows, build, load, read_jsonl

pytestmark = pytest.mark.django_db

DIMENSIONS = ["VA", "VF", "VP"]
COLUMNS = {
    "aesrm-pairwise": list(formats.PAIRWISE_KEYS),
    "aesrm-base-sft": ["pair_id", "video_a", "video_b", "labels", "criteria", "swapped", "messages", "severe",
                       "checklist_answers_a", "checklist_answers_b"],
    "rl-prompts": ["pair_id", "kind", "messages", "video_a", "video_b", "video", "labels", "criteria", "score",
                   "severe"],
    "preference-pairs": ["pair_id", "dimension", "prompt", "chosen", "rejected", "chosen_is_a", "agreement"],
    "checklist-qa": list(formats.CHECKLIST_QA_KEYS),
}
TIES_COLUMNS = ["pair_id", "dimension", "prompt", "video_a", "video_b", "agreement", "split"]


@pytest.fixture
def judged_checklist_campaign(checklist_campaign):
    """12 pairs in 6 prompt groups of two, 2 raters. Video A answers every checklist question "yes"; video B "no",
    except in the second pair of every other group where it says "yes" too, so "yes" outnumbers "no" while every
    prompt group (hence every split) holds both answers. Dimensions alternate between A and B winning, with VP
    comparable in the pairs where both videos say "yes"."""
    raters = experts_make(2, checklist_campaign)
    yes, no = checklist_answers(checklist_campaign, yes=True), checklist_answers(checklist_campaign, yes=False)
    for index in range(12):
        pair = pair_make(checklist_campaign, prompt=f"prompt {index // 2}", external_id=f"p{index:02d}")
        both_yes = index % 4 == 1
        answers = {pair.video_a_id: yes, pair.video_b_id: yes if both_yes else no}
        overrides = {"VP": 0} if both_yes else {}
        for rater in raters:
            judge(pair, rater, value=1 if index % 2 else -1, checklist=answers, **overrides)
    return checklist_campaign


def feature_type(feature) -> str:
    return getattr(feature, "dtype", type(feature).__name__)


@pytest.mark.parametrize("export_format", list(COLUMNS))
def test_each_format_loads_with_datasets_with_the_documented_columns(
    judged_checklist_campaign, export_format, hf_offline, tmp_path
):
    snapshot = build(judged_checklist_campaign, export_format, path=tmp_path / export_format)
    assert snapshot.status == ExportSnapshot.Status.SUCCEEDED, snapshot.error
    folder = Path(snapshot.path)

    for kind in ("json", "parquet"):
        loaded = load(folder, kind, hf_offline)
        for split in ("train", "validation", "test"):
            assert loaded[split].column_names == COLUMNS[export_format], (kind, split)
            assert loaded[split].num_rows == snapshot.manifest["splits"][split]
        features = loaded["train"].features
        if export_format == "aesrm-pairwise":
            assert {code: feature_type(features["labels"][code]) for code in DIMENSIONS} == dict.fromkeys(
                DIMENSIONS, "string"
            )
            assert feature_type(features["criteria"]["VA1"]) == "int64"
            assert feature_type(features["severe"]["A"]["VF"]) == "bool"
            assert feature_type(next(iter(features["checklist_a"].values()))) == "int64"
            assert feature_type(features["n_raters"]) == "int64"
            assert feature_type(features["agreement"]) == "float64"
            assert feature_type(features["swapped"]) == "bool"
        elif export_format in ("aesrm-base-sft", "rl-prompts"):
            message = (
                features["messages"][0] if isinstance(features["messages"], list) else features["messages"].feature
            )
            assert feature_type(message["role"]) == "string"
            assert feature_type(features["criteria"]["VP3"]) == "int64"
        elif export_format == "preference-pairs":
            assert feature_type(features["chosen_is_a"]) == "bool"
            assert feature_type(features["agreement"]) == "float64"
        elif export_format == "checklist-qa":
            assert feature_type(features["question_id"]) == "int64"
            assert feature_type(features["answer"]) == "string"
        if kind == "parquet" and export_format == "rl-prompts":
            assert feature_type(features["score"]) == "float64" and feature_type(features["video"]) == "string"
    if export_format == "preference-pairs":
        for kind in ("json", "parquet"):
            ties = load(folder, kind, hf_offline, files=("ties",))["ties"]
            assert ties.column_names == TIES_COLUMNS and ties.num_rows == snapshot.manifest["splits"]["ties"] > 0


def test_preference_pairs_follow_the_overall_rule_and_keep_ties_apart(export_campaign, tmp_path):
    raters = experts_make(1, export_campaign)
    for index in range(9):
        judge(pair_make(export_campaign, prompt=f"filler {index}"), raters[0], value=1)
    two_to_one = pair_make(export_campaign, prompt="A wins two", external_id="two-to-one")
    judge(two_to_one, raters[0], value=1, VP=-1)
    severe = pair_make(export_campaign, prompt="A wins two but lost VP to its severe flaw", external_id="severe")
    judge(severe, raters[0], value=1, VP=-1, severe={"A": {"VP": True}, "B": {}})
    even = pair_make(export_campaign, prompt="one each", external_id="even")
    judge(even, raters[0], value=1, VF=-1, VP=0)

    snapshot = build(export_campaign, "preference-pairs", path=tmp_path / "export")

    folder = Path(snapshot.path)
    rows = [row for split_rows in all_rows(folder).values() for row in split_rows]
    ties = read_jsonl(folder / "ties.jsonl")
    overall = {row["pair_id"]: row for row in rows if row["dimension"] == "overall"}
    assert overall["two-to-one"]["chosen_is_a"] is True
    assert overall["two-to-one"]["chosen"] == f"media/{two_to_one.video_a.sha256}.mp4"
    vp = next(row for row in rows if row["pair_id"] == "two-to-one" and row["dimension"] == "VP")
    assert vp["chosen"] == f"media/{two_to_one.video_b.sha256}.mp4" and vp["chosen_is_a"] is False
    tied = {(row["pair_id"], row["dimension"]) for row in ties}
    assert ("severe", "overall") in tied and "severe" not in overall
    assert {("even", "overall"), ("even", "VP")} <= tied
    assert all(row["split"] in ("train", "validation", "test") for row in ties)
    assert snapshot.manifest["label_counts"]["overall"]["tie"] == 2
    assert snapshot.manifest["splits"]["ties"] == len(ties) == 3


def test_checklist_qa_is_balanced_per_question_by_subsampling_the_majority(judged_checklist_campaign, tmp_path):
    snapshot = build(judged_checklist_campaign, "checklist-qa", path=tmp_path / "export", seed=3)

    folder = Path(snapshot.path)
    rows = [row for split_rows in all_rows(folder).values() for row in split_rows]
    assert rows and all(row["answer"] in ("yes", "no") for row in rows)
    counts = Counter((row["split"], row["question_id"], row["answer"]) for row in rows)
    for split, question, _ in counts:
        assert counts[(split, question, "yes")] == counts[(split, question, "no")]
    # 24 videos, each once; "yes" videos outnumber "no" videos 15 to 9, so "yes" rows were subsampled
    assert len({row["video_id"] for row in rows}) <= 24
    assert Counter(row["answer"] for row in rows)["yes"] == Counter(row["answer"] for row in rows)["no"]
    again = build(judged_checklist_campaign, "checklist-qa", path=tmp_path / "again", seed=3)
    assert again.manifest["files"] == snapshot.manifest["files"]


def test_checklist_qa_applies_the_progressive_rules(judged_checklist_campaign, tmp_path):
    from annotation.models import ChecklistQuestion

    snapshot = build(judged_checklist_campaign, "checklist-qa", path=tmp_path / "export")

    rows = [row for split_rows in all_rows(Path(snapshot.path)).values() for row in split_rows]
    levels = dict(ChecklistQuestion.objects.values_list("id", "level"))
    by_video: dict[str, dict[int, str]] = {}
    for row in rows:
        by_video.setdefault(row["video_id"], {})[row["question_id"]] = row["answer"]
    # a "yes" video was given only each sub-dimension's strongest option; the weaker ones came out "yes" too
    assert any(
        answer == "yes" and levels[question] == 1
        for answers in by_video.values()
        for question, answer in answers.items()
    )
    assert "[[prompt]]" not in "".join(row["question"] for row in rows)


def test_aesrm_base_answers_are_one_sentence_and_the_verdicts(export_campaign, tmp_path):
    raters = experts_make(1, export_campaign)
    for index in range(9):
        judge(pair_make(export_campaign, prompt=f"filler {index}"), raters[0], value=1)
    pair = pair_make(export_campaign, prompt="mixed", external_id="mixed")
    judge(pair, raters[0], value=-1, VF=0, VP=0)

    snapshot = build(export_campaign, "aesrm-base-sft", path=tmp_path / "export", swap_augment=True)

    rows = [row for split_rows in all_rows(Path(snapshot.path)).values() for row in split_rows]
    original, swapped = [row for row in rows if row["pair_id"] == "mixed"]
    answer = original["messages"][-1]["content"][0]["text"]
    assert answer == (
        "Video A underperforms Video B in visual aesthetics, the two are comparable in visual fidelity, and the two "
        "are comparable in visual plausibility. <answer>VA: -1, VF: 0, VP: 0</answer>"
    )
    assert swapped["messages"][-1]["content"][0]["text"].endswith("<answer>VA: 1, VF: 0, VP: 0</answer>")
    user = original["messages"][1]["content"]
    assert [part["type"] for part in user] == ["text", "text", "video", "text", "video", "text"]
    assert (
        user[2]["video"] == original["video_a"] and swapped["messages"][1]["content"][2]["video"] == original["video_b"]
    )
    assert "mixed" in user[0]["text"]


def test_rl_prompts_hold_the_ground_truth_without_an_answer(export_campaign, tmp_path):
    raters = experts_make(1, export_campaign)
    for index in range(10):
        judge(pair_make(export_campaign, prompt=f"prompt {index}"), raters[0], value=1, VF=-1, VF2=-1)

    snapshot = build(export_campaign, "rl-prompts", path=tmp_path / "export")

    rows = [row for split_rows in all_rows(Path(snapshot.path)).values() for row in split_rows]
    assert len(rows) == 10
    for row in rows:
        assert row["kind"] == "pair" and row["video"] is None and row["score"] is None
        assert [message["role"] for message in row["messages"]] == ["system", "user"]
        assert row["labels"] == {"VA": "A", "VF": "B", "VP": "A"} and row["criteria"]["VF2"] == -1


def test_rm_training_reads_an_export(export_campaign, tmp_path):
    """The consumer's own reader (rm_training.export) opens the folder and finds every media file."""
    from rm_training.export import open_export

    raters = experts_make(1, export_campaign)
    for index in range(10):
        judge(pair_make(export_campaign, prompt=f"prompt {index}"), raters[0], value=1)
    snapshot = build(export_campaign, "aesrm-pairwise", path=tmp_path / "export")

    export = open_export(snapshot.path, ("aesrm-pairwise",))
    rows = export.rows("train") + export.rows("validation") + export.rows("test")
    assert len(rows) == 10 and export.criterion_codes[:2] == ["VA1", "VA2"]
    assert all(export.media_path(row["video_a"]).is_file() for row in rows)
    assert os.path.commonpath([export.media_path(rows[0]["video_b"]), snapshot.path]) == snapshot.path


def test_the_generation_prompt_reads_back_from_a_pair_prompt():
    for export_format in ("aesrm-base-sft", "cot-sft", "rl-prompts"):
        messages = formats.pair_prompt_for_format(
            export_format, prompt="a red kite over dunes", video_a="a.mp4", video_b="b.mp4"
        )
        assert formats.prompt_of_messages(messages) == "a red kite over dunes"
    assert formats.prompt_of_messages([{"role": "user", "content": [{"type": "text", "text": "no prompt here"}]}]) == ""


def test_every_base_sentence_reads_back_as_its_verdicts():
    """All 27 combinations of three verdicts: one clause per dimension in rubric order, and rm_training's parser
    of the seed's sentence reads each back."""
    from itertools import product

    from rm_training.parsing import sentence_verdicts

    for combination in product(("A", "B", "tie"), repeat=3):
        labels = dict(zip(("VA", "VF", "VP"), combination, strict=True))
        sentence = formats.base_sentence(labels)
        assert sentence_verdicts(sentence) == {code: formats.VERDICT_OF_LABEL[label] for code, label in labels.items()}
        positions = [sentence.index(name) for name in ("visual aesthetics", "visual fidelity", "visual plausibility")]
        assert positions == sorted(positions)
    assert formats.base_sentence({"VA": "B", "VF": "tie", "VP": "A"}) == (
        "Video A underperforms Video B in visual aesthetics, the two are comparable in visual fidelity, and it "
        "outperforms Video B in visual plausibility."
    )
