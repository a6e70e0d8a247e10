from __future__ import annotations

from urllib.parse import urlsplit

from django import forms

from annotation.models import Campaign
from distillation import services
from distillation.models import Critique, DistillationJob, Endpoint, base_url_validate
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


# Everything of an endpoint a form may change, but the key (write-only, see EndpointForm.api_key).
ENDPOINT_SETTINGS_FIELDS = [
    "name", "base_url", "model", "api_key_env", "max_concurrency", "requests_per_minute", "timeout_seconds",
    "max_tokens", "temperature", "max_retries", "backoff_base_seconds", "price_prompt_per_1k",
    "price_completion_per_1k",
]  # fmt: skip


class EndpointForm(forms.ModelForm):
    """Add or edit an endpoint. The API key is write-only: never put back in the page, a blank field keeps it."""

    api_key = forms.CharField(
        required=False,
        label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted, shown back only as its last four characters. A vLLM server started without "
        "an API key needs none.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored key")

    class Meta:
        model = Endpoint
        fields = ENDPOINT_SETTINGS_FIELDS
        labels = {
            "base_url": "Base URL",
            "api_key_env": "API key from environment variable",
            "max_concurrency": "Max concurrent requests",
            "timeout_seconds": "Timeout (s)",
            "max_tokens": "Max tokens per answer",
            "backoff_base_seconds": "First retry delay (s)",
            "price_prompt_per_1k": "Price per 1k prompt tokens ($)",
            "price_completion_per_1k": "Price per 1k completion tokens ($)",
        }
        help_texts = {
            "name": "How jobs and the distill command name it, e.g. qwen-vl-local.",
            "base_url": "The OpenAI-compatible root, e.g. http://127.0.0.1:8000/v1 (vLLM) or https://api.openai.com/v1.",
            "model": "The model name the server expects, e.g. Qwen/Qwen2.5-VL-7B-Instruct.",
            "api_key_env": "Optional: read the key from this variable where the app and workers run (wins if set).",
        }

    field_order = ["name", "base_url", "model", "api_key", "clear_api_key", "api_key_env"]
    wide_fields = field_order  # one to a row; the numeric limits sit two to a row

    def __init__(self, *args, api_key_hint: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if api_key_hint:
            self.fields[
                "api_key"
            ].help_text = f"Current key: {api_key_hint}. Leave blank to keep it; type a new one to replace it."
        else:
            del self.fields["clear_api_key"]

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"].strip()
        base_url_validate(url)
        if urlsplit(url).path.rstrip("/").endswith("/chat/completions"):
            raise forms.ValidationError("Give the base URL (ending in /v1), not the /chat/completions route.")
        return url.rstrip("/")

    def clean_api_key(self) -> str:
        return self.cleaned_data["api_key"].strip()


class EndpointTestForm(forms.Form):
    question = forms.CharField(
        max_length=500,
        initial=services.PROBE_QUESTION,
        help_text="Sent with one frame: ffmpeg's colour test card.",
    )
