import json

import pytest

from rm_training.cli import main
from rm_training.config import ConfigError
from rm_training.scoring import ChecklistScorer, DescoreScorer


def test_descore_scorer_gives_the_rewards_eval_computed(make_export, tiny_model_path, tmp_path):
    export = make_export("aesrm-pairwise", sizes={"train": 4, "validation": 1, "test": 2})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "descore", "--data", str(export), "--out", str(run),
                 f"model_path={tiny_model_path}", "video.fps=4", "video.max_frames=4", "video.max_pixels=3136",
                 "stages.sft_steps=1", "descore.eval_cot_tokens=0"]) == 0
    assert main(["eval", "--run", str(run), "--data", str(export), "--split", "test"]) == 0
    prediction = json.loads((run / "eval" / "test" / "predictions.jsonl").read_text().splitlines()[0])
    row = json.loads((export / "test.jsonl").read_text().splitlines()[0])
    rewards = DescoreScorer.from_run(run).rewards(export / row["video_a"], prompt=row["prompt"])
    assert list(rewards.values()) == pytest.approx(prediction["rewards_a"], abs=1e-5)


def test_a_descore_scorer_refuses_another_recipe(make_export, tmp_path):
    export = make_export("aesrm-pairwise", sizes={"train": 4, "validation": 1, "test": 1})
    assert main(["train", "--recipe", "checklist-linear", "--data", str(export), "--out", str(tmp_path / "run")]) == 0
    with pytest.raises(ConfigError, match="not descore"):
        DescoreScorer.from_run(tmp_path / "run")
    scores = ChecklistScorer.from_run(tmp_path / "run").rewards({"1": 1, "2": 1})
    assert scores["overall"] == pytest.approx(scores["Quality"] + scores["Dynamic"] + scores["Physics"])
    assert scores["Quality"] > ChecklistScorer.from_run(tmp_path / "run").rewards({"1": 0})["Quality"]
