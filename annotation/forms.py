"""The judgment form, built from the rubric and checklist data.

Field names are in display terms (what the expert saw: left / right), so the browser never needs
to know which video is canonical A:
    criterion-VA1, dimension-VA        "left" | "same" | "right"
    severe-left-VA, severe-right-VA    "on" when flagged
    checklist-left-17                  "yes" | "no" | "na"
    notes, base_revision, time_spent_seconds
"""

from __future__ import annotations

from annotation.models import Assignment, ChecklistQuestion, Dimension, PairJudgment

DISPLAY_TO_VERDICT = {"left": 1, "same": 0, "right": -1}
VERDICT_TO_DISPLAY = {value: key for key, value in DISPLAY_TO_VERDICT.items()}
SIDES = ("left", "right")


ANSWERS = frozenset(("yes", "no", "na"))
# What Django's BooleanField reads as unchecked; any other non-empty value checks a severe-violation box.
UNCHECKED = frozenset(("", "false", "False", "0"))


class JudgmentForm:
    """The posted judgment, checked in one pass over the submitted fields.

    A Django form with a field per criterion, dimension, severe box and checklist question (292 fields with the
    default checklist) spent more CPU building and cleaning its fields than the rest of the submit; this reads the
    same fields with the same rules (a verdict or answer must be one of its choices or absent, base_revision a
    whole number >= 0, time_spent_seconds a number >= 0 if given) and offers the same `is_valid`, `errors` and
    `cleaned_data`."""

    def __init__(self, data, *, dimensions: list[Dimension], questions: list[ChecklistQuestion]):
        self.data = data
        self.dimensions = dimensions
        self.questions = questions
        self.errors: dict[str, str] = {}
        self.cleaned_data: dict = {}

    def is_valid(self) -> bool:
        self.errors, self.cleaned_data = {}, {}
        data, cleaned = self.data, self.cleaned_data
        for dimension in self.dimensions:
            for criterion in dimension.criteria.all():
                self._choice(f"criterion-{criterion.code}", DISPLAY_TO_VERDICT)
            self._choice(f"dimension-{dimension.code}", DISPLAY_TO_VERDICT)
            for side in SIDES:
                field = f"severe-{side}-{dimension.code}"
                cleaned[field] = data.get(field, "") not in UNCHECKED
        for question in self.questions:
            for side in SIDES:
                self._choice(f"checklist-{side}-{question.id}", ANSWERS)
        cleaned["notes"] = str(data.get("notes", "")).strip()
        cleaned["base_revision"] = self._number("base_revision", int, required=True)
        cleaned["time_spent_seconds"] = self._number("time_spent_seconds", float, required=False)
        return not self.errors

    def _choice(self, field: str, choices) -> None:
        value = self.data.get(field, "")
        if value and value not in choices:
            self.errors[field] = f"{value!r} is not one of the available choices."
            value = ""
        self.cleaned_data[field] = value

    def _number(self, field: str, kind, *, required: bool):
        text = str(self.data.get(field, "")).strip()
        if not text:
            if required:
                self.errors[field] = "This field is required."
            return None
        try:
            value = kind(text)
        except ValueError:
            self.errors[field] = "Enter a number."
            return None
        if value != value or value < 0 or value in (float("inf"), float("-inf")):
            self.errors[field] = "Enter a number of at least 0."
            return None
        return value

    def missing_verdicts(self) -> list[str]:
        """Codes of criteria and dimensions without a verdict, in rubric order."""
        missing = []
        for dimension in self.dimensions:
            for criterion in dimension.criteria.all():
                if not self.cleaned_data.get(f"criterion-{criterion.code}"):
                    missing.append(criterion.code)
            if not self.cleaned_data.get(f"dimension-{dimension.code}"):
                missing.append(dimension.code)
        return missing

    def display_verdicts(self) -> tuple[dict[str, int], dict[str, int]]:
        criteria, dimensions = {}, {}
        for dimension in self.dimensions:
            for criterion in dimension.criteria.all():
                criteria[criterion.code] = DISPLAY_TO_VERDICT[self.cleaned_data[f"criterion-{criterion.code}"]]
            dimensions[dimension.code] = DISPLAY_TO_VERDICT[self.cleaned_data[f"dimension-{dimension.code}"]]
        return criteria, dimensions

    def display_severe(self) -> dict[str, dict[str, bool]]:
        return {
            side: {d.code: bool(self.cleaned_data.get(f"severe-{side}-{d.code}")) for d in self.dimensions}
            for side in SIDES
        }

    def display_checklist(self) -> dict[str, dict[int, str]]:
        answers: dict[str, dict[int, str]] = {side: {} for side in SIDES}
        for question in self.questions:
            for side in SIDES:
                value = self.cleaned_data.get(f"checklist-{side}-{question.id}")
                if value:
                    answers[side][question.id] = value
        return answers


def judgment_form_initial(
    *, assignment: Assignment, judgment: PairJudgment | None, earlier_answers: dict[int, dict[int, str]] | None = None
) -> dict:
    """Initial form values: the draft if there is one, else the submitted judgment in display terms, else a blank
    form whose checklist holds `earlier_answers` ({video id: {question id: answer}}, see
    selectors.checklist_answers_earlier)."""
    if assignment.draft:
        return dict(assignment.draft)
    if judgment is None:
        initial: dict = {"base_revision": 0}
        left_video, right_video = display_videos(assignment=assignment)
        for side, video in (("left", left_video), ("right", right_video)):
            for question_id, answer in (earlier_answers or {}).get(video.id, {}).items():
                initial[f"checklist-{side}-{question_id}"] = answer
        return initial
    sign = -1 if assignment.swapped else 1
    initial: dict = {"base_revision": judgment.revision, "notes": judgment.notes}
    for code, value in judgment.criteria.items():
        initial[f"criterion-{code}"] = VERDICT_TO_DISPLAY[sign * value]
    for code, value in judgment.dimensions.items():
        initial[f"dimension-{code}"] = VERDICT_TO_DISPLAY[sign * value]
    left_side, right_side = ("B", "A") if assignment.swapped else ("A", "B")
    for side, canonical in (("left", left_side), ("right", right_side)):
        for code, flagged in judgment.severe.get(canonical, {}).items():
            if flagged:
                initial[f"severe-{side}-{code}"] = "on"
    left_video, _ = display_videos(assignment=assignment)
    for answer in assignment.checklist_answers.all():
        side = "left" if answer.video_id == left_video.id else "right"
        initial[f"checklist-{side}-{answer.question_id}"] = answer.answer
    return initial


def display_videos(*, assignment: Assignment):
    pair = assignment.pair
    return (pair.video_b, pair.video_a) if assignment.swapped else (pair.video_a, pair.video_b)


def display_video_ids(*, assignment: Assignment) -> tuple[int, int]:
    """The ids of the left and right videos, without reading the videos."""
    pair = assignment.pair
    return (pair.video_b_id, pair.video_a_id) if assignment.swapped else (pair.video_a_id, pair.video_b_id)
