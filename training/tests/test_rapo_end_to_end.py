"""Aes-R1 / RAPO through the app: real clips judged by experts, an rl-prompts export with scored single videos and
accepted AesCoT critiques, then rm_training's rapo recipe (cold-start SFT, then GRPO) and its PLCC / SRCC eval."""

import json
from pathlib import Path

import pytest

from distillation.models import Critique, DistillationItem, DistillationJob
from distillation.prompts import tone_for_score
from distillation.tests.factories import endpoint_create
from exports.services import exports_root
from exports.tests.helpers import all_rows, build
from rm_training.cli import main as rm_training_main
from training.tests.conftest import TINY_VIDEO, judged_clips_snapshot

pytestmark = pytest.mark.django_db(transaction=True)  # the clips' proxies are made on commit of their import

TONES = {"bad": "muddy light and a cramped frame", "fair": "serviceable light and a plain frame",
         "good": "warm light and a balanced frame"}


def _accept_a_critique_of_every_video(campaign, scores: dict[str, float], curator) -> None:
    """One accepted scored-video critique per video, written for its own score (stored as accepted: the filters and
    the audit have their own tests)."""
    job = DistillationJob.objects.create(campaign=campaign, endpoint=endpoint_create(name="teacher"), kind="scores",
                                         prompt_version="aescot-score-v1", total_items=len(scores))
    videos = {video.sha256: video for pair in campaign.pairs.all() for video in (pair.video_a, pair.video_b)}
    for sha256, score in scores.items():
        item = DistillationItem.objects.create(job=job, video=videos[sha256], score=score, tone=tone_for_score(score),
                                               item_key=f"video:{sha256}")
        text = f"<think>The clip has {TONES[tone_for_score(score)]}.</think><answer>{score:.2f}</answer>"
        Critique.objects.create(item=item, sample_index=0, raw_text=text, text=text, passed=True,
                                review=Critique.Review.ACCEPTED, reviewed_by=curator)


def test_scored_videos_exported_by_the_app_train_rapo_with_its_cold_start(
    four_scenes, django_user_model, curator, tiny_model, tmp_path
):
    campaign = judged_clips_snapshot(four_scenes, django_user_model, exports_root() / "rl-pairs", "rl-prompts").campaign
    first = build(campaign, "rl-prompts", path=tmp_path / "first", split=[0.5, 0.25, 0.25], seed=3,
                  video_scores="judgments")
    scores = {Path(row["video"]).stem: row["score"] for rows in all_rows(Path(first.path)).values() for row in rows
              if row["kind"] == "single"}
    _accept_a_critique_of_every_video(campaign, scores, curator)

    export = build(campaign, "rl-prompts", path=tmp_path / "export", split=[0.5, 0.25, 0.25], seed=3,
                   video_scores="judgments")

    assert export.manifest["video_scores"]["with_critique"] == len(scores)
    train_rows = [row for row in all_rows(Path(export.path))["train"] if row["kind"] == "single"]
    assert train_rows and all(row["messages"][-1]["role"] == "assistant" for row in train_rows)
    run = tmp_path / "run"
    assert rm_training_main(["train", "--recipe", "rapo", "--data", export.path, "--out", str(run),
                             f"model_path={tiny_model}", *TINY_VIDEO, "grpo.num_generations=2",
                             "stages.sft_steps=1", "stages.grpo_steps=1"]) == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["stage"] for entry in logged] == ["sft", "grpo"]
    assert logged[0]["sft/target_tokens"] > 0 and "grpo/reward_mean" in logged[1]
    assert rm_training_main(["eval", "--run", str(run), "--data", export.path, "--split", "test"]) == 0
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    test_videos = sum(row["kind"] == "single" for row in all_rows(Path(export.path))["test"])
    assert metrics["num_videos"] == test_videos > 0
    assert metrics["num_unparsable"] == round(metrics["parse_failure_rate"] * test_videos)
