import json

import pytest

from rm_training.cli import main
from rm_training.config import ConfigError, load_config
from rm_training.recipes.rapo import batch_rewards

FAST = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "optim.batch_size=2",
        "grpo.max_new_tokens=8", "grpo.num_generations=2", "stages.sft_steps=0"]


def test_batch_rewards_score_each_completion_and_zero_unreadable_ones():
    """Two videos (targets 0.9, 0.1), K = 2. Completions: video 1 -> "0.7" and garbage; video 2 ->
    "0.5" twice. Valid means: 0.7 and 0.5, variances 0, gamma 1e-6 -> Phi(+-0.2/0.001) ~ 1 / 0,
    so the rank terms are ~1 for every valid sample. Absolute terms (sigma 0.1): video 1 error 0.2
    -> exp(-2) = 0.135335 (+1e-4); video 2 error 0.4 -> exp(-8) = 0.000335 (+1e-4)."""
    rewards = batch_rewards(["<answer>0.7</answer>", "no score", "<answer>0.5</answer>", "<answer>0.5</answer>"],
                            [0.9, 0.1], num_generations=2, sigma=0.1)
    assert rewards[0].tolist() == pytest.approx([1.135435, 0.0], abs=1e-4)
    assert rewards[1].tolist() == pytest.approx([1.000435, 1.000435], abs=1e-4)


def test_rapo_config_needs_a_grpo_only_run_with_batches_of_two():
    with pytest.raises(ConfigError, match="stages.sft_steps=0"):
        load_config(None, ["stages.grpo_steps=1"], recipe="rapo", model_path="m")
    with pytest.raises(ConfigError, match="batch_size must be >= 2"):
        load_config(None, ["stages.sft_steps=0", "stages.grpo_steps=1", "optim.batch_size=1"],
                    recipe="rapo", model_path="m")


def test_rapo_trains_on_scored_videos_and_reports_correlations(make_export, tiny_model_path, tmp_path):
    export = make_export("rl-prompts", sizes={"train": 4, "validation": 1, "test": 3})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "rapo", "--data", str(export), "--out", str(run),
                 f"model_path={tiny_model_path}", *FAST, "stages.grpo_steps=2"]) == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["stage"] for entry in logged] == ["grpo", "grpo"]
    assert all("grpo/reward_mean" in entry for entry in logged)
    assert main(["eval", "--run", str(run), "--data", str(export), "--split", "test"]) == 0
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert metrics["num_videos"] == 3
    assert 0.0 <= metrics["parse_failure_rate"] <= 1.0
    assert {"plcc", "srcc"} <= set(metrics)
    assert (run / "eval" / "test" / "scores.png").is_file()
