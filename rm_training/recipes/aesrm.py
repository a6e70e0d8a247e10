"""aesrm-base and aesrm-cot (seed 000): a VLM judges a video pair on VA / VF / VP.

Stages (one global step count, see :mod:`rm_training.loop`):
1. ``atomic``: atomic concepts, yes/no questions about ONE video ("Is the camera stable?"), from each
   video's checklist answers and severe-violation flags in the export rows (:func:`atomic_examples`).
2. ``sft``: cold-start SFT on the export's assistant turns (short answer or full critique).
3. ``grpo`` (optional): K sampled answers per prompt; rewards = format + per-dimension accuracy against the
   labels with the severe rule applied (+ CoT process and consistency rewards for aesrm-cot),
   group-normalised advantages, clipped objective with
   asymmetric clip over ``grpo.updates_per_rollout`` passes per rollout, and a KL penalty to the base
   model (``model_path``; with LoRA the adapter disabled), see :mod:`rm_training.grpo`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rm_training.config import TrainConfig
from rm_training.data import (
    ChatEncoder,
    DataError,
    EncodedSequence,
    assistant_text,
    collate,
    prompt_messages,
    swap_videos,
    video_paths,
)
from rm_training.export import Export, open_export
from rm_training.generation import generator_for_run
from rm_training.grpo import GRPOUpdates, PromptBatch, encode_prompt_batch, reference_for_run, sample
from rm_training.loop import Stage, Trainer
from rm_training.modeling import (
    apply_lora,
    base_model,
    generation_options,
    load_lora_checkpoint,
    load_vlm,
    model_inputs,
    save_pretrained_state,
)
from rm_training.parsing import DIMENSION_NAMES, DIMENSIONS, AnswerParseError, ParsedAnswer, parse_answer
from rm_training.prompts import generation_prompt, pair_prompt_for_style, video_question_messages
from rm_training.rewards import (
    consistency_reward,
    cot_process_reward,
    dimension_accuracy_reward,
    format_reward,
)
from rm_training.rubric import severe_flags
from rm_training.run_dir import RunDir
from rm_training.video import VideoLoader

ATOMIC_ANSWERS = {True: "Yes", False: "No"}


def answer_style(recipe: str) -> str:
    return "cot" if recipe == "aesrm-cot" else "base"


def severe_question(dimension: str) -> str:
    return f"Does this video have a severe violation in {DIMENSION_NAMES.get(dimension, dimension)}?"


def atomic_examples(rows: list[dict]) -> list[tuple[list[dict], str]]:
    """(prompt messages, answer) for the atomic stage: yes/no questions about ONE video each.

    From each video's checklist answers (``checklist_answers_a`` / ``_b`` of the SFT rows: "Is the
    camera stable?" -> "Yes"), and, in each dimension where a video of the pair carries a severe flag, whether
    each of the two videos has a severe violation there (one "Yes" and one "No" unless both are flagged).
    Each (video, question) is asked once, in row order.
    """
    examples: list[tuple[list[dict], str]] = []
    asked: set[tuple[str, str]] = set()

    def ask(video: str, question: str, answer: bool) -> None:
        if (video, question) not in asked:
            asked.add((video, question))
            examples.append((video_question_messages(video=video, question=question), ATOMIC_ANSWERS[answer]))

    for row in rows:
        for side in ("a", "b"):
            for item in row.get(f"checklist_answers_{side}") or []:
                ask(row[f"video_{side}"], item["question"], item["answer"] == "yes")
        severe = row.get("severe") or {}
        flagged = sorted({code for flags in severe.values() for code, on in (flags or {}).items() if on})
        for dimension in flagged:
            severe_a, severe_b = severe_flags(severe, dimension)
            ask(row["video_a"], severe_question(dimension), severe_a)
            ask(row["video_b"], severe_question(dimension), severe_b)
    return examples


def _load(config: TrainConfig, source: str | Path):
    source = Path(source)
    if (source / "adapter_config.json").is_file():
        return load_lora_checkpoint(source, config.model_path, True, config.optim.gradient_checkpointing, config.dtype)
    model, tokenizer = load_vlm(source, config.optim.gradient_checkpointing, config.dtype)
    return apply_lora(model, config.lora_rank), tokenizer


def resumed_trainer(config: TrainConfig, run: RunDir, model, tokenizer, checkpoint: Path | None) -> Trainer:
    """The loop for a generative VLM recipe: checkpoints are save_pretrained folders (model or adapter, gathered
    under sharding) with the tokenizer beside them; resumed from ``checkpoint`` when there is one."""

    def save(module, path: Path, state_dict: dict) -> None:
        save_pretrained_state(module, path, state_dict)
        tokenizer.save_pretrained(path)

    trainer = Trainer(config, run, model, save)
    trainer.resume(checkpoint)
    return trainer


def build(config: TrainConfig, export: Export, source: str | Path):
    model, tokenizer = _load(config, source)
    loader = VideoLoader.for_model(base_model(model).config, config.model_path, config.video)
    return model, tokenizer, ChatEncoder(tokenizer, export, loader, config.max_text_tokens)


def grpo_prompt_messages(row: dict, style: str) -> list[dict]:
    """An rl-prompts pair row's prompt rebuilt by the pair prompt builder (:mod:`rm_training.prompts`) with the
    answer-format instruction of ``style``: the prompt the SFT row of the same pair and style carries."""
    prompt = generation_prompt(row["messages"])
    if prompt is None:
        raise DataError(f"rl-prompts row {row.get('pair_id')} does not name its generation prompt")
    return pair_prompt_for_style(style, prompt=prompt, video_a=row["video_a"], video_b=row["video_b"])


def grpo_prompts(config: TrainConfig, encoder: ChatEncoder, rows: list[dict]) -> tuple[list[dict], ChatEncoder]:
    """GRPO prompts: pair rows of ``grpo.data`` (an rl-prompts export) when set, asked in the recipe's answer
    style; else the SFT rows."""
    if not config.grpo.data or not config.stages.grpo_steps:
        return rows, encoder
    export = open_export(config.grpo.data, ("rl-prompts",))
    style = answer_style(config.recipe)
    pairs = [
        {**row, "messages": grpo_prompt_messages(row, style)}
        for row in export.rows("train")
        if row.get("kind") == "pair" and row.get("labels")
    ]
    if not pairs:
        raise DataError(f"{config.grpo.data} has no pair rows with labels for GRPO")
    return pairs, ChatEncoder(encoder.tokenizer, export, encoder.videos, encoder.max_tokens)


def rule_reward_parts(
    text: str, row: dict, config: TrainConfig, dimension_criteria: dict[str, list[str]] | None = None
) -> dict[str, float]:
    """The unweighted parts of the rule reward: format and accuracy (labels with the row's severe flags applied),
    and for aesrm-cot the process and consistency rewards (``dimension_criteria``: the rubric of the prompts'
    export)."""
    style = answer_style(config.recipe)
    parts = {
        "format": format_reward(text, style),
        "accuracy": dimension_accuracy_reward(text, row["labels"], style, row.get("severe")),
    }
    if style == "cot":
        parts["process"] = cot_process_reward(text, row.get("criteria") or {})
        parts["consistency"] = consistency_reward(text, dimension_criteria)
    return parts


def weighted_reward(parts: dict[str, float], config: TrainConfig) -> float:
    """``parts`` of :func:`rule_reward_parts` weighted by ``config.grpo``'s ``<part>_weight``."""
    return sum(getattr(config.grpo, f"{name}_weight") * value for name, value in parts.items())


def rule_reward(
    text: str, row: dict, config: TrainConfig, dimension_criteria: dict[str, list[str]] | None = None
) -> float:
    return weighted_reward(rule_reward_parts(text, row, config, dimension_criteria), config)


def train(config: TrainConfig, export: Export, run: RunDir) -> dict:
    return fit_session(config, export, run)[2]


def fit_session(config: TrainConfig, export: Export, run: RunDir) -> tuple[Trainer, ChatEncoder, dict]:
    """Build (or resume), fit, and return the trainer (holding the in-memory model), encoder and metrics."""
    checkpoint = run.last_checkpoint()
    model, tokenizer, encoder = build(config, export, checkpoint or config.model_path)
    rows = export.rows("train")
    for row in rows:
        assistant_text(row["messages"])  # fail early on rows without a target
    atomic = atomic_examples(rows) if config.stages.atomic_steps else []
    if config.stages.atomic_steps and not atomic:
        raise DataError(
            "the atomic stage found no single-video question: the export's rows carry no checklist answers "
            "(checklist_answers_a/_b) and no severe flags; set stages.atomic_steps=0"
        )
    pad, video_id = tokenizer.pad_token_id, encoder.video_token_id

    trainer = resumed_trainer(config, run, model, tokenizer, checkpoint)

    def sft_loss(sequences) -> tuple[torch.Tensor, dict]:
        batch = collate(sequences, pad, video_id, "right")
        output = trainer.model(**model_inputs(batch), labels=batch["labels"], use_cache=False)
        return output.loss, {"target_tokens": float((batch["labels"] != -100).sum())}

    def atomic_sequences(indices: list[int]) -> list[EncodedSequence]:
        return [encoder.encode(atomic[i][0], completion=atomic[i][1]) for i in indices]

    def sft_sequences(indices: list[int]) -> list[EncodedSequence]:
        return [encoder.encode(rows[i]["messages"], completion=assistant_text(rows[i]["messages"])) for i in indices]

    grpo_rows, grpo_encoder = grpo_prompts(config, encoder, rows)
    grpo_rubric = grpo_encoder.export.criteria
    grpo = {}

    def grpo_prompt_batch(indices: list[int]) -> PromptBatch:
        return encode_prompt_batch(grpo_encoder, grpo_rows, indices)

    def new_rollout(prompts: PromptBatch):
        rollout = sample(trainer.model, prompts.batch, tokenizer, config.grpo, prompts.videos_per_row,
                         grpo["generator"])
        k = config.grpo.num_generations
        parts = [rule_reward_parts(rollout.texts[b * k + j], grpo_rows[i], config, grpo_rubric)
                 for b, i in enumerate(prompts.indices) for j in range(k)]
        rewards = torch.tensor([weighted_reward(part, config) for part in parts]).view(len(prompts.indices), k)
        # the format and accuracy parts on their own (accuracy: the share of dimension verdicts that match the
        # labels), so a curve of the total says whether the format or the verdicts moved
        rollout.stats["format_share"] = sum(part["format"] for part in parts) / len(parts)
        rollout.stats["accuracy_share"] = sum(part["accuracy"] for part in parts) / len(parts)
        return rollout, rewards

    def start_grpo() -> None:
        grpo["generator"] = generator_for_run(config, trainer, tokenizer, encoder.videos.geometry,
                                              videos_per_prompt=2)
        grpo["updates"] = GRPOUpdates(trainer.model, config.grpo, reference_for_run(config, trainer), new_rollout)

    def grpo_step(prompts: PromptBatch):
        return grpo["updates"](prompts)

    @torch.no_grad()
    def sft_set_loss(chosen: list[dict]) -> float | None:
        """Mean teacher-forced NLL of the assistant turns of ``chosen`` rows (the validate step)."""
        if not chosen:
            return None
        trainer.model.eval()
        losses = [
            float(sft_loss([encoder.encode(row["messages"], completion=assistant_text(row["messages"]))])[0])
            for row in chosen
        ]
        trainer.model.train()
        return sum(losses) / len(losses)

    try:
        validation_rows = export.rows("validation")
    except ValueError:
        validation_rows = []

    stages = [
        Stage("atomic", config.stages.atomic_steps, max(1, len(atomic)), sft_loss, prepare=atomic_sequences),
        Stage("sft", config.stages.sft_steps, len(rows), sft_loss, prepare=sft_sequences),
        Stage("grpo", config.stages.grpo_steps, len(grpo_rows), grpo_step, on_start=start_grpo,
              prepare=grpo_prompt_batch),
    ]
    before = sft_set_loss(rows)
    result = trainer.fit(stages)
    metrics = {
        "final_step": result["final_step"],
        "train_losses": result["losses"],
        "sft_set_loss_before": before,
        "sft_set_loss_after": sft_set_loss(rows),
        "validation_sft_loss": sft_set_loss(validation_rows),
    }
    run.write_json("train_metrics.json", metrics)
    return trainer, encoder, metrics


class PairAnswerer:
    """A run's last checkpoint loaded once, answering pair prompts greedily.

    ``media`` resolves the prompts' video paths (an :class:`~rm_training.export.Export`, or
    :class:`~rm_training.scoring.LocalMedia` for plain files).
    """

    def __init__(self, run: RunDir, media):
        self.config = run.config()
        checkpoint = run.last_checkpoint()
        if checkpoint is None:
            raise DataError(f"{run.path} has no checkpoint to evaluate")
        self.model, self.tokenizer, self.encoder = build(self.config, media, checkpoint)
        self.model.eval()
        self.style = answer_style(self.config.recipe)

    @torch.no_grad()
    def text(self, messages: list[dict]) -> str:
        encoder, tokenizer = self.encoder, self.tokenizer
        sequence = encoder.encode(prompt_messages(messages))
        batch = collate([sequence], tokenizer.pad_token_id, encoder.video_token_id, "left")
        generated = base_model(self.model).generate(
            **model_inputs(batch), do_sample=False, max_new_tokens=self.config.grpo.max_new_tokens,
            **generation_options(tokenizer),
        )
        return tokenizer.decode(generated[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)

    def answer(self, messages: list[dict]) -> tuple[str, ParsedAnswer | None, str | None]:
        """(generated text, parsed answer or None, parse error or None)."""
        text = self.text(messages)
        try:
            return text, parse_answer(text, self.style), None
        except AnswerParseError as error:
            return text, None, str(error)


def predict(run: RunDir, export: Export, rows: list[dict]) -> list[dict]:
    """Greedy answers for each pair in both orders; an unparsable answer counts as all-tie with no
    criteria (and is reported in ``parse_error``)."""
    answerer = PairAnswerer(run, export)
    predictions = []
    for row in rows:
        if len(video_paths(row["messages"])) != 2:
            raise DataError(f"row {row.get('pair_id')} does not hold two videos")
        results = []
        for messages in (row["messages"], swap_videos(row["messages"])):
            _, parsed, error = answerer.answer(messages)
            if parsed is None:
                results.append(({d: 0 for d in DIMENSIONS}, {}, error))
            else:
                results.append((parsed.dimensions, {c: j.verdict for c, j in parsed.criteria.items()}, None))
        (original, criteria, error), (swapped, _, _) = results
        prediction = {"margins": original, "swapped_margins": swapped, "text_parse_error": error}
        if answerer.style == "cot":
            prediction["predicted_criteria"] = criteria
        predictions.append(prediction)
    return predictions


def sft_example_loss(model, sequences: list[EncodedSequence], pad_token_id: int,
                     video_token_id: int) -> tuple[torch.Tensor, dict]:
    """Next-token loss on the completion tokens of ``sequences`` (encoded with ``completion=``), right-padded:
    the SFT step of every generative recipe (rapo's AesCoT cold start uses it as it is)."""
    batch = collate(sequences, pad_token_id, video_token_id, "right")
    output = model(**model_inputs(batch), labels=batch["labels"], use_cache=False)
    return output.loss, {"target_tokens": float((batch["labels"] != -100).sum())}
