"""descore: think, then score (seed 001).

Each video of a pair is scored on its own: ``system + user(video) + assistant(reasoning) + [Reward]``;
the last hidden state of the learnable ``[Reward]`` query token goes through a linear head giving one
reward per dimension (VA, VF, VP). Stages (one global step count, see :mod:`rm_training.loop`):

1. ``reasoning`` (``stages.reasoning_steps``): SFT teaching the model to write a video's reasoning:
   cross-entropy on the reasoning tokens only, from the video's half of each accepted critique.
2. ``bt`` (``stages.sft_steps``): the discriminative cold start. Bradley-Terry on (r_A, r_B) per
   dimension (ties skipped) or Rao-Kupper, on the pre-collected (teacher) reasoning, where each
   sequence's whole reasoning is hidden from the ``[Reward]`` token with probability
   ``descore.cot_mask_probability`` so the head also learns to score from the video alone.
3. ``grpo`` (``stages.grpo_steps``): dual-objective RL. The policy samples K reasonings per video; a
   reasoning's reward is the probability the head's score with it gives the labelled outcome against
   the other video's sampled reasonings; GRPO on the reasoning tokens plus ``descore.rl_bt_weight`` x
   BT on the head over the same sampled reasonings.

Validation and evaluation always score the reasoning the model writes itself (greedy,
``descore.eval_cot_tokens``), never the export's critique, which was written knowing the label.
``aesrm-pairwise`` rows have no critique: there the model learns to score the video alone.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rm_training.config import TrainConfig
from rm_training.data import ChatEncoder, DataError, EncodedSequence, assistant_text, collate
from rm_training.distributed import unwrap_for_generation
from rm_training.export import Export
from rm_training.grpo import GRPOUpdates, reference_for_run, sample
from rm_training.loop import Stage, Trainer
from rm_training.losses import bradley_terry_loss, bradley_terry_with_ties_loss, rao_kupper_log_probabilities
from rm_training.modeling import (
    DescoreModel,
    add_reward_token,
    apply_lora,
    base_model,
    generation_options,
    load_vlm,
    model_inputs,
)
from rm_training.parsing import DIMENSIONS, LABEL_TO_VERDICT, AnswerParseError, parse_cot_answer
from rm_training.run_dir import RunDir
from rm_training.video import VideoLoader

SYSTEM_TEXT = (
    "You are an expert in video aesthetics. Judge the video's visual aesthetics, visual fidelity and "
    "visual plausibility. First describe its strengths and weaknesses per criterion, then it is scored."
)


def video_messages(video: str, prompt: str | None) -> list[dict]:
    task = f"The video was generated from the prompt: {prompt}\n" if prompt else ""
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_TEXT}]},
        {"role": "user", "content": [
            {"type": "text", "text": task + "Video:"},
            {"type": "video", "video": video},
            {"type": "text", "text": "Assess this video."},
        ]},
    ]


def per_video_cots(row: dict) -> tuple[str, str]:
    """The critique split by video: ``CODE Name: <text about A>`` lines and the same for B."""
    if "messages" not in row:
        return "", ""
    try:
        parsed = parse_cot_answer(assistant_text(row["messages"]))
    except (AnswerParseError, DataError):
        return "", ""
    lines_a = [f"{c.code} {c.name}: {c.text_a}" for c in parsed.criteria.values()]
    lines_b = [f"{c.code} {c.name}: {c.text_b}" for c in parsed.criteria.values()]
    return "\n".join(lines_a), "\n".join(lines_b)


def _prompt(row: dict) -> str | None:
    return row.get("prompt")


def hidden_reasoning_mask(sequences: list[EncodedSequence], length: int, probability: float,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """``(len(sequences), length)``: 1 on the whole reasoning span of each sequence drawn to hide it (with
    ``probability``, one draw per sequence), 0 everywhere else. A sequence without reasoning draws nothing."""
    mask = torch.zeros(len(sequences), length, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        start, end = sequence.cot_span
        if end > start and float(torch.rand(1, generator=generator)) < probability:
            mask[row, start:end] = 1
    return mask


class DescoreData:
    def __init__(self, config: TrainConfig, encoder: ChatEncoder, reward_token_id: int):
        self.config = config
        self.encoder = encoder
        self.reward_token_id = reward_token_id

    def sequence(self, video: str, prompt: str | None, cot: str) -> EncodedSequence:
        """The scored sequence: the video's prompt, its reasoning as context, then ``[Reward]``."""
        return self.encoder.encode(
            video_messages(video, prompt), cot=cot if self.config.descore.use_cot else None,
            suffix_ids=[self.reward_token_id],
        )

    def reasoning_example(self, video: str, prompt: str | None, cot: str) -> EncodedSequence:
        """The reasoning SFT sequence: the video's prompt with its reasoning (and ``<|im_end|>``) as target."""
        return self.encoder.encode(video_messages(video, prompt), completion=cot)

    def batch(self, sequences: list[EncodedSequence], mask_probability: float = 0.0) -> dict:
        """Right-padded batch with the ``[Reward]`` index of each row and, with ``mask_probability`` > 0, the
        ``hidden_tokens`` of the rows whose reasoning is hidden (see :func:`hidden_reasoning_mask`)."""
        batch = collate(sequences, self.encoder.tokenizer.pad_token_id, self.encoder.video_token_id, "right")
        batch["reward_positions"] = torch.tensor([len(s.input_ids) - 1 for s in sequences])
        if mask_probability > 0:
            batch["hidden_tokens"] = hidden_reasoning_mask(sequences, batch["input_ids"].shape[1], mask_probability)
        return batch


def pairwise_loss(rewards_a: torch.Tensor, rewards_b: torch.Tensor, outcomes: torch.Tensor, config: TrainConfig):
    """BT over non-tie (pair, dimension) cells, or Rao-Kupper over all cells."""
    if config.descore.ties:
        return bradley_terry_with_ties_loss(
            rewards_a.flatten(), rewards_b.flatten(), outcomes.flatten(), config.descore.tie_log_theta
        )
    decided = outcomes != 0
    if not bool(decided.any()):
        return (rewards_a.sum() + rewards_b.sum()) * 0.0
    chosen = torch.where(outcomes > 0, rewards_a, rewards_b)[decided]
    rejected = torch.where(outcomes > 0, rewards_b, rewards_a)[decided]
    return bradley_terry_loss(chosen, rejected)


def labelled_outcome_probability(rewards_a: torch.Tensor, rewards_b: torch.Tensor, outcomes: torch.Tensor,
                                 config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cell, the probability the pairwise model of the run (BT, or Rao-Kupper with ``descore.ties``) gives
    the labelled outcome, and which cells count (BT leaves ties out, as its loss does)."""
    rewards_a, rewards_b, outcomes = torch.broadcast_tensors(rewards_a, rewards_b, outcomes.to(rewards_a.device))
    if config.descore.ties:
        a_wins, b_wins, tie = rao_kupper_log_probabilities(rewards_a, rewards_b, config.descore.tie_log_theta)
        log_probability = torch.where(outcomes > 0, a_wins, torch.where(outcomes < 0, b_wins, tie))
        return log_probability.exp(), torch.ones_like(outcomes, dtype=torch.bool)
    return torch.sigmoid(outcomes.sign() * (rewards_a - rewards_b)), outcomes != 0


def reasoning_rewards(rewards_a: torch.Tensor, rewards_b: torch.Tensor, outcomes: torch.Tensor,
                      config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO rewards of the sampled reasonings of a batch of pairs.

    ``rewards_a``, ``rewards_b``: ``(pairs, K, dimensions)`` head rewards of video A (B) scored with each of
    its K sampled reasonings; ``outcomes``: ``(pairs, dimensions)`` labels (+1 A, -1 B, 0 tie). Reasoning k
    of A earns the probability of the labelled outcome between its score and the score of each of B's K
    reasonings, averaged over those K and the counted dimensions; B's reasonings alike. Returns the
    ``(pairs, K)`` rewards of A's and of B's reasonings; a pair with no counted cell gives 0.
    """
    probability, counted = labelled_outcome_probability(
        rewards_a.unsqueeze(2), rewards_b.unsqueeze(1), outcomes[:, None, None, :], config
    )  # (pairs, K of A, K of B, dimensions)
    weight = counted.to(probability.dtype)
    per_a = (probability * weight).sum(dim=(2, 3)) / weight.sum(dim=(2, 3)).clamp(min=1)
    per_b = (probability * weight).sum(dim=(1, 3)) / weight.sum(dim=(1, 3)).clamp(min=1)
    return per_a, per_b


def cross_pair_loss(rewards_a: torch.Tensor, rewards_b: torch.Tensor, outcomes: torch.Tensor,
                    config: TrainConfig) -> tuple[torch.Tensor, float | None]:
    """The pairwise loss and pair accuracy over every (reasoning of A, reasoning of B) combination of
    ``(pairs, K, dimensions)`` rewards."""
    pairs, k, dimensions = rewards_a.shape
    expanded_a = rewards_a.unsqueeze(2).expand(pairs, k, k, dimensions).reshape(-1, dimensions)
    expanded_b = rewards_b.unsqueeze(1).expand(pairs, k, k, dimensions).reshape(-1, dimensions)
    expanded_outcomes = outcomes[:, None, None, :].expand(pairs, k, k, dimensions).reshape(-1, dimensions)
    return (pairwise_loss(expanded_a, expanded_b, expanded_outcomes.to(rewards_a.device), config),
            pair_accuracy(expanded_a, expanded_b, expanded_outcomes))


def pair_accuracy(rewards_a: torch.Tensor, rewards_b: torch.Tensor, outcomes: torch.Tensor) -> float | None:
    """Share of decided (pair, dimension) cells whose reward difference has the label's sign."""
    outcomes = outcomes.to(rewards_a.device)
    decided = outcomes != 0
    if not bool(decided.any()):
        return None
    return float(((rewards_a - rewards_b).sign() == outcomes.sign())[decided].float().mean())


def _outcomes(rows: list[dict]) -> torch.Tensor:
    return torch.tensor([[LABEL_TO_VERDICT[row["labels"][d]] for d in DIMENSIONS] for row in rows])


def build(config: TrainConfig, export: Export, source: str | Path) -> tuple[DescoreModel, object, DescoreData]:
    if (Path(source) / "reward_head.pt").is_file():
        model, tokenizer = DescoreModel.load(Path(source), config.model_path, config.optim.gradient_checkpointing,
                                             config.dtype)
        reward_id = tokenizer.convert_tokens_to_ids("[Reward]")
    else:
        vlm, tokenizer = load_vlm(source, config.optim.gradient_checkpointing, config.dtype)
        reward_id = add_reward_token(vlm, tokenizer)
        # with LoRA the new [Reward] embedding row is still trained, and saved with the adapter
        model = DescoreModel(apply_lora(vlm, config.lora_rank, trainable_token_indices=[reward_id]))
    loader = VideoLoader.for_model(base_model(model.vlm).config, config.model_path, config.video)
    encoder = ChatEncoder(tokenizer, export, loader, config.max_text_tokens)
    return model, tokenizer, DescoreData(config, encoder, reward_id)


def reasoning_examples(rows: list[dict]) -> list[tuple[str, str | None, str]]:
    """(video, prompt, reasoning) for each video of each row whose critique gives it a reasoning."""
    examples = []
    for row in rows:
        for video, cot in zip((row["video_a"], row["video_b"]), per_video_cots(row), strict=True):
            if cot:
                examples.append((video, _prompt(row), cot))
    return examples


def train(config: TrainConfig, export: Export, run: RunDir) -> dict:
    return fit_session(config, export, run)[2]


def fit_session(config: TrainConfig, export: Export, run: RunDir) -> tuple[Trainer, DescoreData, dict]:
    """Build (or resume), fit, and return the trainer (holding the in-memory model), data and metrics."""
    checkpoint = run.last_checkpoint()
    model, tokenizer, data = build(config, export, checkpoint or config.model_path)
    rows = export.rows("train")
    cots = [per_video_cots(row) for row in rows]
    examples = reasoning_examples(rows) if config.stages.reasoning_steps else []
    if config.stages.reasoning_steps and not examples:
        raise DataError("stages.reasoning_steps > 0 needs critiques to learn the reasoning from (a cot-sft export); "
                        "this export has none: set stages.reasoning_steps=0")
    pad, video_id = tokenizer.pad_token_id, data.encoder.video_token_id

    def save(module: DescoreModel, path: Path, state_dict: dict) -> None:
        module.save(path, tokenizer, state_dict)

    trainer = Trainer(config, run, model, save)
    trainer.resume(checkpoint)

    def reasoning_sequences(indices: list[int]) -> list[EncodedSequence]:
        return [data.reasoning_example(*examples[i]) for i in indices]

    def reasoning_loss(sequences: list[EncodedSequence]) -> tuple[torch.Tensor, dict]:
        batch = collate(sequences, pad, video_id, "right")
        output = trainer.model(**model_inputs(batch), labels=batch["labels"], use_cache=False)
        return output.loss, {"target_tokens": float((batch["labels"] != -100).sum())}

    def bt_sequences(indices: list[int]) -> tuple[list[int], list[EncodedSequence]]:
        sequences = [data.sequence(rows[i]["video_a"], _prompt(rows[i]), cots[i][0]) for i in indices]
        sequences += [data.sequence(rows[i]["video_b"], _prompt(rows[i]), cots[i][1]) for i in indices]
        return indices, sequences

    def bt_loss(prepared: tuple[list[int], list[EncodedSequence]]) -> tuple[torch.Tensor, dict]:
        indices, sequences = prepared
        batch = data.batch(sequences, config.descore.cot_mask_probability)
        rewards = trainer.model(batch)
        rewards_a, rewards_b = rewards[: len(indices)], rewards[len(indices):]
        outcomes = _outcomes([rows[i] for i in indices]).to(rewards.device)
        accuracy = pair_accuracy(rewards_a, rewards_b, outcomes)
        hidden = batch.get("hidden_tokens", torch.zeros(1, 1)).any(dim=1).float().mean()
        return pairwise_loss(rewards_a, rewards_b, outcomes, config), {
            "pair_accuracy": accuracy if accuracy is not None else 0.0, "hidden_reasoning_share": float(hidden)}

    rollout_state: dict = {}

    def new_rollout(indices: list[int]):
        """Sample K reasonings for both videos of each pair (prompt order A1, B1, A2, B2, ...) and reward each."""
        videos = [(rows[i][key], _prompt(rows[i])) for i in indices for key in ("video_a", "video_b")]
        prompts = [data.encoder.encode(video_messages(video, prompt)) for video, prompt in videos]
        rollout = sample(trainer.model, collate(prompts, pad, video_id, "left"), tokenizer, config.grpo, 1)
        k = config.grpo.num_generations
        sequences = [data.sequence(video, prompt, rollout.texts[n * k + j])
                     for n, (video, prompt) in enumerate(videos) for j in range(k)]
        outcomes = _outcomes([rows[i] for i in indices])
        rewards = score_sequences(trainer.unwrapped, data, sequences).view(len(indices), 2, k, -1)
        per_a, per_b = reasoning_rewards(rewards[:, 0], rewards[:, 1], outcomes, config)
        rollout_state.update(sequences=sequences, outcomes=outcomes, pairs=len(indices))
        return rollout, torch.stack([per_a, per_b], dim=1).view(2 * len(indices), k)

    def start_rl() -> None:
        # the base copy reads every token the policy can sample: add the [Reward] row to it as well
        reference = reference_for_run(config, trainer, extend=lambda model: add_reward_token(model, tokenizer))
        rollout_state["updates"] = GRPOUpdates(trainer.model, config.grpo, reference, new_rollout)

    def dual_rl_loss(indices: list[int]) -> tuple[torch.Tensor, dict]:
        """GRPO on the sampled reasonings, plus BT on the head over the same reasonings of the current rollout."""
        policy_loss, stats = rollout_state["updates"](indices)
        rewards = trainer.model(data.batch(rollout_state["sequences"]))
        rewards = rewards.view(rollout_state["pairs"], 2, config.grpo.num_generations, -1)
        head_loss, accuracy = cross_pair_loss(rewards[:, 0], rewards[:, 1], rollout_state["outcomes"], config)
        stats.update(policy_loss=float(policy_loss.detach()), bt_loss=float(head_loss.detach()),
                     pair_accuracy=accuracy if accuracy is not None else 0.0)
        return policy_loss + config.descore.rl_bt_weight * head_loss, stats

    try:
        validation_rows = export.rows("validation")
    except ValueError:
        validation_rows = []
    before = teacher_reasoning_metrics(trainer, data, rows, config)
    result = trainer.fit([
        Stage("reasoning", config.stages.reasoning_steps, max(1, len(examples)), reasoning_loss,
              prepare=reasoning_sequences),
        Stage("bt", config.stages.sft_steps, len(rows), bt_loss, prepare=bt_sequences),
        Stage("grpo", config.stages.grpo_steps, len(rows), dual_rl_loss, on_start=start_rl),
    ])
    after = teacher_reasoning_metrics(trainer, data, rows, config)
    metrics = {
        "final_step": result["final_step"],
        "train_losses": result["losses"],
        "train_set_loss_before": before["loss"],
        "train_set_loss_after": after["loss"],
        "train_set_pair_accuracy": after["pair_accuracy"],
        "validation": own_reasoning_metrics(trainer, data, validation_rows, config),
    }
    run.write_json("train_metrics.json", metrics)
    return trainer, data, metrics


def _pair_metrics(trainer: Trainer, data: DescoreData, rows: list[dict], cots: list[tuple[str, str]],
                  config: TrainConfig) -> dict:
    if not rows:
        return {"loss": None, "pair_accuracy": None}
    # through the prepared model: under FSDP the unwrapped one holds shards of the root's weights
    was_training = trainer.model.training
    trainer.model.eval()
    rewards = score_videos(trainer.model, data,
                           [(r["video_a"], _prompt(r), c[0]) for r, c in zip(rows, cots, strict=True)]
                           + [(r["video_b"], _prompt(r), c[1]) for r, c in zip(rows, cots, strict=True)])
    trainer.model.train(was_training)
    outcomes = _outcomes(rows)
    rewards_a, rewards_b = rewards[: len(rows)], rewards[len(rows):]
    return {"loss": float(pairwise_loss(rewards_a, rewards_b, outcomes, config)),
            "pair_accuracy": pair_accuracy(rewards_a, rewards_b, outcomes)}


@torch.no_grad()
def teacher_reasoning_metrics(trainer: Trainer, data: DescoreData, rows: list[dict], config: TrainConfig) -> dict:
    """BT loss and pair accuracy of ``rows`` scored on the export's reasoning, unmasked: the BT stage's own
    objective on its training rows (never used for validation, the critique knows the label)."""
    return _pair_metrics(trainer, data, rows, [per_video_cots(row) for row in rows], config)


@torch.no_grad()
def own_reasoning_metrics(trainer: Trainer, data: DescoreData, rows: list[dict], config: TrainConfig) -> dict:
    """BT loss and pair accuracy of ``rows`` scored on the reasoning the model writes itself (validation)."""
    # every process writes together: under FSDP / ZeRO-3 the weights are gathered for generation
    with unwrap_for_generation(trainer.model) as vlm:
        cots = [tuple(written_reasoning(vlm, data, row[key], _prompt(row)) for key in ("video_a", "video_b"))
                for row in rows]
    return _pair_metrics(trainer, data, rows, cots, config)


@torch.no_grad()
def generate_cot(model: nn.Module, data: DescoreData, video: str, prompt: str | None, max_new_tokens: int) -> str:
    """Greedy reasoning for one video, written by ``model``: a DescoreModel or the VLM under it."""
    encoder = data.encoder
    sequence = encoder.encode(video_messages(video, prompt))
    batch = collate([sequence], encoder.tokenizer.pad_token_id, encoder.video_token_id, "left")
    was_training = model.training
    model.eval()
    generated = base_model(getattr(model, "vlm", model)).generate(
        **model_inputs(batch), max_new_tokens=max_new_tokens, do_sample=False,
        **generation_options(encoder.tokenizer),
    )
    model.train(was_training)
    return encoder.tokenizer.decode(generated[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)


def written_reasoning(model: nn.Module, data: DescoreData, video: str, prompt: str | None) -> str:
    """The reasoning the model writes for a video before it is scored ("" when the run scores without one)."""
    options = data.config.descore
    if not options.use_cot or options.eval_cot_tokens == 0:
        return ""
    return generate_cot(model, data, video, prompt, options.eval_cot_tokens)


@torch.no_grad()
def score_sequences(model: DescoreModel, data: DescoreData, sequences: list[EncodedSequence]) -> torch.Tensor:
    """Rewards ``(len(sequences), 3)`` in eval mode, nothing hidden; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    rewards = model(data.batch(sequences))
    model.train(was_training)
    return rewards


def score_videos(model: DescoreModel, data: DescoreData, videos: list[tuple[str, str | None, str]]) -> torch.Tensor:
    """Rewards ``(len(videos), 3)`` for (video, prompt, cot) triples, no masking."""
    return score_sequences(model, data, [data.sequence(v, p, c) for v, p, c in videos])


def predict(run: RunDir, export: Export, rows: list[dict]) -> list[dict]:
    """Each video scored on the reasoning the model writes for it; the rows' critiques are never read."""
    config = run.config()
    checkpoint = run.last_checkpoint()
    if checkpoint is None:
        raise DataError(f"{run.path} has no checkpoint to evaluate")
    model, _, data = build(config, export, checkpoint)
    model.eval()
    predictions = []
    for row in rows:
        cots = [written_reasoning(model, data, row[key], _prompt(row)) for key in ("video_a", "video_b")]
        rewards = score_videos(model, data, [(row["video_a"], _prompt(row), cots[0]),
                                             (row["video_b"], _prompt(row), cots[1])])
        margins = {d: float(rewards[0, i] - rewards[1, i]) for i, d in enumerate(DIMENSIONS)}
        # each video is scored alone, so exchanging A and B exactly negates the margins
        predictions.append({"margins": margins, "swapped_margins": {d: -m for d, m in margins.items()},
                            "rewards_a": rewards[0].tolist(), "rewards_b": rewards[1].tolist(),
                            "reasoning_a": cots[0], "reasoning_b": cots[1]})
    return predictions
