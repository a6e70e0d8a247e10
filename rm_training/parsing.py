"""Strict parsers for the AesRM-Base and AesRM-CoT answer texts (docs/export-formats.md).

AesRM-CoT::

    <think>
    VA1 Shot composition: A: ... B: ... Verdict: 1
    ... one block per criterion ...
    </think>
    <answer>VA: 1, VF: -1, VP: 0</answer>

AesRM-Base: one sentence, then ``<answer>VA: 1, VF: -1, VP: 0</answer>``.

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


class AnswerParseError(ValueError):
    """The text does not follow the answer format; ``str(error)`` says why."""


@dataclass(frozen=True)
class CriterionJudgement:
    code: str
    name: str
    text_a: str
    text_b: str
    verdict: int


@dataclass(frozen=True)
class ParsedAnswer:
    """Dimension verdicts (+1 A better, -1 B better, 0 comparable) and, for CoT, the criteria."""

    dimensions: dict[str, int]
    criteria: dict[str, CriterionJudgement] = field(default_factory=dict)
    preamble: str = ""

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
    if body is None:
        raise AnswerParseError(
            f"answer body {block.group(1)!r} is not 'VA: v, VF: v, VP: v' with v in {{1, -1, 0}}"
        )
    return {dimension: int(value) for dimension, value in zip(DIMENSIONS, body.groups(), strict=True)}


def parse_base_answer(text: object) -> ParsedAnswer:
    """Parse an AesRM-Base answer: a non-empty sentence then the ``<answer>`` block."""
    text, block = _single_answer(text)
    preamble = text[: block.start()].strip()
    if not preamble:
        raise AnswerParseError("missing the sentence before <answer>")
    if "<think>" in preamble or "</think>" in preamble:
        raise AnswerParseError("AesRM-Base answers have no <think> block")
    return ParsedAnswer(dimensions=_dimension_verdicts(block), preamble=preamble)


def parse_cot_answer(text: object, criteria: tuple[str, ...] | list[str] | None = None) -> ParsedAnswer:
    """Parse an AesRM-CoT answer.

    ``criteria``: the criterion codes the rubric expects (e.g. from the manifest); when given,
    each must appear exactly once and no other code may appear.
    """
    text, block = _single_answer(text)
    think = _THINK_BLOCK.match(text)
    if think is None:
        raise AnswerParseError("expected '<think>...</think>' immediately followed by '<answer>'")
    thought = think.group(1)
    starts = list(_CRITERION_START.finditer(thought))
    if not starts:
        raise AnswerParseError("no criterion block inside <think>")
    if thought[: starts[0].start()].strip():
        raise AnswerParseError("text inside <think> before the first criterion block")
    judgements: dict[str, CriterionJudgement] = {}
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(thought)
        chunk = thought[start.start(): end].strip()
        match = _CRITERION_BLOCK.match(chunk)
        if match is None:
            raise AnswerParseError(
                f"criterion block {start.group(1)} is not 'CODE Name: A: ... B: ... Verdict: v'"
            )
        code = match.group("code")
        if code in judgements:
            raise AnswerParseError(f"criterion {code} appears twice")
        judgements[code] = CriterionJudgement(
            code=code,
            name=match.group("name").strip(),
            text_a=match.group("a").strip(),
            text_b=match.group("b").strip(),
            verdict=int(match.group("verdict")),
        )
    if criteria is not None:
        missing = [code for code in criteria if code not in judgements]
        unexpected = [code for code in judgements if code not in set(criteria)]
        if missing:
            raise AnswerParseError(f"missing criteria: {', '.join(missing)}")
        if unexpected:
            raise AnswerParseError(f"unknown criteria: {', '.join(unexpected)}")
    return ParsedAnswer(dimensions=_dimension_verdicts(block), criteria=judgements)


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
