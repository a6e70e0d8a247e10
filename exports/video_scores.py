"""A score in [0, 1] per video for the single-video rows of rl-prompts (Aes-R1 / RAPO, seed 004), and the AesCoT
critique that goes with it (docs/export-formats.md, "rl-prompts").

AesLab campaigns hold pair judgments, not ratings, so a video's score comes from one of two sources (the export
option ``video_scores``):

- ``judgments``: a Bradley-Terry fit of the exported pairs' overall outcomes (:func:`formats.overall_winner`, a
  tie counting half a win each way), with one virtual tie per video against a reference video of strength 1, so a
  video that always won (or always lost) still gets a finite strength. The score is the fitted probability that the
  video is preferred over that reference, ``p / (p + 1)``: 0.5 for a video with as many wins as losses.
- ``checklist-model``: a registered ``checklist-linear`` model (VisionReward, seed 003) scores the video's checklist
  answers with its overall weights; the score is the share of the most the model can give,
  ``sum(w . yes) / sum(w)`` (the masked weights are never negative, so this lies in [0, 1]). A video without
  checklist answers gets no row.

A video appears in several pairs: its first exported pair gives its prompt, split and checklist answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exports import formats

VIDEO_SCORE_SOURCES = ("none", "judgments", "checklist-model")
BRADLEY_TERRY_ITERATIONS = 500
BRADLEY_TERRY_TOLERANCE = 1e-10


class VideoScoreError(ValueError):
    """The scores cannot be made as asked; the message says why."""


def bradley_terry_scores(outcomes: list[tuple[int, int, float]], num_videos: int) -> np.ndarray:
    """Scores in (0, 1) of ``num_videos`` videos from ``(first, second, first's result)`` games, result 1 (first
    preferred), 0 (second) or 0.5 (tie).

    Bradley-Terry strengths ``p`` by Hunter's (2004) minorise-maximise updates
    ``p_i <- W_i / sum_games 1 / (p_i + p_opponent)``, where ``W_i`` is the video's wins (ties half) plus 0.5 for
    its virtual tie against the reference of strength 1, which takes part in every video's sum and is never
    updated. Returns ``p / (p + 1)``.
    """
    strengths = np.ones(num_videos)
    wins = np.full(num_videos, 0.5)
    if outcomes:
        first, second, result = (np.array(column) for column in zip(*outcomes, strict=True))
        first, second, result = first.astype(np.int64), second.astype(np.int64), result.astype(np.float64)
        np.add.at(wins, first, result)
        np.add.at(wins, second, 1.0 - result)
    else:
        first = second = np.zeros(0, dtype=np.int64)
    for _ in range(BRADLEY_TERRY_ITERATIONS):
        inverse_sums = 1.0 / (strengths + 1.0)  # the virtual game against the reference
        pair_terms = 1.0 / (strengths[first] + strengths[second])
        np.add.at(inverse_sums, first, pair_terms)
        np.add.at(inverse_sums, second, pair_terms)
        updated = wins / inverse_sums
        if np.max(np.abs(updated - strengths)) < BRADLEY_TERRY_TOLERANCE:
            strengths = updated
            break
        strengths = updated
    return strengths / (strengths + 1.0)


def checklist_share_score(weights: list[float], answers: list[int | None]) -> float:
    """``sum of the weights of the questions answered yes (1) / sum of all weights``, in [0, 1]."""
    total = float(sum(weights))
    if total <= 0:
        raise VideoScoreError("the checklist model's overall weights are all zero: it scores every video alike")
    return float(sum(weight for weight, answer in zip(weights, answers, strict=True) if answer == 1)) / total


_ANSWER = re.compile(r"<answer>\s*([^<]*?)\s*</answer>\s*$", re.DOTALL)


def critique_for_score(critique: str, score: float) -> str | None:
    """The cold-start target for a video with ``score``: the critique's reasoning followed by
    ``<answer>{score:.2f}</answer>``, when the critique was written for a score in the same tone bin (bad / fair /
    good, Aes-R1's bins); None when its rating is unreadable or from another bin (its tone would argue for a
    different score)."""
    from distillation.prompts import tone_for_score

    match = _ANSWER.search(critique.strip())
    if match is None:
        return None
    try:
        written_for = float(match.group(1))
    except ValueError:
        return None
    if not 0.0 <= written_for <= 1.0 or tone_for_score(written_for) != tone_for_score(score):
        return None
    return critique.strip()[: match.start()].rstrip() + f"<answer>{score:.2f}</answer>"


@dataclass
class _Video:
    index: int
    video_id: int
    prompt: str
    checklist: dict | None


@dataclass
class VideoScoring:
    """Pass 1 of an rl-prompts build hands it every exported pair (:meth:`add`); :meth:`finish` scores the videos;
    pass 2 asks it for the single-video rows of each record (:meth:`rows_for`), each video's once."""

    source: str
    critiques: dict[int, str]  # video id -> accepted AesCoT critique
    checklist_weights: tuple[list[str], list[float]] | None = None  # question ids, overall weights
    model_summary: dict | None = None
    videos: dict[str, _Video] = field(default_factory=dict)
    outcomes: list[tuple[int, int, float]] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: {
        "videos_scored": 0, "videos_without_checklist": 0, "with_critique": 0, "critique_other_bin": 0,
    })

    def _video(self, video: dict, prompt: str, checklist: dict | None) -> _Video:
        known = self.videos.get(video["sha256"])
        if known is None:
            known = _Video(len(self.videos), video["id"], video.get("prompt") or prompt, checklist)
            self.videos[video["sha256"]] = known
        return known

    def add(self, pair, record: dict) -> None:
        """One exported pair (a PairForExport and its record)."""
        first = self._video(pair.video_a, record["prompt"], record.get("checklist_a"))
        second = self._video(pair.video_b, record["prompt"], record.get("checklist_b"))
        winner = formats.overall_winner(record["labels"], record["severe"])
        self.outcomes.append((first.index, second.index, {"A": 1.0, "B": 0.0, "tie": 0.5}[winner]))

    def finish(self) -> None:
        if self.source == "judgments":
            fitted = bradley_terry_scores(self.outcomes, len(self.videos))
            self.scores = {sha256: round(float(fitted[video.index]), 6) for sha256, video in self.videos.items()}
        else:
            question_ids, weights = self.checklist_weights
            for sha256, video in self.videos.items():
                answers = {str(key): value for key, value in (video.checklist or {}).items()}
                if not any(value is not None for value in answers.values()):
                    self.counts["videos_without_checklist"] += 1
                    continue
                coded = [answers.get(question_id) for question_id in question_ids]
                self.scores[sha256] = round(checklist_share_score(weights, coded), 6)
        self.counts["videos_scored"] = len(self.scores)

    def rows_for(self, record: dict) -> list[dict]:
        rows = []
        for path in (record["video_a"], record["video_b"]):
            sha256 = Path(path).stem
            if sha256 in self.written or sha256 not in self.scores:
                continue
            self.written.add(sha256)
            video, score = self.videos[sha256], self.scores[sha256]
            critique = None
            if video.video_id in self.critiques:
                critique = critique_for_score(self.critiques[video.video_id], score)
                self.counts["with_critique" if critique else "critique_other_bin"] += 1
            rows.append(formats.rl_single_video_row(sha256=sha256, prompt=video.prompt, score=score,
                                                    critique=critique))
        return rows

    def summary(self) -> dict:
        rules = {
            "judgments": "Bradley-Terry on the exported pairs' overall outcomes (ties half a win), one virtual tie "
                         "per video against a reference of strength 1; score = p / (p + 1)",
            "checklist-model": "the checklist-linear model's overall reward of the video's checklist answers "
                               "divided by the sum of its overall weights",
        }
        summary = {"source": self.source, "rule": rules[self.source], **self.counts}
        if self.model_summary is not None:
            summary["model"] = self.model_summary
        return summary


def video_scoring_for(*, source: str, model_id: int | None, campaign) -> VideoScoring | None:
    """The scorer of an rl-prompts export (None for ``source`` "none"), with the campaign's accepted critiques of
    scored videos; for ``checklist-model`` the registered model's overall weights, refused unless the model is a
    checklist-linear one trained on this campaign's checklist."""
    from distillation.selectors import scored_critiques_for_export

    if source == "none":
        return None
    critiques = scored_critiques_for_export(campaign=campaign)
    if source == "judgments":
        return VideoScoring(source=source, critiques=critiques)
    from rm_training.checklist_linear import ChecklistRewardModel
    from rm_training.recipes.checklist_linear import WEIGHTS_FILE
    from training.models import RegisteredModel

    model = RegisteredModel.objects.select_related("snapshot").filter(pk=model_id).first()
    if model is None or model.recipe != "checklist-linear":
        raise VideoScoreError(f"video_score_model {model_id} is not a registered checklist-linear model")
    trained_on = (model.snapshot.manifest or {}).get("checklist")
    checklist = campaign.checklist
    if checklist is None or trained_on != {"slug": checklist.slug, "version": checklist.version}:
        raise VideoScoreError(
            f"model {model.name!r} was trained on checklist {trained_on}, campaign {campaign.name!r} uses "
            f"{checklist.slug + ' v' + str(checklist.version) if checklist else 'no checklist'}: its weights would "
            "score other questions"
        )
    weights_path = Path(model.run_dir) / WEIGHTS_FILE
    if not weights_path.is_file():
        raise VideoScoreError(f"model {model.name!r} has no {WEIGHTS_FILE} in {model.run_dir}")
    try:
        loaded = ChecklistRewardModel.load(weights_path)
    except ValueError as error:
        raise VideoScoreError(f"model {model.name!r}: {error}") from error
    return VideoScoring(
        source=source,
        critiques=critiques,
        checklist_weights=(loaded.question_ids, loaded.weights),
        model_summary={"id": model.pk, "name": model.name, "run_dir": model.run_dir},
    )
