"""Strict parsers for the AesRM-Base and AesRM-CoT answer texts (docs/export-formats.md).

AesRM-CoT::

    <think>
    VA1 Shot composition: A: ... B: ... Verdict: 1
    ... one block per criterion ...
    Severe: A: VP; B: none
    </think>
    <answer>VA: 1, VF: -1, VP: 0</answer>

The ``Severe:`` line (severe-violation flags per video, by dimension code, or ``none``) is optional; without
it no video is flagged. A criterion block may also follow the seed's CoT template (seed 000, Table 9)::

    VA1 Shot composition:
    1. Requirement and standard: ...
    2. Video A: ...
    3. Video B: ...
    4. Score (A relative to B): 1, a brief justification

AesRM-Base: one sentence, then ``<answer>VA: 1, VF: -1, VP: 0</answer>``; or the seed's Base form, the sentence
itself in the answer: ``<answer>Video A underperforms Video B in visual aesthetics, while the two are comparable
in visual fidelity and visual plausibility.</answer>``. Either answer body is accepted in both styles.

Parsers raise :class:`AnswerParseError` (a ``ValueError``) with a reason; they never raise anything
else, whatever the input (generated text can be any garbage).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DIMENSIONS: tuple[str, ...] = ("VA", "VF", "VP")
VERDICT_TO_LABEL = {1: "A", -1: "B", 0: "tie"}
LABEL_TO_VERDICT = {"A": 1, "B": -1, "tie": 0}

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_ANSWER_BODY = re.compile(
    r"\s*VA\s*:\s*(-1|0|1)\s*,\s*VF\s*:\s*(-1|0|1)\s*,\s*VP\s*:\s*(-1|0|1)\s*"
)
_THINK_BLOCK = re.compile(r"\A\s*<think>(.*?)</think>\s*<answer>", re.DOTALL)
_CRITERION_START = re.compile(r"^[ \t]*([A-Z]{2}\d+)\b", re.MULTILINE)
_CRITERION_BLOCK = re.compile(
    r"\A(?P<code>[A-Z]{2}\d+)\s+(?P<name>[^:\n]*?)\s*:\s*A:\s*(?P<a>.*?)\s*\bB:\s*(?P<b>.*?)\s*"
    r"Verdict:\s*(?P<verdict>-1|0|1)\s*\Z",
    re.DOTALL,
)
# The seed's four-part criterion block, read part by part (each marker is the first one after the previous part;
# one regex with four lazy groups backtracks for minutes on garbage).
_PAPER_HEADER = re.compile(r"\A(?P<code>[A-Z]{2}\d+)\s+(?P<name>[^:\n]*?)\s*:\s*")
_PAPER_REQUIREMENT = re.compile(
    r"(?:1\.\s*)?(?:the\s+prompt'?s\s+)?requirements?(?:\s+and\s+(?:the\s+corresponding\s+)?standards?)?\s*:\s*",
    re.IGNORECASE,
)
_PAPER_VIDEO_A = re.compile(r"(?:\b2\.\s*)?\b(?:[Vv]ideo\s+)?A\s*:\s*")
_PAPER_VIDEO_B = re.compile(r"(?:\b3\.\s*)?\b(?:[Vv]ideo\s+)?B\s*:\s*")
_PAPER_SCORE = re.compile(
    r"(?:\b4\.\s*)?\bscore(?:\s*\(\s*A\s+relative\s+to\s+B\s*\))?\s*:\s*(?P<verdict>[+-]?1|0)(?![\d.])[\s,.;:-]*",
    re.IGNORECASE,
)
_SEVERE_LINE = re.compile(
    r"^[ \t]*Severe(?:[ \t]+violations?)?[ \t]*:[ \t]*A[ \t]*:[ \t]*(?P<a>none|[A-Z]{2}(?:[ \t]*,[ \t]*[A-Z]{2})*)"
    r"[ \t]*[;,]?[ \t]*B[ \t]*:[ \t]*(?P<b>none|[A-Z]{2}(?:[ \t]*,[ \t]*[A-Z]{2})*)[ \t.]*$",
    re.MULTILINE | re.IGNORECASE,
)
# The seed's Base sentence: "<Video A|Video B|it> <outperforms|underperforms> <Video B|Video A> in <dimensions>" and
# "the two are comparable in <dimensions>", joined by commas, "while" or "and".
_ORDERED_RELATION = re.compile(
    r"\b(?:video\s+(?P<subject>[ab])|it)\s+(?P<relation>outperforms|underperforms)\s+video\s+(?P<object>[ab])\b",
    re.IGNORECASE,
)
_COMPARABLE_RELATION = re.compile(
    r"\b(?:(?:the\s+two|both)(?:\s+videos)?|they|video\s+a\s+and\s+video\s+b)\s+are\s+comparable\b"
    r"|\bvideo\s+[ab]\s+is\s+comparable\s+(?:to|with)\s+video\s+[ab]\b",
    re.IGNORECASE,
)
DIMENSION_NAMES = {"VA": "visual aesthetics", "VF": "visual fidelity", "VP": "visual plausibility"}
_DIMENSION_MENTION = re.compile(
    r"\b(?P<name>visual\s+aesthetics|visual\s+fidelity|visual\s+plausibility|all\s+(?:three\s+)?dimensions)\b",
    re.IGNORECASE,
)


class AnswerParseError(ValueError):
    """The text does not follow the answer format; ``str(error)`` says why."""


@dataclass(frozen=True)
class CriterionJudgement:
    code: str
    name: str
    text_a: str
    text_b: str
    verdict: int
    requirement: str = ""  # the seed's template only: the prompt's requirement and the standard
    justification: str = ""  # the seed's template only: the text after the score


def no_severe_flags() -> dict[str, dict[str, bool]]:
    return {"A": {}, "B": {}}


@dataclass(frozen=True)
class ParsedAnswer:
    """Dimension verdicts (+1 A better, -1 B better, 0 comparable) and, for CoT, the criteria."""

    dimensions: dict[str, int]
    criteria: dict[str, CriterionJudgement] = field(default_factory=dict)
    preamble: str = ""
    # {"A": {"VP": True}, "B": {}}: the severe violations the answer states (CoT ``Severe:`` line)
    severe: dict[str, dict[str, bool]] = field(default_factory=no_severe_flags)

    def labels(self) -> dict[str, str]:
        return {dimension: VERDICT_TO_LABEL[value] for dimension, value in self.dimensions.items()}


def _single_answer(text: object) -> tuple[str, re.Match]:
    if not isinstance(text, str):
        raise AnswerParseError(f"expected text, got {type(text).__name__}")
    blocks = list(_ANSWER_BLOCK.finditer(text))
    if not blocks:
        raise AnswerParseError("no <answer>...</answer> block")
    if len(blocks) > 1:
        raise AnswerParseError(f"{len(blocks)} <answer> blocks, expected exactly one")
    block = blocks[0]
    if text[block.end():].strip():
        raise AnswerParseError("text after </answer>")
    return text, block


def _dimension_verdicts(block: re.Match) -> dict[str, int]:
    body = _ANSWER_BODY.fullmatch(block.group(1))
    if body is not None:
        return {dimension: int(value) for dimension, value in zip(DIMENSIONS, body.groups(), strict=True)}
    verdicts = sentence_verdicts(block.group(1))
    if verdicts is None:
        raise AnswerParseError(
            f"answer body {block.group(1)!r} is neither 'VA: v, VF: v, VP: v' with v in {{1, -1, 0}} nor a sentence "
            "comparing Video A and Video B in visual aesthetics, visual fidelity and visual plausibility"
        )
    return verdicts


def _ordered_verdict(match: re.Match) -> int | None:
    subject, target = (match.group("subject") or "").lower(), match.group("object").lower()
    if subject == target:
        return None
    direction = 1 if match.group("relation").lower() == "outperforms" else -1
    return direction if target == "b" else -direction


def sentence_verdicts(text: str) -> dict[str, int] | None:
    """Dimension verdicts from the seed's Base sentence ("Video A underperforms Video B in visual aesthetics,
    while the two are comparable in visual fidelity and visual plausibility."), or None when the sentence does
    not name each dimension exactly once after a comparison."""
    relations = [(match.start(), match.end(), _ordered_verdict(match)) for match in _ORDERED_RELATION.finditer(text)]
    relations += [(match.start(), match.end(), 0) for match in _COMPARABLE_RELATION.finditer(text)]
    relations.sort()
    if not relations or any(verdict is None for _, _, verdict in relations):
        return None
    if _DIMENSION_MENTION.search(text, 0, relations[0][0]):
        return None
    verdicts: dict[str, int] = {}
    for index, (_, end, verdict) in enumerate(relations):
        stop = relations[index + 1][0] if index + 1 < len(relations) else len(text)
        mentions = [match.group("name").lower() for match in _DIMENSION_MENTION.finditer(text, end, stop)]
        if not mentions:
            return None
        for mention in mentions:
            named = DIMENSIONS if mention.startswith("all") else [
                code for code, name in DIMENSION_NAMES.items() if name == " ".join(mention.split())
            ]
            for code in named:
                if code in verdicts:
                    return None
                verdicts[code] = verdict
    if set(verdicts) != set(DIMENSIONS):
        return None
    return {dimension: verdicts[dimension] for dimension in DIMENSIONS}


def _severe_codes(listed: str) -> dict[str, bool]:
    if listed.strip().lower() == "none":
        return {}
    codes = [code.strip().upper() for code in listed.split(",")]
    unknown = [code for code in codes if code not in DIMENSIONS]
    if unknown:
        raise AnswerParseError(f"unknown dimension in the Severe line: {', '.join(unknown)}")
    return dict.fromkeys(codes, True)


def _split_severe_line(thought: str) -> tuple[str, dict[str, dict[str, bool]]]:
    """The thought without its closing ``Severe:`` line, and the flags it states (none when absent)."""
    lines = list(_SEVERE_LINE.finditer(thought))
    if not lines:
        return thought, no_severe_flags()
    if len(lines) > 1:
        raise AnswerParseError(f"{len(lines)} Severe lines, expected at most one")
    line = lines[0]
    if thought[line.end():].strip():
        raise AnswerParseError("the Severe line must close the <think> block")
    return thought[: line.start()], {"A": _severe_codes(line.group("a")), "B": _severe_codes(line.group("b"))}


def _paper_criterion_judgement(chunk: str) -> CriterionJudgement | None:
    """The seed's template: ``CODE Name:``, ``1. Requirement and standard: ...``, ``2. Video A: ...``,
    ``3. Video B: ...``, ``4. Score (A relative to B): v, justification`` (numbers and "Video" optional)."""
    header = _PAPER_HEADER.match(chunk)
    if header is None:
        return None
    requirement = _PAPER_REQUIREMENT.match(chunk, header.end())
    if requirement is None:
        return None
    video_a = _PAPER_VIDEO_A.search(chunk, requirement.end())
    video_b = _PAPER_VIDEO_B.search(chunk, video_a.end()) if video_a else None
    score = _PAPER_SCORE.search(chunk, video_b.end()) if video_b else None
    if score is None:
        return None
    return CriterionJudgement(
        code=header.group("code"),
        name=header.group("name").strip(),
        text_a=chunk[video_a.end(): video_b.start()].strip(),
        text_b=chunk[video_b.end(): score.start()].strip(),
        verdict=int(score.group("verdict")),
        requirement=chunk[requirement.end(): video_a.start()].strip(),
        justification=chunk[score.end():].strip(),
    )


def _criterion_judgement(chunk: str, code: str) -> CriterionJudgement:
    """One criterion block, in our one-line form or in the seed's four-part template."""
    match = _CRITERION_BLOCK.match(chunk)
    if match is not None:
        return CriterionJudgement(
            code=match.group("code"),
            name=match.group("name").strip(),
            text_a=match.group("a").strip(),
            text_b=match.group("b").strip(),
            verdict=int(match.group("verdict")),
        )
    judgement = _paper_criterion_judgement(chunk)
    if judgement is not None:
        return judgement
    raise AnswerParseError(
        f"criterion block {code} is neither 'CODE Name: A: ... B: ... Verdict: v' nor the seed's "
        "'CODE Name: Requirement and standard: ... Video A: ... Video B: ... Score: v, justification'"
    )


def parse_base_answer(text: object) -> ParsedAnswer:
    """Parse an AesRM-Base answer: a non-empty sentence then the ``<answer>`` block."""
    text, block = _single_answer(text)
    preamble = text[: block.start()].strip()
    if "<think>" in preamble or "</think>" in preamble:
        raise AnswerParseError("AesRM-Base answers have no <think> block")
    dimensions = _dimension_verdicts(block)
    if not preamble and _ANSWER_BODY.fullmatch(block.group(1)):
        raise AnswerParseError("missing the sentence before <answer>")
    return ParsedAnswer(dimensions=dimensions, preamble=preamble or block.group(1).strip())


def parse_cot_answer(text: object, criteria: tuple[str, ...] | list[str] | None = None) -> ParsedAnswer:
    """Parse an AesRM-CoT answer.

    ``criteria``: the criterion codes the rubric expects (e.g. from the manifest); when given,
    each must appear exactly once and no other code may appear.
    """
    text, block = _single_answer(text)
    think = _THINK_BLOCK.match(text)
    if think is None:
        raise AnswerParseError("expected '<think>...</think>' immediately followed by '<answer>'")
    thought, severe = _split_severe_line(think.group(1))
    starts = list(_CRITERION_START.finditer(thought))
    if not starts:
        raise AnswerParseError("no criterion block inside <think>")
    if thought[: starts[0].start()].strip():
        raise AnswerParseError("text inside <think> before the first criterion block")
    judgements: dict[str, CriterionJudgement] = {}
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(thought)
        judgement = _criterion_judgement(thought[start.start(): end].strip(), start.group(1))
        if judgement.code in judgements:
            raise AnswerParseError(f"criterion {judgement.code} appears twice")
        judgements[judgement.code] = judgement
    if criteria is not None:
        missing = [code for code in criteria if code not in judgements]
        unexpected = [code for code in judgements if code not in set(criteria)]
        if missing:
            raise AnswerParseError(f"missing criteria: {', '.join(missing)}")
        if unexpected:
            raise AnswerParseError(f"unknown criteria: {', '.join(unexpected)}")
    return ParsedAnswer(dimensions=_dimension_verdicts(block), criteria=judgements, severe=severe)


def parse_answer(text: object, style: str, criteria: tuple[str, ...] | list[str] | None = None) -> ParsedAnswer:
    """Dispatch on ``style`` ("cot" or "base")."""
    if style == "cot":
        return parse_cot_answer(text, criteria)
    if style == "base":
        return parse_base_answer(text)
    raise ValueError(f"unknown answer style {style!r}; expected 'cot' or 'base'")


def format_answer(dimensions: dict[str, int]) -> str:
    """The ``<answer>`` block for dimension verdicts, e.g. ``<answer>VA: 1, VF: -1, VP: 0</answer>``."""
    body = ", ".join(f"{dimension}: {int(dimensions[dimension])}" for dimension in DIMENSIONS)
    return f"<answer>{body}</answer>"
