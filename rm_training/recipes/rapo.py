"""rapo: Aes-R1 (seeds 004 / 002) on scored single videos (``rl-prompts`` rows with ``kind == "single"``).

Stages (one global step count, see :mod:`rm_training.loop`):
1. ``sft`` (``stages.sft_steps``): AesCoT cold start, next-token loss on the rows that carry an accepted critique
   as their assistant turn (``<think>critique</think><answer>score</answer>``), through aesrm's SFT loss.
2. ``grpo``: K sampled answers per video; reward = FRank relative rank reward over every video of the global
   batch (all processes, gathered) + Gaussian absolute-error reward; a completion without a readable score gets 0.

Evaluation reports PLCC / SRCC of greedy scores, an unreadable answer counted at the far end of the scale
(:func:`rm_training.evaluation.score_correlations`).
"""

from __future__ import annotations

import torch

from rm_training.config import TrainConfig
from rm_training.data import DataError, EncodedSequence, assistant_text, collate, prompt_messages
from rm_training.evaluation import score_correlations
from rm_training.export import Export
from rm_training.generation import generator_for_run
from rm_training.grpo import GRPOUpdates, PromptBatch, encode_prompt_batch, reference_for_run, sample
from rm_training.loop import Stage
from rm_training.modeling import base_model, generation_options, model_inputs
from rm_training.recipes.aesrm import build, resumed_trainer, sft_example_loss
from rm_training.rewards import parse_score, rapo_reward
from rm_training.run_dir import RunDir


def scored_rows(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row.get("kind") == "single" and row.get("score") is not None]


def has_critique(row: dict) -> bool:
    return any(message.get("role") == "assistant" for message in row.get("messages") or [])


def critique_rows(rows: list[dict]) -> list[dict]:
    """The cold-start rows: scored single videos whose messages end with an accepted critique that gives a score."""
    chosen = [row for row in scored_rows(rows) if has_critique(row)]
    for row in chosen:
        if parse_score(assistant_text(row["messages"])) is None:
            raise DataError(f"row {row.get('pair_id')}: its critique ends without <answer>score</answer>")
    return chosen


def _gather_rows(local: torch.Tensor, accelerator) -> tuple[torch.Tensor, list[int]]:
    """Every process's rows of ``local`` (same width everywhere, any number of rows), in process order, and the
    row count of each process: padded to the longest, gathered, the padding cut off again."""
    device = accelerator.device
    counts = [int(count) for count in accelerator.gather(torch.tensor([local.shape[0]], device=device)).tolist()]
    padded = accelerator.pad_across_processes(local.to(device), dim=0)
    gathered = accelerator.gather(padded).cpu()
    longest = padded.shape[0]
    pieces = [gathered[process * longest: process * longest + count] for process, count in enumerate(counts)]
    return torch.cat(pieces), counts


def batch_rewards(texts: list[str], targets: list[float], num_generations: int, sigma: float,
                  accelerator=None) -> torch.Tensor:
    """``(N, K)`` RAPO rewards for this process's N videos x K completions (row-major ``texts``).

    The rank reward compares each video with every other video of the *global* batch: with several processes
    the scores, their validity and the targets of all processes are gathered, the rewards computed over all of
    them, and this process's rows returned (so the rewards are those of one process holding the whole batch).
    """
    scores = [parse_score(text) for text in texts]
    valid = torch.tensor([score is not None for score in scores], dtype=torch.float64).view(-1, num_generations)
    predicted = torch.tensor([score if score is not None else 0.0 for score in scores],
                             dtype=torch.float64).view(-1, num_generations)
    target = torch.tensor(targets, dtype=torch.float64)
    if accelerator is None or accelerator.num_processes == 1:
        return rapo_reward(predicted, target, sigma=sigma, valid=valid.bool()).float()
    local = torch.cat([predicted, valid, target[:, None]], dim=1)
    everything, counts = _gather_rows(local, accelerator)
    k = num_generations
    rewards = rapo_reward(everything[:, :k], everything[:, 2 * k], sigma=sigma, valid=everything[:, k: 2 * k].bool())
    start = sum(counts[: accelerator.process_index])
    return rewards[start: start + counts[accelerator.process_index]].float()


def train(config: TrainConfig, export: Export, run: RunDir) -> dict:
    checkpoint = run.last_checkpoint()
    model, tokenizer, encoder = build(config, export, checkpoint or config.model_path)
    train_rows = export.rows("train")
    rows = scored_rows(train_rows)
    if len(rows) < 2:
        raise DataError("rapo needs at least two scored single-video rows (kind 'single' with a score)")
    critiques = critique_rows(train_rows) if config.stages.sft_steps else []
    if config.stages.sft_steps and not critiques:
        raise DataError("stages.sft_steps > 0 but no scored single-video row carries a critique (an assistant turn): "
                        "export rl-prompts from a campaign with accepted AesCoT critiques of scored videos, "
                        "or set stages.sft_steps=0")

    trainer = resumed_trainer(config, run, model, tokenizer, checkpoint)
    pad, video_id = tokenizer.pad_token_id, encoder.video_token_id
    grpo = {}

    def sft_sequences(indices: list[int]) -> list[EncodedSequence]:
        return [encoder.encode(critiques[i]["messages"], completion=assistant_text(critiques[i]["messages"]))
                for i in indices]

    def sft_loss(sequences: list[EncodedSequence]):
        return sft_example_loss(trainer.model, sequences, pad, video_id)

    def prompt_batch(indices: list[int]) -> PromptBatch:
        return encode_prompt_batch(encoder, rows, indices)

    def new_rollout(prompts: PromptBatch):
        rollout = sample(trainer.model, prompts.batch, tokenizer, config.grpo, prompts.videos_per_row,
                         grpo["generator"])
        rewards = batch_rewards(rollout.texts, [float(rows[i]["score"]) for i in prompts.indices],
                                config.grpo.num_generations, config.grpo.rapo_sigma, trainer.accelerator)
        parsed = [parse_score(text) is not None for text in rollout.texts]
        rollout.stats["format_share"] = sum(parsed) / len(parsed)
        return rollout, rewards

    def start() -> None:
        grpo["generator"] = generator_for_run(config, trainer, tokenizer, encoder.videos.geometry,
                                              videos_per_prompt=1)
        grpo["updates"] = GRPOUpdates(trainer.model, config.grpo, reference_for_run(config, trainer), new_rollout)

    def grpo_step(prompts: PromptBatch):
        return grpo["updates"](prompts)

    result = trainer.fit([
        Stage("sft", config.stages.sft_steps, max(1, len(critiques)), sft_loss, prepare=sft_sequences),
        Stage("grpo", config.stages.grpo_steps, len(rows), grpo_step, on_start=start, prepare=prompt_batch),
    ])
    metrics = {"final_step": result["final_step"], "train_losses": result["losses"],
               "cold_start_rows": len(critiques), "grpo_rows": len(rows)}
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
    predicted: list[float | None] = []
    for row in rows:
        batch = collate([encoder.encode(prompt_messages(row["messages"]))], tokenizer.pad_token_id,
                        encoder.video_token_id, "left")
        generated = base_model(model).generate(**model_inputs(batch), do_sample=False,
                                               max_new_tokens=config.grpo.max_new_tokens,
                                               **generation_options(tokenizer))
        predicted.append(parse_score(tokenizer.decode(generated[0, batch["input_ids"].shape[1]:],
                                                      skip_special_tokens=True)))
    targets = [float(row["score"]) for row in rows]
    return {"num_videos": len(rows), **score_correlations(predicted, targets),
            "predicted": predicted, "targets": targets}
