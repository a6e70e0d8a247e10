"""Progressive checklist semantics (VisionReward), as plain functions over question specs.

Within a sub-dimension, options are ordered by level (higher = stronger claim):
- "yes" at a level implies "yes" at every lower level;
- "no" at a level implies "no" at every higher level;
- a question gated by a presence question is "na" (not applicable) when that question is "no".
The browser applies the same rules as the expert clicks; the server applies them again on submit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

YES, NO, NOT_APPLICABLE = "yes", "no", "na"
ANSWERS = (YES, NO, NOT_APPLICABLE)


@dataclass(frozen=True)
class QuestionSpec:
    id: int
    sub_dimension: str
    level: int
    gated_by: int | None = None


class ChecklistContradiction(ValueError):
    """Explicit answers that contradict each other under the progressive rules."""


def question_specs(questions: Iterable) -> list[QuestionSpec]:
    return [
        QuestionSpec(id=q.id, sub_dimension=q.sub_dimension, level=q.level, gated_by=q.not_applicable_when_id)
        for q in questions
    ]


def checklist_apply_progressive(questions: list[QuestionSpec], answers: dict[int, str]) -> dict[int, str]:
    """Return the answers with every implied answer filled in; raise ChecklistContradiction on a conflict.

    Unanswered questions with nothing implied stay absent from the result.
    """
    unknown = set(answers) - {q.id for q in questions}
    if unknown:
        raise ChecklistContradiction(f"unknown question ids: {sorted(unknown)}")
    bad = {qid: value for qid, value in answers.items() if value not in ANSWERS}
    if bad:
        raise ChecklistContradiction(f"answers must be yes, no or na: {bad}")

    result = dict(answers)
    for question in questions:
        if question.gated_by is not None and answers.get(question.gated_by) == NO:
            if answers.get(question.id) in (YES, NO):
                raise ChecklistContradiction(
                    f"question {question.id} is not applicable because question {question.gated_by} is no"
                )
            result[question.id] = NOT_APPLICABLE

    groups: dict[str, list[QuestionSpec]] = defaultdict(list)
    for question in questions:
        groups[question.sub_dimension].append(question)
    for members in groups.values():
        members = [q for q in members if result.get(q.id) != NOT_APPLICABLE]
        for question in members:
            given = answers.get(question.id)
            if given == YES:
                implied = [(q, YES) for q in members if q.level < question.level]
            elif given == NO:
                implied = [(q, NO) for q in members if q.level > question.level]
            else:
                continue
            for other, value in implied:
                existing = result.get(other.id)
                if existing is not None and existing != value and other.id in answers:
                    raise ChecklistContradiction(
                        f"question {question.id} answered {given} contradicts question {other.id} answered "
                        f"{answers[other.id]} (same sub-dimension '{question.sub_dimension}')"
                    )
                result[other.id] = value
    return result


def checklist_missing(questions: list[QuestionSpec], answers: dict[int, str]) -> list[int]:
    """Ids of questions still without an answer after the progressive rules are applied."""
    filled = checklist_apply_progressive(questions, answers)
    return [q.id for q in questions if q.id not in filled]


# --- Packed answers: one character per question ----------------------------------------------------------

PACKED = {NO: "n", YES: "y", NOT_APPLICABLE: "a"}
UNANSWERED = "-"
_UNPACKED = {char: answer for answer, char in PACKED.items()}


def checklist_pack(question_ids: list[int], answers: dict[int, str]) -> str:
    """One video's answers as one character per question of `question_ids` (the checklist's ids, ascending): "y",
    "n", "a" (not applicable) or "-" (unanswered). Empty when there is no answer at all. Readers of a whole campaign
    take a judgment's 64 answers per video as one short text instead of 64 rows."""
    if not answers:
        return ""
    return "".join(PACKED.get(answers.get(question_id), UNANSWERED) for question_id in question_ids)


def checklist_unpack(question_ids: list[int], packed: str) -> dict[int, str]:
    """{question id: answer} of a packed text (checklist_pack's inverse; unanswered questions left out)."""
    return {
        question_id: _UNPACKED[char]
        for question_id, char in zip(question_ids, packed, strict=False)
        if char in _UNPACKED
    }
