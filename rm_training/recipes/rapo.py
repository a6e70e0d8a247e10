"""rapo: GRPO on scored single videos (``rl-prompts`` rows with ``kind == "single"``), seed 004.

The model answers with a score in ``<answer>0.62</answer>``; rewards are RAPO's FRank relative rank
reward (across the videos of the batch) plus the Gaussian absolute-error reward. A completion
without a readable score gets 0. Evaluation reports PLCC / SRCC of greedy scores.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rm_training.config import TrainConfig
from rm_training.data import DataError, collate, prompt_messages
from rm_training.evaluation import pearson_spearman
from rm_training.export import Export
from rm_training.generation import generator_for_run
from rm_training.grpo import GRPOUpdates, PromptBatch, encode_prompt_batch, reference_for_run, sample
from rm_training.loop import Stage, Trainer
from rm_training.modeling import base_model, generation_options, model_inputs
from rm_training.recipes.aesrm import build
from rm_training.rewards import parse_score, rapo_reward
from rm_training.run_dir import RunDir


def scored_rows(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row.get("kind") == "single" and row.get("score") is not None]


def batch_rewards(texts: list[str], targets: list[float], num_generations: int, sigma: float) -> torch.Tensor:
    """``(N, K)`` RAPO rewards for N videos x K completions (row-major ``texts``)."""
    scores = [parse_score(text) for text in texts]
    valid = torch.tensor([score is not None for score in scores]).view(-1, num_generations)
    predicted = torch.tensor([score if score is not None else 0.0 for score in scores]).view(-1, num_generations)
    return rapo_reward(predicted, torch.tensor(targets), sigma=sigma, valid=valid).float()


def train(config: TrainConfig, export: Export, run: RunDir) -> dict:
    checkpoint = run.last_checkpoint()
    model, tokenizer, encoder = build(config, export, checkpoint or config.model_path)
    rows = scored_rows(export.rows("train"))
    if len(rows) < 2:
        raise DataError("rapo needs at least two scored single-video rows (kind 'single' with a score)")

    def save(module, path: Path) -> None:
        module.save_pretrained(path)
        tokenizer.save_pretrained(path)

    trainer = Trainer(config, run, model, save)
    trainer.resume(checkpoint)
    grpo = {}

    def prompt_batch(indices: list[int]) -> PromptBatch:
        return encode_prompt_batch(encoder, rows, indices)

    def new_rollout(prompts: PromptBatch):
        rollout = sample(trainer.model, prompts.batch, tokenizer, config.grpo, prompts.videos_per_row,
                         grpo["generator"])
        rewards = batch_rewards(rollout.texts, [float(rows[i]["score"]) for i in prompts.indices],
                                config.grpo.num_generations, config.grpo.rapo_sigma)
        return rollout, rewards

    def start() -> None:
        grpo["generator"] = generator_for_run(config, trainer, tokenizer, encoder.videos.geometry,
                                              videos_per_prompt=1)
        grpo["updates"] = GRPOUpdates(trainer.model, config.grpo, reference_for_run(config, trainer), new_rollout)

    def grpo_step(prompts: PromptBatch):
        return grpo["updates"](prompts)

    result = trainer.fit([Stage("grpo", config.stages.grpo_steps, len(rows), grpo_step, on_start=start,
                                prepare=prompt_batch)])
    metrics = {"final_step": result["final_step"], "train_losses": result["losses"]}
    run.write_json("train_metrics.json", metrics)
    return metrics


@torch.no_grad()
def evaluate_scores(run: RunDir, export: Export, rows: list[dict]) -> dict:
    config = run.config()
    checkpoint = run.last_checkpoint()
    if checkpoint is None:
        raise DataError(f"{run.path} has no checkpoint to evaluate")
    model, tokenizer, encoder = build(config, export, checkpoint)
    model.eval()
    rows = scored_rows(rows)
    predicted, targets, failures = [], [], 0
    for row in rows:
        batch = collate([encoder.encode(prompt_messages(row["messages"]))], tokenizer.pad_token_id,
                        encoder.video_token_id, "left")
        generated = base_model(model).generate(**model_inputs(batch), do_sample=False,
                                               max_new_tokens=config.grpo.max_new_tokens,
                                               **generation_options(tokenizer))
        score = parse_score(tokenizer.decode(generated[0, batch["input_ids"].shape[1]:], skip_special_tokens=True))
        if score is None:
            failures += 1
            continue
        predicted.append(score)
        targets.append(float(row["score"]))
    return {"num_videos": len(rows), "parse_failure_rate": failures / len(rows) if rows else None,
            **pearson_spearman(predicted, targets), "predicted": predicted, "targets": targets}
