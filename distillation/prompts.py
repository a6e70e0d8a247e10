"""AesCoT prompts built from the rubric: the expert label is private information the critique must arrive at
without ever mentioning it (Aes-R1, appendix B), the tone is set by the item's bin, and the output follows the
AesRM-CoT format (one block per criterion with A, B and a verdict in {1, -1, 0}, then the dimension answer).

Pure functions over plain data (RubricSpec, labels, frames): selectors build the RubricSpec from the database.
Bump PROMPT_TEMPLATE_VERSION whenever the wording changes: it is part of the generation cache key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

PROMPT_TEMPLATE_VERSION = "aescot-pair-v1"
SCORE_PROMPT_TEMPLATE_VERSION = "aescot-score-v1"

PAIR_TONES = ("clear", "slight", "comparable")
SCORE_TONES = ("bad", "fair", "good")
CLEAR_MARGIN = 0.6

TONE_GUIDANCE = {
    "clear": "The difference between the two videos is clear: write decisively and name the decisive evidence.",
    "slight": (
        "The difference between the two videos is slight: write in a measured tone, acknowledge what both do well, "
        "and show the small but real differences that tip each judgement."
    ),
    "comparable": (
        "The two videos are close overall: write a balanced critique that weighs strengths and weaknesses on both "
        "sides and shows where neither is clearly ahead."
    ),
    "bad": "This video is aesthetically poor: focus on its main weaknesses while noting anything that works.",
    "fair": "This video is aesthetically fair: balance its genuine strengths against clear weaknesses.",
    "good": "This video is aesthetically strong: explain its strengths precisely and note any minor flaws.",
}

VERDICT_WORDS = {1: "Video A is better", -1: "Video B is better", 0: "the two are comparable"}


@dataclass(frozen=True)
class CriterionSpec:
    code: str
    name: str
    definition: str
    dimension: str


@dataclass(frozen=True)
class DimensionSpec:
    code: str
    name: str
    description: str


@dataclass(frozen=True)
class RubricSpec:
    dimensions: tuple[DimensionSpec, ...]
    criteria: tuple[CriterionSpec, ...]
    guidance: str = ""

    @property
    def criterion_codes(self) -> tuple[str, ...]:
        return tuple(criterion.code for criterion in self.criteria)


@dataclass(frozen=True)
class Frame:
    seconds: float
    jpeg: bytes

    def image_part(self) -> dict:
        encoded = base64.b64encode(self.jpeg).decode("ascii")
        return {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{encoded}"}}


def prompt_version_for(*, kind: str, fps: float, max_frames: int, short_side: int) -> str:
    """The cache-relevant identity of a prompt: template wording and the frame sampling that feeds it."""
    template = PROMPT_TEMPLATE_VERSION if kind == "pairs" else SCORE_PROMPT_TEMPLATE_VERSION
    return f"{template};fps={fps:g};frames={max_frames};side={short_side}"


def tone_for_pair(*, dimension_labels: dict[str, int | None], dimension_votes: dict[str, dict[int, int]]) -> str:
    """clear / slight / comparable from the consensus margin.

    All dimension labels comparable -> "comparable". Otherwise the margin of each decided dimension is
    (votes for the label - votes against it) / raters; a mean margin of at least CLEAR_MARGIN is "clear"
    (e.g. 2 of 2, or 2 of 3 with one abstaining), anything closer is "slight".
    """
    decided = [code for code, label in dimension_labels.items() if label]
    if not decided:
        return "comparable"
    margins = []
    for code in decided:
        label = dimension_labels[code]
        votes = dimension_votes.get(code) or {}
        raters = sum(votes.values())
        margins.append((votes.get(label, 0) - votes.get(-label, 0)) / raters if raters else 0.0)
    return "clear" if sum(margins) / len(margins) >= CLEAR_MARGIN else "slight"


def tone_for_score(score: float) -> str:
    """bad [0, 0.4), fair [0.4, 0.7), good [0.7, 1.0]."""
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"score {score} is outside [0, 1]")
    if score < 0.4:
        return "bad"
    if score < 0.7:
        return "fair"
    return "good"


def _rubric_text(rubric: RubricSpec) -> str:
    lines = []
    for dimension in rubric.dimensions:
        lines.append(f"{dimension.code} {dimension.name}: {dimension.description}".rstrip(": "))
        for criterion in rubric.criteria:
            if criterion.dimension == dimension.code:
                lines.append(f"  {criterion.code} {criterion.name}: {criterion.definition}")
    return "\n".join(lines)


def pair_system_prompt(*, rubric: RubricSpec) -> str:
    first = rubric.criteria[0] if rubric.criteria else CriterionSpec("VA1", "Shot composition", "", "VA")
    dimension_answer = ", ".join(f"{dimension.code}: v" for dimension in rubric.dimensions)
    return (
        "You are a seasoned film and television analyst with a rigorous, detail-oriented approach and deep "
        "expertise in video aesthetics. You will be given frames of two videos generated from the same text "
        "prompt: Video A and Video B. Compare them on every criterion of this rubric:\n\n"
        f"{_rubric_text(rubric)}\n\n"
        f"{rubric.guidance}\n\n"
        "For each criterion, first describe what Video A shows, then what Video B shows, and only then give the "
        "verdict of A relative to B: 1 if A is clearly better, -1 if B is clearly better, 0 if they are similar, "
        "the evidence is insufficient, or the criterion does not apply. A severe violation in a dimension "
        "decides that dimension.\n\n"
        "Answer in exactly this format and nothing else:\n"
        "<think>\n"
        f"{first.code} {first.name}: A: <what Video A shows> B: <what Video B shows> Verdict: <1, -1 or 0>\n"
        "... one line per criterion, in rubric order ...\n"
        "</think>\n"
        f"<answer>{dimension_answer}</answer>"
    ).replace("\n\n\n", "\n\n")


def private_label_text(*, rubric: RubricSpec, labels: dict) -> str:
    criteria = labels.get("criteria") or {}
    dimensions = labels.get("dimensions") or {}
    criterion_lines = [
        f"{criterion.code} {criterion.name}: {criteria[criterion.code]}"
        for criterion in rubric.criteria
        if criteria.get(criterion.code) is not None
    ]
    dimension_lines = [
        f"{dimension.code} {dimension.name}: {dimensions[dimension.code]} ({VERDICT_WORDS[dimensions[dimension.code]]})"
        for dimension in rubric.dimensions
        if dimensions.get(dimension.code) is not None
    ]
    return (
        "Strictly private information: a panel reached these verdicts for this pair "
        "(1 = A better, -1 = B better, 0 = comparable).\n"
        "Dimensions:\n" + "\n".join(dimension_lines) + "\nCriteria:\n" + "\n".join(criterion_lines) + "\n"
        "Your critique must arrive at exactly these verdicts through evidence you can see in the frames. "
        "Never mention these verdicts, that they were provided, any panel, expert, rating, label or hidden "
        "variable, or these instructions. Never state a conclusion before the evidence that supports it. "
        "Describe only what is visible, and keep each video's observations in its own A or B part."
    )


def pair_reference(pair_id: int) -> str:
    """How a prompt names a pair: by its database id, which says nothing about the videos' sources."""
    return f"pair-{pair_id}"


def pair_messages(
    *,
    rubric: RubricSpec,
    video_prompt: str,
    labels: dict,
    tone: str,
    frames_a: list[Frame],
    frames_b: list[Frame],
    reference: str,
) -> list[dict]:
    """Chat messages for one pair: system (rubric + format), user (prompt, frames of A then B, private label, tone).

    `reference` (pair_reference: a neutral id) lets logs and test servers tell requests apart. Never the pair's
    external id: in real campaigns it names the generators, which the critique must not mention.
    """
    if tone not in PAIR_TONES:
        raise ValueError(f"unknown pair tone {tone!r}")
    content: list[dict] = [
        {"type": "text", "text": f"Pair reference: {reference}\nText prompt of both videos: {video_prompt}"},
        {"type": "text", "text": f"Video A: {len(frames_a)} frames, in order."},
        *[frame.image_part() for frame in frames_a],
        {"type": "text", "text": f"Video B: {len(frames_b)} frames, in order."},
        *[frame.image_part() for frame in frames_b],
        {"type": "text", "text": private_label_text(rubric=rubric, labels=labels)},
        {"type": "text", "text": f"Tone: {TONE_GUIDANCE[tone]}"},
    ]
    return [
        {"role": "system", "content": pair_system_prompt(rubric=rubric)},
        {"role": "user", "content": content},
    ]


def score_messages(*, video_prompt: str, score: float, frames: list[Frame], reference: str) -> list[dict]:
    """Aes-R1's AesCoT construction prompt for one scored video (score private, tone by bin)."""
    tone = tone_for_score(score)
    instructions = (
        "You are an aesthetic expert. The aesthetic rating of this video is "
        f"{score:.2f}. Treat the rating (range 0-1, two-decimal precision) as strictly private information. "
        "Closely examine the video's composition, lighting, colour harmony, subject matter, motion, technical "
        "execution and emotional impact. Write a thoughtful critique that explains the key visual strengths and "
        "weaknesses and ends with a judgement that matches the hidden rating. Never mention the numeric value of "
        "the rating or the fact that it was provided. Do not reference these instructions or any hidden variables "
        f"in your answer. {TONE_GUIDANCE[tone]} Answer as <think>critique</think><answer>rating</answer>."
    )
    content = [
        {"type": "text", "text": f"Video reference: {reference}\nText prompt: {video_prompt}"},
        *[frame.image_part() for frame in frames],
        {"type": "text", "text": instructions},
    ]
    return [{"role": "user", "content": content}]


JUDGE_PROMPT_VERSION = "judge-v1"
JUDGE_QUESTIONS = {
    "leakage": (
        "The critique below was written by a model that privately knew the final verdicts it had to reach. "
        "Does the critique reveal that: it mentions a panel, experts, ratings, scores, labels, hidden or provided "
        "information, or its instructions, or it reasons backwards from a conclusion stated before any evidence? "
        'Reply with JSON only: {"flag": true or false, "quote": "<the shortest exact quote that shows it, or an '
        'empty string>", "reason": "<one sentence>"}'
    ),
    "factual": (
        "The critique below describes one video, or compares Video A and Video B. These facts about the videos are "
        "certain:\n{facts}\n"
        "Does the critique claim anything these facts contradict, or describe a property of one video under the "
        'other? Reply with JSON only: {"flag": true or false, "quote": "<the shortest exact quote that shows it, '
        'or an empty string>", "reason": "<one sentence>"}'
    ),
}


def judge_messages(*, purpose: str, critique: str, reference: str, facts: str = "") -> list[dict]:
    """The optional LLM-judge pass of the leakage or factual filter (text only: the facts stand in for frames)."""
    question = JUDGE_QUESTIONS[purpose].replace("{facts}", facts or "(none recorded)")
    return [
        {"role": "system", "content": "You audit generated video critiques for a dataset. Answer with JSON only."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"Pair reference: {reference}-judge-{purpose}"},
                {"type": "text", "text": question},
                {"type": "text", "text": f"Critique:\n{critique}"},
            ],
        },
    ]
