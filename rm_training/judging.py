"""One video pair through a trained run, in both display orders: what the model playground shows.

``PairJudge.for_run(RUN_DIR)`` loads the run's last checkpoint once; ``judge(PairInput(...))`` answers with the
dimension verdicts, the critique per criterion (aesrm-cot), the DeScore rewards and per-video critiques
(descore), and the same pair asked with A and B exchanged. Every answer is given in canonical terms: +1 means
``video_a`` is better, whichever side the model saw it on, so the two orders disagree exactly where the model
has a position bias.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from rm_training.config import ConfigError
from rm_training.data import prompt_messages, swap_videos, video_paths
from rm_training.evaluation import verdict_from_margin
from rm_training.export import Export
from rm_training.parsing import DIMENSIONS, LABEL_TO_VERDICT, CriterionJudgement, ParsedAnswer
from rm_training.run_dir import RunDir
from rm_training.scoring import ChecklistScorer, ChecklistVideoScorer, DescoreScorer, LocalMedia

PAIR_RECIPES = ("aesrm-base", "aesrm-cot", "descore", "checklist-linear", "checklist-vlm")


class JudgeInputError(ValueError):
    """The pair cannot be judged by this model (what is missing is in the message)."""


@dataclass(frozen=True)
class PairInput:
    video_a: Path
    video_b: Path
    prompt: str | None = None
    # The pair prompt in the run's export format, videos as local paths (aesrm-base / aesrm-cot).
    messages: list[dict] | None = None
    # Experts' checklist answers, question id -> 1 / 0 / None (checklist-linear).
    checklist_a: dict | None = None
    checklist_b: dict | None = None

    @classmethod
    def from_export_row(cls, export: Export, row: dict) -> PairInput:
        """A pair row of an export, its media paths resolved to the files in the export folder."""
        messages = None
        if row.get("messages"):
            messages = [
                {**message, "content": [
                    {**part, "video": str(export.media_path(part["video"]))}
                    if isinstance(part, dict) and part.get("type") == "video" else part
                    for part in message.get("content", [])
                ]}
                for message in prompt_messages(row["messages"])
            ]
        return cls(
            video_a=export.media_path(row["video_a"]), video_b=export.media_path(row["video_b"]),
            prompt=row.get("prompt"), messages=messages,
            checklist_a=row.get("checklist_a"), checklist_b=row.get("checklist_b"),
        )


@dataclass(frozen=True)
class OrderAnswer:
    """The model's answer for one display order, in canonical terms."""

    verdicts: dict[str, int]  # +1 video_a better, -1 video_b better, 0 comparable
    margins: dict[str, float] = field(default_factory=dict)  # score differences, when the model scores
    criteria: tuple[CriterionJudgement, ...] = ()  # text_a is about video_a
    text: str = ""  # the generated answer, as written
    parse_error: str | None = None


@dataclass(frozen=True)
class PairJudgement:
    recipe: str
    original: OrderAnswer  # video_a shown as "Video A"
    swapped: OrderAnswer  # video_b shown as "Video A"
    rewards_a: dict[str, float] | None = None  # DeScore head outputs per dimension
    rewards_b: dict[str, float] | None = None
    critique_a: str = ""  # DeScore's own CoT before scoring each video
    critique_b: str = ""
    notes: tuple[str, ...] = ()

    def swap_consistent(self) -> dict[str, bool]:
        return {d: self.original.verdicts.get(d) == self.swapped.verdicts.get(d) for d in self.original.verdicts}


def _canonical(parsed: ParsedAnswer, *, swapped: bool) -> tuple[dict[str, int], tuple[CriterionJudgement, ...]]:
    """Verdicts and criterion texts of an answer given in display order, turned to canonical order."""
    sign = -1 if swapped else 1
    verdicts = {dimension: sign * value for dimension, value in parsed.dimensions.items()}
    criteria = tuple(
        replace(item, verdict=sign * item.verdict, text_a=item.text_b, text_b=item.text_a) if swapped else item
        for item in parsed.criteria.values()
    )
    return verdicts, criteria


class PairJudge:
    recipe: str = ""

    @staticmethod
    def for_run(run_dir: Path | str) -> PairJudge:
        run = RunDir(run_dir)
        if not (run.path / "config.yaml").is_file():
            raise ConfigError(f"{run.path} is not a run folder (no config.yaml)")
        recipe = run.config().recipe
        judges = {
            "aesrm-base": GenerativePairJudge,
            "aesrm-cot": GenerativePairJudge,
            "descore": DescorePairJudge,
            "checklist-linear": ChecklistPairJudge,
            "checklist-vlm": ChecklistVideoPairJudge,
        }
        if recipe not in judges:
            raise ConfigError(
                f"{recipe} models score single videos; the playground judges pairs with {', '.join(PAIR_RECIPES)}"
            )
        return judges[recipe](run)

    def judge(self, pair: PairInput) -> PairJudgement:
        raise NotImplementedError


class GenerativePairJudge(PairJudge):
    """aesrm-base / aesrm-cot: the model writes its answer (and critique) for each order."""

    def __init__(self, run: RunDir):
        from rm_training.recipes.aesrm import PairAnswerer

        self.answerer = PairAnswerer(run, LocalMedia())
        self.recipe = self.answerer.config.recipe

    def _order(self, messages: list[dict], *, swapped: bool) -> OrderAnswer:
        text, parsed, error = self.answerer.answer(messages)
        if parsed is None:
            return OrderAnswer(verdicts={d: 0 for d in DIMENSIONS}, text=text, parse_error=error)
        verdicts, criteria = _canonical(parsed, swapped=swapped)
        return OrderAnswer(verdicts=verdicts, criteria=criteria, text=text)

    def judge(self, pair: PairInput) -> PairJudgement:
        if not pair.messages or len(video_paths(pair.messages)) != 2:
            raise JudgeInputError(f"{self.recipe} models need the pair prompt with both videos")
        return PairJudgement(
            recipe=self.recipe,
            original=self._order(pair.messages, swapped=False),
            swapped=self._order(swap_videos(pair.messages), swapped=True),
        )


def _tie_epsilons(run: RunDir) -> dict[str, float]:
    """The tie thresholds the run's test evaluation calibrated (0 where it has none)."""
    dimensions = ((run.read_json("metrics.json") or {}).get("eval_test") or {}).get("dimensions") or {}
    return {d: float((dimensions.get(d) or {}).get("tie_epsilon") or 0.0) for d in DIMENSIONS}


def _margin_answer(margins: dict[str, float], epsilons: dict[str, float]) -> OrderAnswer:
    verdicts = {d: LABEL_TO_VERDICT[verdict_from_margin(m, epsilons.get(d, 0.0))] for d, m in margins.items()}
    return OrderAnswer(verdicts=verdicts, margins=margins)


class DescorePairJudge(PairJudge):
    """Each video is scored alone (its own CoT, then the [Reward] head), so exchanging A and B negates the margins
    exactly: a DeScore model has no position bias by construction."""

    recipe = "descore"

    def __init__(self, run: RunDir):
        self.scorer = DescoreScorer(run)
        self.epsilons = _tie_epsilons(run)

    def judge(self, pair: PairInput) -> PairJudgement:
        critique_a, rewards_a = self.scorer.assess(pair.video_a, pair.prompt)
        critique_b, rewards_b = self.scorer.assess(pair.video_b, pair.prompt)
        margins = {d: rewards_a[d] - rewards_b[d] for d in DIMENSIONS}
        answer = _margin_answer(margins, self.epsilons)
        return PairJudgement(
            recipe=self.recipe, original=answer, swapped=answer, rewards_a=rewards_a, rewards_b=rewards_b,
            critique_a=critique_a, critique_b=critique_b,
            notes=("each video is scored on its own, so the swapped order gives the same verdicts",),
        )


def _checklist_judgement(recipe: str, rewards_a: dict[str, float], rewards_b: dict[str, float],
                         notes: tuple[str, ...]) -> PairJudgement:
    """Verdicts per checklist dimension (eq. 6) and "overall" (eq. 4) from the two videos' rewards."""
    answer = _margin_answer({d: rewards_a[d] - rewards_b[d] for d in rewards_a if d in rewards_b}, {})
    return PairJudgement(recipe=recipe, original=answer, swapped=answer, rewards_a=rewards_a, rewards_b=rewards_b,
                         notes=notes)


class ChecklistPairJudge(PairJudge):
    """VisionReward's linear reward over the experts' checklist answers of each video."""

    recipe = "checklist-linear"

    def __init__(self, run: RunDir):
        self.scorer = ChecklistScorer(run)

    def judge(self, pair: PairInput) -> PairJudgement:
        if pair.checklist_a is None or pair.checklist_b is None:
            raise JudgeInputError(
                "checklist-linear models score the experts' checklist answers of each video; "
                "pick a pair from an export, or use a checklist-vlm model for uploaded videos"
            )
        return _checklist_judgement(
            self.recipe, self.scorer.rewards(pair.checklist_a), self.scorer.rewards(pair.checklist_b),
            ("a linear checklist reward is symmetric, so the swapped order gives the same verdicts",),
        )


class ChecklistVideoPairJudge(PairJudge):
    """A checklist-vlm model answers each video's checklist; its checklist-linear weights score the answers."""

    recipe = "checklist-vlm"

    def __init__(self, run: RunDir):
        self.scorer = ChecklistVideoScorer(run)

    def judge(self, pair: PairInput) -> PairJudgement:
        assessed_a = self.scorer.assess(pair.video_a, pair.prompt)
        assessed_b = self.scorer.assess(pair.video_b, pair.prompt)
        yes_a, yes_b = sum(assessed_a.answers.values()), sum(assessed_b.answers.values())
        return _checklist_judgement(
            self.recipe, assessed_a.rewards, assessed_b.rewards,
            (f"the model answered yes to {yes_a} of {len(assessed_a.answers)} checklist questions for video A and "
             f"{yes_b} for video B; each video is scored on its own, so the swapped order gives the same verdicts",),
        )
