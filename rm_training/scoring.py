"""Trained runs as reward functions on local video files (for post-training pipelines).

``DescoreScorer.from_run(RUN_DIR).rewards("clip.mp4", prompt="...")`` gives the per-dimension
rewards of one video (think-then-score: the model writes its CoT first when
``descore.eval_cot_tokens`` > 0). ``ChecklistScorer`` scores checklist answers with the weights of a
checklist-linear run; ``ChecklistVideoScorer.from_run(CHECKLIST_VLM_RUN).rewards("clip.mp4", prompt=...)`` first
has a checklist-vlm run answer the checklist of the video, then scores the answers with the checklist-linear weights
that run was trained to feed (VisionReward's per-dimension rewards of a new video).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rm_training.checklist_linear import ChecklistRewardModel
from rm_training.config import ConfigError
from rm_training.parsing import DIMENSIONS
from rm_training.run_dir import RunDir


@dataclass(frozen=True)
class LocalMedia:
    """Stands in for an export when videos are plain local files."""

    root: Path = Path(".")

    def media_path(self, path: str) -> Path:
        resolved = Path(path)
        if not resolved.is_file():
            raise FileNotFoundError(f"video {path} does not exist")
        return resolved


class DescoreScorer:
    def __init__(self, run: RunDir):
        from rm_training.recipes import descore

        self.config = run.config()
        if self.config.recipe != "descore":
            raise ConfigError(f"{run.path} is a {self.config.recipe} run, not descore")
        checkpoint = run.last_checkpoint()
        if checkpoint is None:
            raise ConfigError(f"{run.path} has no checkpoint")
        self._descore = descore
        self.model, _, self.data = descore.build(self.config, LocalMedia(), checkpoint)
        self.model.eval()

    @classmethod
    def from_run(cls, run_dir: Path | str) -> DescoreScorer:
        return cls(RunDir(run_dir))

    def assess(self, video: Path | str, prompt: str | None = None) -> tuple[str, dict[str, float]]:
        """(the CoT the model wrote before scoring, or "" when the run scores without one; the rewards)."""
        cot, options = "", self.config.descore
        if options.use_cot and options.eval_cot_tokens > 0:
            cot = self._descore.generate_cot(self.model, self.data, str(video), prompt, options.eval_cot_tokens)
        values = self._descore.score_videos(self.model, self.data, [(str(video), prompt, cot)])[0]
        return cot, {dimension: float(values[i]) for i, dimension in enumerate(DIMENSIONS)}

    def rewards(self, video: Path | str, prompt: str | None = None) -> dict[str, float]:
        return self.assess(video, prompt)[1]


class ChecklistScorer:
    def __init__(self, run: RunDir):
        from rm_training.recipes.checklist_linear import load_model

        self.model: ChecklistRewardModel = load_model(run)

    @classmethod
    def from_run(cls, run_dir: Path | str) -> ChecklistScorer:
        return cls(RunDir(run_dir))

    def rewards(self, checklist: dict) -> dict[str, float]:
        """``checklist``: question id -> 1 / 0 / None (as in the export's ``checklist_a``); the reward of every
        checklist dimension (eq. 6) and ``"overall"`` (eq. 4)."""
        return self.model.score(checklist)


@dataclass(frozen=True)
class ChecklistAssessment:
    answers: dict[str, int]  # question id -> 1 yes / 0 no
    yes_probabilities: dict[str, float]
    rewards: dict[str, float]  # checklist dimension -> R(dim) (eq. 6), and "overall" -> R (eq. 4)


class ChecklistVideoScorer:
    """A checklist-vlm run answers the checklist of a video; the checklist-linear weights it was trained with
    (``checklist_vlm.linear_run``, copied into the run) score the answers."""

    def __init__(self, run: RunDir):
        from rm_training.recipes.checklist_vlm import LINEAR_WEIGHTS_FILE, ChecklistAnswerer

        config = run.config()
        if config.recipe != "checklist-vlm":
            raise ConfigError(f"{run.path} is a {config.recipe} run, not checklist-vlm")
        weights = run.path / LINEAR_WEIGHTS_FILE
        if not weights.is_file():
            raise ConfigError(f"{run.path} was trained without checklist_vlm.linear_run: its answers have no weights")
        self.model = ChecklistRewardModel.load(weights)
        self.answerer = ChecklistAnswerer(run, LocalMedia())

    @classmethod
    def from_run(cls, run_dir: Path | str) -> ChecklistVideoScorer:
        return cls(RunDir(run_dir))

    def assess(self, video: Path | str, prompt: str | None = None) -> ChecklistAssessment:
        answers, probabilities = self.answerer.answer_checklist(str(video), prompt or "")
        return ChecklistAssessment(answers, probabilities, self.model.score(answers))

    def rewards(self, video: Path | str, prompt: str | None = None) -> dict[str, float]:
        return self.assess(video, prompt).rewards
