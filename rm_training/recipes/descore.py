"""descore: think-then-score (seed 001), discriminative cold start.

Each video of a pair is scored on its own: ``system + user(video) + assistant(CoT) + [Reward]``;
the hidden state of ``[Reward]`` goes through a linear head giving one reward per dimension.
Training: Bradley-Terry on (r_A, r_B) per dimension (ties skipped) or Rao-Kupper BT-with-ties,
with random masking of CoT tokens (hidden from attention) so the score also reads the video.

The CoT of a video comes from the pair critique of a ``cot-sft`` row: the ``A: ...`` (or ``B: ...``)
texts of its criterion blocks. ``aesrm-pairwise`` rows have no critique: the model scores the video
alone. At evaluation the model writes its own CoT (``descore.eval_cot_tokens``), never the export's
critique, which was written knowing the label.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rm_training.config import TrainConfig
from rm_training.data import ChatEncoder, DataError, EncodedSequence, assistant_text, collate
from rm_training.export import Export
from rm_training.loop import Stage, Trainer
from rm_training.losses import bradley_terry_loss, bradley_terry_with_ties_loss
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


class DescoreData:
    def __init__(self, config: TrainConfig, encoder: ChatEncoder, reward_token_id: int):
        self.config = config
        self.encoder = encoder
        self.reward_token_id = reward_token_id

    def sequence(self, video: str, prompt: str | None, cot: str) -> EncodedSequence:
        return self.encoder.encode(
            video_messages(video, prompt), cot=cot if self.config.descore.use_cot else None,
            suffix_ids=[self.reward_token_id],
        )

    def batch(self, sequences: list[EncodedSequence], mask_ratio: float = 0.0) -> dict:
        batch = collate(sequences, self.encoder.tokenizer.pad_token_id, self.encoder.video_token_id, "right")
        batch["reward_positions"] = torch.tensor([len(s.input_ids) - 1 for s in sequences])
        if mask_ratio > 0:
            for row, sequence in enumerate(sequences):
                start, end = sequence.cot_span
                if end > start:
                    hidden = torch.rand(end - start) < mask_ratio
                    batch["attention_mask"][row, start:end][hidden] = 0
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


def train(config: TrainConfig, export: Export, run: RunDir) -> dict:
    return fit_session(config, export, run)[2]


def fit_session(config: TrainConfig, export: Export, run: RunDir) -> tuple[Trainer, DescoreData, dict]:
    """Build (or resume), fit, and return the trainer (holding the in-memory model), data and metrics."""
    checkpoint = run.last_checkpoint()
    model, tokenizer, data = build(config, export, checkpoint or config.model_path)
    rows = export.rows("train")
    cots = [per_video_cots(row) for row in rows]

    def save(module: DescoreModel, path: Path) -> None:
        module.save(path, tokenizer)

    trainer = Trainer(config, run, model, save)
    trainer.resume(checkpoint)

    def prepare(indices: list[int]) -> tuple[list[int], list[EncodedSequence]]:
        sequences = [data.sequence(rows[i]["video_a"], _prompt(rows[i]), cots[i][0]) for i in indices]
        sequences += [data.sequence(rows[i]["video_b"], _prompt(rows[i]), cots[i][1]) for i in indices]
        return indices, sequences

    def compute_loss(prepared: tuple[list[int], list[EncodedSequence]]) -> tuple[torch.Tensor, dict]:
        indices, sequences = prepared
        chosen_rows = [rows[i] for i in indices]
        batch = data.batch(sequences, config.descore.cot_mask_ratio)
        rewards = trainer.model(batch)
        rewards_a, rewards_b = rewards[: len(indices)], rewards[len(indices):]
        outcomes = _outcomes(chosen_rows).to(rewards.device)
        loss = pairwise_loss(rewards_a, rewards_b, outcomes, config)
        decided = outcomes != 0
        agree = ((rewards_a - rewards_b).sign() == outcomes.sign())[decided].float()
        return loss, {"pair_accuracy": float(agree.mean()) if agree.numel() else 0.0}

    @torch.no_grad()
    def set_loss(chosen: list[dict]) -> dict:
        """BT loss and pair accuracy over ``chosen`` rows, eval mode, no CoT masking (validate step).
        Uses the rows' teacher critiques as CoT, like training."""
        if not chosen:
            return {"loss": None, "pair_accuracy": None}
        trainer.model.eval()
        chosen_cots = [per_video_cots(row) for row in chosen]
        rewards = score_videos(
            trainer.unwrapped, data,
            [(r["video_a"], _prompt(r), c[0]) for r, c in zip(chosen, chosen_cots, strict=True)]
            + [(r["video_b"], _prompt(r), c[1]) for r, c in zip(chosen, chosen_cots, strict=True)],
        )
        trainer.model.train()
        outcomes = _outcomes(chosen)
        rewards_a, rewards_b = rewards[: len(chosen)], rewards[len(chosen):]
        decided = outcomes != 0
        agree = ((rewards_a - rewards_b).sign() == outcomes.sign())[decided].float()
        return {"loss": float(pairwise_loss(rewards_a, rewards_b, outcomes, config)),
                "pair_accuracy": float(agree.mean()) if agree.numel() else None}

    try:
        validation_rows = export.rows("validation")
    except ValueError:
        validation_rows = []
    before = set_loss(rows)
    result = trainer.fit([Stage("bt", config.stages.sft_steps, len(rows), compute_loss, prepare=prepare)])
    after = set_loss(rows)
    metrics = {
        "final_step": result["final_step"],
        "train_losses": result["losses"],
        "train_set_loss_before": before["loss"],
        "train_set_loss_after": after["loss"],
        "train_set_pair_accuracy": after["pair_accuracy"],
        "validation": set_loss(validation_rows),
    }
    run.write_json("train_metrics.json", metrics)
    return trainer, data, metrics


def generate_cot(model: DescoreModel, data: DescoreData, video: str, prompt: str | None, max_new_tokens: int) -> str:
    encoder = data.encoder
    sequence = encoder.encode(video_messages(video, prompt))
    batch = collate([sequence], encoder.tokenizer.pad_token_id, encoder.video_token_id, "left")
    generated = base_model(model.vlm).generate(
        **model_inputs(batch), max_new_tokens=max_new_tokens, do_sample=False,
        **generation_options(encoder.tokenizer),
    )
    return encoder.tokenizer.decode(generated[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)


@torch.no_grad()
def score_videos(model: DescoreModel, data: DescoreData, videos: list[tuple[str, str | None, str]]) -> torch.Tensor:
    """Rewards ``(len(videos), 3)`` for (video, prompt, cot) triples, no masking."""
    model.eval()
    return model(data.batch([data.sequence(v, p, c) for v, p, c in videos]))


def predict(run: RunDir, export: Export, rows: list[dict]) -> list[dict]:
    config = run.config()
    checkpoint = run.last_checkpoint()
    if checkpoint is None:
        raise DataError(f"{run.path} has no checkpoint to evaluate")
    model, _, data = build(config, export, checkpoint)
    model.eval()
    predictions = []
    for row in rows:
        cots = ("", "")
        if config.descore.use_cot and config.descore.eval_cot_tokens > 0:
            cots = tuple(
                generate_cot(model, data, row[key], _prompt(row), config.descore.eval_cot_tokens)
                for key in ("video_a", "video_b")
            )
        rewards = score_videos(model, data, [(row["video_a"], _prompt(row), cots[0]),
                                             (row["video_b"], _prompt(row), cots[1])])
        margins = {d: float(rewards[0, i] - rewards[1, i]) for i, d in enumerate(DIMENSIONS)}
        # each video is scored alone, so exchanging A and B exactly negates the margins
        predictions.append({"margins": margins, "swapped_margins": {d: -m for d, m in margins.items()},
                            "rewards_a": rewards[0].tolist(), "rewards_b": rewards[1].tolist()})
    return predictions
