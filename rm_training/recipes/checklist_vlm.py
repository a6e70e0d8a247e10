"""checklist-vlm (seed 003, sec. 3.2 "Fine-grained Visual Assessment"): a VLM answers VisionReward's checklist.

Trained by SFT on a ``checklist-qa`` export: one example per (video, question), the answer "yes" or "no" as the
assistant turn. Each question's yes and no rows are drawn equally often (``checklist_vlm.balance``), as the paper
balances positives and negatives per question. At inference the model reads one video and one question and the
answer is "yes" when the next-token probability of "yes" beats that of "no" (the two renormalised).

A run trained with ``checklist_vlm.linear_run=RUN_DIR`` (a checklist-linear run) copies that run's weights:
:class:`rm_training.scoring.ChecklistVideoScorer` then answers the checklist of a new video and scores the answers
by eq. 4 and 6 (VisionReward's two steps, on videos no expert answered).
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

import torch

from rm_training.checklist_linear import ChecklistRewardModel
from rm_training.config import ConfigError, TrainConfig
from rm_training.data import DataError, collate
from rm_training.export import Export
from rm_training.loop import Stage
from rm_training.modeling import model_inputs
from rm_training.recipes.aesrm import build, resumed_trainer
from rm_training.run_dir import RunDir

SYSTEM_TEXT = "You check one generated video against one yes/no question about its quality."
ANSWER_INSTRUCTION = "Answer yes or no."
ANSWERS = ("yes", "no")
QUESTIONS_FILE = "checklist_questions.json"
LINEAR_WEIGHTS_FILE = "checklist_weights.json"  # the checklist-linear weights this model's answers feed
QUESTIONS_PER_FORWARD = 8


def question_messages(video: str, question: str) -> list[dict]:
    """The prompt of one checklist question about one video (training and inference alike)."""
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_TEXT}]},
        {"role": "user", "content": [
            {"type": "video", "video": video},
            {"type": "text", "text": f"{question} {ANSWER_INSTRUCTION}"},
        ]},
    ]


def question_text(template: str, prompt: str) -> str:
    """A question as asked of a video generated from ``prompt`` (the export's rule for ``[[prompt]]``)."""
    return template.replace("[[prompt]]", prompt)


def balanced_indices(rows: list[dict]) -> list[int]:
    """Row indices in which every question's "yes" rows and "no" rows occur equally often: the minority answer's
    rows are repeated in row order until they number the majority's. A question answered one way only keeps its
    rows as they are (there is nothing to balance against). Questions in id order, rows in export order."""
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"yes": [], "no": []})
    for index, row in enumerate(rows):
        if row.get("answer") not in ANSWERS:
            raise DataError(f"checklist-qa row {index} has answer {row.get('answer')!r}, not yes or no")
        groups[str(row["question_id"])][row["answer"]].append(index)
    indices: list[int] = []
    for question in sorted(groups, key=lambda qid: (len(qid), qid)):
        yes, no = groups[question]["yes"], groups[question]["no"]
        if not yes or not no:
            indices += yes + no
            continue
        count = max(len(yes), len(no))
        for answered in (yes, no):
            indices += [answered[position % len(answered)] for position in range(count)]
    return indices


def checklist_questions(export: Export, rows: list[dict]) -> list[dict]:
    """Questions the model is asked of a new video: the manifest's (wording with ``[[prompt]]``), else the ones the
    rows hold (their wording already names a prompt)."""
    listed = (export.manifest.get("checklist") or {}).get("questions")
    if listed:
        return [{"id": str(q["id"]), "dimension": q["dimension"], "text": q["text"]} for q in listed]
    seen: dict[str, dict] = {}
    for row in rows:
        seen.setdefault(str(row["question_id"]), {"id": str(row["question_id"]), "dimension": row["dimension"],
                                                  "text": row["question"]})
    return list(seen.values())


def _linear_model_of(config: TrainConfig) -> tuple[ChecklistRewardModel, Path] | None:
    if not config.checklist_vlm.linear_run:
        return None
    source = RunDir(config.checklist_vlm.linear_run)
    weights = source.path / LINEAR_WEIGHTS_FILE
    if not (source.path / "config.yaml").is_file() or source.config().recipe != "checklist-linear":
        raise ConfigError(f"checklist_vlm.linear_run {source.path} is not a checklist-linear run folder")
    if not weights.is_file():
        raise ConfigError(f"checklist_vlm.linear_run {source.path} has no {LINEAR_WEIGHTS_FILE} (not trained yet?)")
    return ChecklistRewardModel.load(weights), weights


def answer_token_ids(tokenizer) -> tuple[int, int]:
    """First token of "yes" and of "no": the two next-token logits compared at the answer position."""
    yes, no = (tokenizer(answer, add_special_tokens=False)["input_ids"][0] for answer in ANSWERS)
    if yes == no:
        raise DataError('the tokenizer starts "yes" and "no" with the same token; their probabilities cannot differ')
    return yes, no


def train(config: TrainConfig, export: Export, run: RunDir) -> dict:
    linear = _linear_model_of(config)  # refuse a wrong folder before any model is loaded
    rows = export.rows("train")
    questions = checklist_questions(export, rows)
    if linear is not None and not set(linear[0].question_ids) & {q["id"] for q in questions}:
        raise ConfigError(f"checklist_vlm.linear_run {config.checklist_vlm.linear_run} weighs none of this "
                          "export's checklist questions")
    examples = balanced_indices(rows) if config.checklist_vlm.balance == "resample" else list(range(len(rows)))
    checkpoint = run.last_checkpoint()
    model, tokenizer, encoder = build(config, export, checkpoint or config.model_path)
    pad, video_id = tokenizer.pad_token_id, encoder.video_token_id

    trainer = resumed_trainer(config, run, model, tokenizer, checkpoint)

    def sequences(indices: list[int]):
        chosen = [rows[examples[i]] for i in indices]
        return [encoder.encode(question_messages(row["video"], row["question"]), completion=row["answer"])
                for row in chosen]

    def sft_loss(batch_sequences) -> tuple[torch.Tensor, dict]:
        batch = collate(batch_sequences, pad, video_id, "right")
        output = trainer.model(**model_inputs(batch), labels=batch["labels"], use_cache=False)
        return output.loss, {"target_tokens": float((batch["labels"] != -100).sum())}

    result = trainer.fit([Stage("sft", config.stages.sft_steps, len(examples), sft_loss, prepare=sequences)])
    run.write_json(QUESTIONS_FILE, {"questions": questions})
    metrics = {
        "final_step": result["final_step"],
        "train_losses": result["losses"],
        "examples": len(examples),
        "rows": len(rows),
        "questions": len(questions),
    }
    if linear is not None:
        shutil.copyfile(linear[1], run.path / LINEAR_WEIGHTS_FILE)
        metrics["linear_run"] = str(Path(config.checklist_vlm.linear_run).resolve())
    run.write_json("train_metrics.json", metrics)
    return metrics


class ChecklistAnswerer:
    """A checklist-vlm run's last checkpoint, answering checklist questions about one video at a time.

    ``media`` resolves the video paths (an :class:`~rm_training.export.Export`, or
    :class:`~rm_training.scoring.LocalMedia` for plain files)."""

    def __init__(self, run: RunDir, media):
        self.run = run
        self.config = run.config()
        checkpoint = run.last_checkpoint()
        if checkpoint is None:
            raise DataError(f"{run.path} has no checkpoint")
        self.model, self.tokenizer, self.encoder = build(self.config, media, checkpoint)
        self.model.eval()
        self.yes_id, self.no_id = answer_token_ids(self.tokenizer)
        self.questions: list[dict] = (run.read_json(QUESTIONS_FILE) or {}).get("questions") or []

    @torch.no_grad()
    def yes_probabilities(self, asked: list[tuple[str, str]]) -> list[float]:
        """P("yes") against "no" for each (video, question text), from the logits of the first answer token."""
        probabilities: list[float] = []
        for start in range(0, len(asked), QUESTIONS_PER_FORWARD):
            chunk = asked[start: start + QUESTIONS_PER_FORWARD]
            encoded = [self.encoder.encode(question_messages(video, question)) for video, question in chunk]
            batch = collate(encoded, self.tokenizer.pad_token_id, self.encoder.video_token_id, "left")
            logits = self.model(**model_inputs(batch), use_cache=False).logits[:, -1, :].float()
            pair = torch.stack([logits[:, self.yes_id], logits[:, self.no_id]], dim=1)
            probabilities += torch.softmax(pair, dim=1)[:, 0].tolist()
        return probabilities

    def answer_checklist(self, video: str, prompt: str = "") -> tuple[dict[str, int], dict[str, float]]:
        """(question id -> 1 yes / 0 no, question id -> P(yes)) for every question of the run's checklist."""
        if not self.questions:
            raise DataError(f"{self.run.path} has no {QUESTIONS_FILE}: it was not trained to the end")
        texts = [question_text(question["text"], prompt) for question in self.questions]
        probabilities = self.yes_probabilities([(video, text) for text in texts])
        yes = {question["id"]: p for question, p in zip(self.questions, probabilities, strict=True)}
        return {qid: int(p > 0.5) for qid, p in yes.items()}, yes


def evaluate_answers(run: RunDir, export: Export, rows: list[dict]) -> tuple[dict, list[dict]]:
    """The run's answers to checklist-qa rows: (accuracies: overall, balanced (mean of the yes and the no recall),
    per checklist dimension; one prediction per row: its video, question and expert answer with P("yes"))."""
    answerer = ChecklistAnswerer(run, export)
    probabilities = answerer.yes_probabilities([(row["video"], row["question"]) for row in rows])
    predictions = [
        {"video_id": row.get("video_id"), "question_id": row.get("question_id"), "dimension": row["dimension"],
         "sub_dimension": row.get("sub_dimension"), "answer": row["answer"], "p_yes": p}
        for row, p in zip(rows, probabilities, strict=True)
    ]
    correct: dict[str, list[int]] = defaultdict(list)
    by_answer: dict[str, list[int]] = defaultdict(list)
    for prediction in predictions:
        hit = int((prediction["p_yes"] > 0.5) == (prediction["answer"] == "yes"))
        correct[prediction["dimension"]].append(hit)
        by_answer[prediction["answer"]].append(hit)
    every = [hit for hits in correct.values() for hit in hits]
    recalls = [sum(hits) / len(hits) for hits in by_answer.values() if hits]
    metrics = {
        "num_rows": len(rows),
        "accuracy": sum(every) / len(every) if every else None,
        "balanced_accuracy": sum(recalls) / len(recalls) if recalls else None,
        "dimension_accuracy": {d: sum(hits) / len(hits) for d, hits in sorted(correct.items())},
    }
    return metrics, predictions
