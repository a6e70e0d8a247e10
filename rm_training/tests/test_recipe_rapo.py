import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rm_training.cli import main
from rm_training.config import ConfigError, load_config
from rm_training.data import DataError
from rm_training.export import open_export
from rm_training.recipes.rapo import batch_rewards, train
from rm_training.run_dir import RunDir
from rm_training.tests.rapo_gather_driver import BATCH, SHARES, K, texts_and_targets

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


def test_rapo_config_refuses_an_atomic_stage_and_batches_of_one():
    with pytest.raises(ConfigError, match="stages.atomic_steps=0"):
        load_config(None, ["stages.atomic_steps=1", "stages.grpo_steps=1"], recipe="rapo", model_path="m")
    with pytest.raises(ConfigError, match="batch_size must be >= 2"):
        load_config(None, ["stages.grpo_steps=1", "optim.batch_size=1"], recipe="rapo", model_path="m")


def test_rapo_trains_on_scored_videos_and_reports_correlations(make_export, tiny_model_path, tmp_path):
    export = make_export("rl-prompts", sizes={"train": 4, "validation": 1, "test": 3})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "rapo", "--data", str(export), "--out", str(run),
                 f"model_path={tiny_model_path}", *FAST, "stages.grpo_steps=2"]) == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["stage"] for entry in logged] == ["grpo", "grpo"]
    assert all("grpo/reward_mean" in entry for entry in logged)
    assert all(0.0 <= entry["grpo/format_share"] <= 1.0 for entry in logged)
    assert main(["eval", "--run", str(run), "--data", str(export), "--split", "test"]) == 0
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert metrics["num_videos"] == 3
    assert 0.0 <= metrics["parse_failure_rate"] <= 1.0
    assert {"plcc", "srcc"} <= set(metrics)
    assert (run / "eval" / "test" / "scores.png").is_file()


def test_rank_reward_over_two_processes_equals_one_process_holding_the_whole_batch(tmp_path):
    """Three videos split two / one over two gloo processes: each process's rewards are the rows of the rewards of
    the concatenated batch computed in one process (FRank compares every video of the global batch), and not
    what process 0 would get from its two videos alone."""
    driver = Path(__file__).with_name("rapo_gather_driver.py")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(driver), str(tmp_path)],
        capture_output=True, text=True, env=environment, timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-4000:]
    results = [json.loads((tmp_path / f"rewards-{process}.json").read_text()) for process in (0, 1)]
    assert [result["processes"] for result in results] == [2, 2]
    texts, targets = texts_and_targets(BATCH)
    whole = batch_rewards(texts, targets, K, sigma=0.1)
    assert torch.allclose(torch.tensor(results[0]["rewards"]), whole[:2], atol=1e-6)
    assert torch.allclose(torch.tensor(results[1]["rewards"]), whole[2:], atol=1e-6)
    first_share_alone = batch_rewards(*texts_and_targets(SHARES[0]), K, sigma=0.1)
    assert not torch.allclose(first_share_alone, whole[:2])
    assert whole[1, 1] == 0.0  # the unreadable answer


def _with_critiques(export: Path) -> Path:
    """The train rows given an AesCoT critique as their assistant turn (tone by score bin, then the score)."""
    path = export / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        tone = "strong, balanced framing" if row["score"] >= 0.7 else "flat, unbalanced framing"
        critique = f"<think>The clip has {tone}.</think><answer>{row['score']:.2f}</answer>"
        row["messages"].append({"role": "assistant", "content": [{"type": "text", "text": critique}]})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (export / "train.parquet").unlink()
    return export


def test_rapo_runs_the_aescot_cold_start_then_grpo_with_the_papers_two_rates(make_export, tiny_model_path, tmp_path):
    """2 SFT steps on the critiques, then 2 GRPO steps. Logged rate after step k is that of step k + 1:
    1e-5 (SFT), then RAPO from 1e-6 decaying linearly over 2 steps: 1e-6, 0.5e-6, then 0."""
    export = _with_critiques(make_export("rl-prompts", sizes={"train": 4, "validation": 1, "test": 1}))
    run = tmp_path / "run"
    assert main(["train", "--recipe", "rapo", "--data", str(export), "--out", str(run),
                 f"model_path={tiny_model_path}", *FAST[:-1], "stages.sft_steps=2", "stages.grpo_steps=2"]) == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["stage"] for entry in logged] == ["sft", "sft", "grpo", "grpo"]
    assert all(entry["sft/target_tokens"] > 0 for entry in logged[:2])
    assert [entry["learning_rate"] for entry in logged] == pytest.approx([1e-5, 1e-6, 0.5e-6, 0.0], abs=1e-15)
    metrics = json.loads((run / "train_metrics.json").read_text())
    assert (metrics["cold_start_rows"], metrics["grpo_rows"]) == (4, 4)


def test_rapo_cold_start_without_critiques_is_refused_with_the_reason(make_export, tiny_model_path, tmp_path):
    export = make_export("rl-prompts", sizes={"train": 2, "validation": 1, "test": 1})
    config = load_config(None, [*FAST[:-1], "stages.sft_steps=1", "stages.grpo_steps=1"], recipe="rapo",
                         model_path=str(tiny_model_path), data=str(export), out=str(tmp_path / "run"))
    with pytest.raises(DataError, match="no scored single-video row carries a critique"):
        train(config, open_export(export), RunDir(tmp_path / "run"))
