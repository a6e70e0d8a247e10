"""The judgment form, built from the rubric and checklist data.

Field names are in display terms (what the expert saw: left / right), so the browser never needs
to know which video is canonical A:
    criterion-VA1, dimension-VA        "left" | "same" | "right"
    severe-left-VA, severe-right-VA    "on" when flagged
    checklist-left-17                  "yes" | "no" | "na"
    notes, base_revision, time_spent_seconds
"""

from __future__ import annotations

from django import forms

from annotation.models import Assignment, ChecklistQuestion, Dimension, PairJudgment

DISPLAY_TO_VERDICT = {"left": 1, "same": 0, "right": -1}
VERDICT_TO_DISPLAY = {value: key for key, value in DISPLAY_TO_VERDICT.items()}
SIDES = ("left", "right")
CHOICES = [("left", "Left better"), ("same", "Comparable"), ("right", "Right better")]


class JudgmentForm(forms.Form):
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    base_revision = forms.IntegerField(min_value=0, initial=0, widget=forms.HiddenInput)
    time_spent_seconds = forms.FloatField(min_value=0, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, dimensions: list[Dimension], questions: list[ChecklistQuestion], **kwargs):
        super().__init__(*args, **kwargs)
        self.dimensions = dimensions
        self.questions = questions
        for dimension in dimensions:
            for criterion in dimension.criteria.all():
                self.fields[f"criterion-{criterion.code}"] = forms.ChoiceField(choices=CHOICES, required=False)
            self.fields[f"dimension-{dimension.code}"] = forms.ChoiceField(choices=CHOICES, required=False)
            for side in SIDES:
                self.fields[f"severe-{side}-{dimension.code}"] = forms.BooleanField(required=False)
        answer_choices = [("yes", "Yes"), ("no", "No"), ("na", "Not applicable")]
        for question in questions:
            for side in SIDES:
                self.fields[f"checklist-{side}-{question.id}"] = forms.ChoiceField(
                    choices=answer_choices, required=False
                )

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
