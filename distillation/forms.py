from __future__ import annotations

from django import forms

from annotation.models import Campaign
from distillation import services
from distillation.models import Critique, DistillationJob, Endpoint
from distillation.selectors import FILTER_VERDICTS


class JobStartForm(forms.Form):
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.order_by("name"))
    endpoint = forms.ModelChoiceField(queryset=Endpoint.objects.order_by("name"))
    judge_endpoint = forms.ModelChoiceField(
        queryset=Endpoint.objects.order_by("name"), required=False, help_text="Optional LLM-judge endpoint."
    )
    samples = forms.IntegerField(min_value=1, max_value=16, initial=1, help_text="K samples per item.")
    frames_fps = forms.FloatField(min_value=0.01, initial=1.0, label="Frames per second")
    frames_max = forms.IntegerField(min_value=1, max_value=64, initial=8, label="Max frames per video")
    frames_short_side = forms.IntegerField(min_value=16, initial=256, label="Short side (px)")
    alignment_mode = forms.ChoiceField(choices=DistillationJob.AlignmentMode.choices)
    min_criteria_share = forms.FloatField(min_value=0.0, max_value=1.0, initial=0.8)
    scores_file = forms.FileField(
        required=False,
        label="Scored videos (optional)",
        help_text='JSONL, one {"video_id": ID, "score": S} per line with S in [0, 1]: critiques of single '
        "videos instead of the campaign's labelled pairs.",
    )

    def clean_scores_file(self) -> dict[int, float] | None:
        uploaded = self.cleaned_data.get("scores_file")
        if not uploaded:
            return None
        try:
            lines = uploaded.read().decode("utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise forms.ValidationError("The scores file must be UTF-8 text.") from error
        return services.scores_parse(lines=lines, source=uploaded.name)


VERDICT_LABELS = {
    "passed": "Passed all three",
    "leakage": "Caught: leakage",
    "alignment": "Caught: alignment",
    "factual": "Caught: factual",
    "unparseable": "Unparseable",
}


class AuditFilterForm(forms.Form):
    """The audit queue's filter bar; every field is labelled and "any" is spelled out."""

    verdict = forms.ChoiceField(
        label="Automatic filters",
        choices=[("", "Any result")] + [(value, VERDICT_LABELS[value]) for value in FILTER_VERDICTS],
        required=False,
    )
    review = forms.ChoiceField(
        label="Curator review", choices=[("", "Any review")] + list(Critique.Review.choices), required=False
    )
    endpoint = forms.ModelChoiceField(
        label="Endpoint", queryset=Endpoint.objects.order_by("name"), required=False, empty_label="Any endpoint"
    )
    job = forms.ModelChoiceField(
        label="Job", queryset=DistillationJob.objects.order_by("-id"), required=False, empty_label="Any job"
    )


class CritiqueActionForm(forms.Form):
    action = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject"), ("edit", "Save edit")])
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}))
    note = forms.CharField(required=False, max_length=2000)
    opened_at = forms.FloatField(required=False, widget=forms.HiddenInput)

    def clean_text(self) -> str:
        # Browsers submit textarea line breaks as CRLF; the stored texts use LF.
        return self.cleaned_data["text"].replace("\r\n", "\n")

    def clean(self):
        data = super().clean()
        if data.get("action") == "edit" and not (data.get("text") or "").strip():
            self.add_error("text", "An edit needs the new text.")
        return data
