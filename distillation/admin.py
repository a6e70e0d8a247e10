from django import forms
from django.contrib import admin

from distillation.models import Critique, DistillationJob, Endpoint
from distillation.secrets import api_key_encrypt


class EndpointAdminForm(forms.ModelForm):
    """The key is write-only: a blank field keeps the stored key, and the stored key is never put in the page."""

    api_key = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), help_text="Leave blank to keep the current key."
    )
    clear_api_key = forms.BooleanField(required=False)

    class Meta:
        model = Endpoint
        fields = [
            "name", "base_url", "model", "api_key_env", "max_concurrency", "requests_per_minute", "timeout_seconds",
            "price_prompt_per_1k", "price_completion_per_1k", "max_tokens", "temperature", "max_retries",
            "backoff_base_seconds",
        ]  # fmt: skip

    def save(self, commit=True):
        endpoint = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            endpoint.api_key_encrypted = ""
        elif self.cleaned_data.get("api_key"):
            endpoint.api_key_encrypted = api_key_encrypt(self.cleaned_data["api_key"])
        if commit:
            endpoint.save()
        return endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointAdminForm
    list_display = ["name", "model", "base_url", "api_key_status", "max_concurrency", "requests_per_minute"]
    readonly_fields = ["api_key_status"]


@admin.register(DistillationJob)
class DistillationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "endpoint", "status", "samples", "total_items", "created_at"]
    list_filter = ["status", "endpoint"]


@admin.register(Critique)
class CritiqueAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "sample_index", "passed", "review", "chosen"]
    list_filter = ["passed", "review", "leakage_passed", "alignment_passed", "factual_passed"]
    readonly_fields = ["raw_text", "rejections", "parsed"]
