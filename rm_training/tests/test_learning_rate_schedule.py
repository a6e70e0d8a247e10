"""The learning rate follows ``optim.lr_scheduler`` over the run's optimizer steps, once per step."""

import json
import math

import pytest
import torch
from torch import nn

from rm_training.config import ConfigError, load_config
from rm_training.loop import Stage, Trainer
from rm_training.run_dir import RunDir


def _learning_rates(tmp_path, scheduler: str, accumulation: int = 1) -> list[float]:
    config = load_config(None, [f"optim.lr_scheduler={scheduler}", "optim.learning_rate=1e-3", "optim.warmup_steps=2",
                                f"optim.gradient_accumulation_steps={accumulation}", "stages.sft_steps=10",
                                "save_every=1000"], recipe="checklist-linear")
    model = nn.Linear(2, 1)
    trainer = Trainer(config, RunDir(tmp_path / "run"), model, lambda module, path, state_dict: None)

    def loss(indices: list[int]):
        return trainer.model(torch.ones(len(indices), 2)).pow(2).mean(), {}

    trainer.fit([Stage("sft", 10, 4, loss)])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["learning_rate"] for line in lines]


def test_linear_schedule_warms_up_then_decays_to_zero_at_the_last_step(tmp_path):
    """Peak 1e-3, warm-up 2, 10 steps. The rate logged after optimizer step k (k = 1..10) is the rate of
    step k + 1: k / 2 * 1e-3 while k < 2, then (10 - k) / (10 - 2) * 1e-3:
    0.5e-3, 1e-3, 0.875e-3, 0.75e-3, 0.625e-3, 0.5e-3, 0.375e-3, 0.25e-3, 0.125e-3, 0."""
    expected = [0.5e-3, 1e-3, 0.875e-3, 0.75e-3, 0.625e-3, 0.5e-3, 0.375e-3, 0.25e-3, 0.125e-3, 0.0]
    assert _learning_rates(tmp_path, "linear") == pytest.approx(expected, abs=1e-12)


def test_cosine_schedule_follows_half_a_cosine_after_warm_up(tmp_path):
    """After step k >= 2: 1e-3 * 0.5 * (1 + cos(pi * (k - 2) / 8)); k = 6 is the half-way point, 0.5e-3."""
    rates = _learning_rates(tmp_path, "cosine")
    assert rates[:2] == pytest.approx([0.5e-3, 1e-3])
    for k in range(2, 11):
        assert rates[k - 1] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * (k - 2) / 8)), abs=1e-12)
    assert rates[5] == pytest.approx(0.5e-3)


def test_schedule_steps_once_per_optimizer_step_not_per_micro_batch(tmp_path):
    """Four micro-batches per step change nothing: the same rates as above after each optimizer step."""
    assert _learning_rates(tmp_path, "linear", accumulation=4)[:3] == pytest.approx([0.5e-3, 1e-3, 0.875e-3])


def test_constant_schedule_keeps_the_peak_after_warm_up(tmp_path):
    assert _learning_rates(tmp_path, "constant")[1:] == pytest.approx([1e-3] * 9)


def test_unknown_scheduler_is_refused():
    with pytest.raises(ConfigError, match="lr_scheduler"):
        load_config(None, ["optim.lr_scheduler=step"], recipe="checklist-linear")


def test_cold_start_runs_at_its_own_rate_then_grpo_decays_linearly_from_the_grpo_rate(tmp_path):
    """Seed 004's two rates: SFT at optim.sft_learning_rate (here 1e-2), then GRPO from optim.learning_rate (1e-3)
    with linear decay to 0 over the GRPO steps. 2 SFT + 4 GRPO steps; the rate logged after step k is that of step
    k + 1: k = 1 -> 1e-2 (second SFT step), then (4 - j) / 4 * 1e-3 for GRPO step j = 0..3, then 0:
    1e-2, 1e-3, 0.75e-3, 0.5e-3, 0.25e-3, 0."""
    config = load_config(None, ["optim.lr_scheduler=linear", "optim.learning_rate=1e-3", "optim.sft_learning_rate=1e-2",
                                "stages.sft_steps=2", "stages.grpo_steps=4", "save_every=1000"],
                         recipe="checklist-linear")
    model = nn.Linear(2, 1)
    trainer = Trainer(config, RunDir(tmp_path / "run"), model, lambda module, path, state_dict: None)
    applied = []

    def loss(indices: list[int]):
        applied.append(trainer.optimizer.param_groups[0]["lr"])
        return trainer.model(torch.ones(len(indices), 2)).pow(2).mean(), {}

    trainer.fit([Stage("sft", 2, 4, loss), Stage("grpo", 4, 4, loss)])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    logged = [json.loads(line)["learning_rate"] for line in lines]
    assert applied == pytest.approx([1e-2, 1e-2, 1e-3, 0.75e-3, 0.5e-3, 0.25e-3], abs=1e-12)
    assert logged == pytest.approx([1e-2, 1e-3, 0.75e-3, 0.5e-3, 0.25e-3, 0.0], abs=1e-12)


def test_rapo_defaults_are_the_papers_rates():
    """Seed 004, appendix C: RAPO from 1e-6 with linear decay, the cold start at 1e-5."""
    config = load_config(None, ["stages.grpo_steps=1"], recipe="rapo", model_path="m")
    assert (config.optim.learning_rate, config.optim.lr_scheduler, config.optim.sft_learning_rate) == (
        1e-6, "linear", 1e-5)
    assert (config.grpo.num_generations, config.grpo.epsilon_high, config.grpo.kl_beta, config.grpo.rapo_sigma) == (
        4, 0.28, 0.01, 0.1)
    assert load_config(None, ["optim.learning_rate=2e-6", "stages.grpo_steps=1"], recipe="rapo",
                       model_path="m").optim.learning_rate == 2e-6


def test_a_run_continued_with_another_learning_rate_trains_at_the_new_one(tmp_path):
    """The benchmark's aesrm-base-grpo: a cold start of 2 SFT steps at optim.learning_rate=1e-2 is saved, then the
    same run folder continues with optim.learning_rate=1e-3 for 3 constant GRPO steps. The checkpoint holds the old
    rate; the GRPO steps must run at 1e-3 (they ran at 1e-2 before, whatever the config said), and the step count
    and the optimizer's moments still come from the checkpoint."""
    run = RunDir(tmp_path / "run")
    saved = {}

    def save_model(module, path, state_dict):
        saved["path"] = path

    def trainer_for(rate: float, grpo_steps: int) -> Trainer:
        config = load_config(None, [f"optim.learning_rate={rate}", "stages.sft_steps=2",
                                    f"stages.grpo_steps={grpo_steps}", "save_every=1000"], recipe="checklist-linear")
        torch.manual_seed(0)
        return Trainer(config, run, nn.Linear(2, 1), save_model)

    cold = trainer_for(1e-2, 0)
    cold.fit([Stage("sft", 2, 4, lambda indices: (cold.model(torch.ones(len(indices), 2)).pow(2).mean(), {}))])
    checkpoint = cold.save_checkpoint("sft")

    continued = trainer_for(1e-3, 3)
    assert continued.resume(checkpoint) == 2
    assert continued.optimizer.state_dict()["state"], "the optimizer's moments come from the checkpoint"
    applied = []

    def loss(indices: list[int]):
        applied.append(continued.optimizer.param_groups[0]["lr"])
        return continued.model(torch.ones(len(indices), 2)).pow(2).mean(), {}

    continued.fit([Stage("sft", 2, 4, loss), Stage("grpo", 3, 4, loss)])
    assert applied == pytest.approx([1e-3, 1e-3, 1e-3], abs=1e-12)
