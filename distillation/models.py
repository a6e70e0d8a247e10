"""AesCoT distillation: endpoints, jobs, items, cached model calls, critiques and their audit trail.

- Endpoint: an OpenAI-compatible server (base_url, model, API key encrypted or read from an environment
  variable, concurrency, requests per minute, timeout, price per 1k tokens).
- DistillationJob: one run over a campaign's consensus-labelled pairs on one endpoint, K samples per item.
- DistillationItem: one pair (or one scored video) of a job, with the label it must be explained towards.
- Generation: one paid model call, cached by (item_key, prompt_version, model, sample_index) so a resumed or
  re-run job reuses what it already paid for. item_key names the pair and a digest of its label and tone.
- Critique: a sample's text, its parsed verdicts and the three filter verdicts with the rejections
  (filter, reason, start, end, text). Curators accept, reject or edit it (CritiqueRevision keeps the history).

Exports read accepted critiques through `distillation.selectors.critiques_for_export(campaign=...)`;
curators accept through `distillation.services.critique_accept(critique=..., curator=..., text=None)`.
"""

from __future__ import annotations

import os
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from annotation.models import Campaign, Video, VideoPair


def base_url_validate(value: str) -> None:
    """An http or https URL with a host. Unlike URLValidator, a host without a dot passes: a compose service
    (`http://vllm:8000/v1`) or a machine on the local network (`http://gpu1:8000/v1`)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as error:
        raise ValidationError("This URL cannot be read: %(error)s", code="invalid", params={"error": error}) from error
    if parts.scheme not in ("http", "https") or not parts.hostname or any(char.isspace() for char in value):
        raise ValidationError(
            "Give an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000/v1.", code="invalid"
        )


class Endpoint(models.Model):
    """An OpenAI-compatible chat-completions server. The API key is never shown back, only "set"/"not set"."""

    name = models.CharField(max_length=100, unique=True)
    base_url = models.CharField(max_length=500, validators=[base_url_validate])
    model = models.CharField(max_length=200)
    api_key_encrypted = models.TextField(blank=True, help_text="Fernet token; write through endpoint_api_key_set.")
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of an environment variable holding the API key (wins if set)."
    )
    max_concurrency = models.PositiveIntegerField(default=4, validators=[MinValueValidator(1)])
    requests_per_minute = models.PositiveIntegerField(default=60, help_text="0 means no limit.")
    timeout_seconds = models.FloatField(default=120.0, validators=[MinValueValidator(0.1)])
    price_prompt_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    price_completion_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    max_tokens = models.PositiveIntegerField(default=4096)
    temperature = models.FloatField(default=0.7)
    max_retries = models.PositiveIntegerField(default=5, help_text="Retries of a call on 429, 5xx and timeouts.")
    backoff_base_seconds = models.FloatField(default=2.0, help_text="First retry delay; doubles each retry.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"

    @property
    def api_key_is_set(self) -> bool:
        if self.api_key_env:
            return bool(os.environ.get(self.api_key_env))
        return bool(self.api_key_encrypted)

    @property
    def api_key_status(self) -> str:
        return "set" if self.api_key_is_set else "not set"


class DistillationJob(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"

    class Kind(models.TextChoices):
        PAIRS = "pairs", "Video pairs (consensus verdicts)"
        SCORES = "scores", "Scored videos (score in [0, 1])"

    class AlignmentMode(models.TextChoices):
        DIMENSIONS = "dimensions", "All dimension verdicts match"
        CRITERIA_SHARE = "criteria_share", "Dimensions match and a minimum share of criteria match"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="distillation_jobs")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="jobs")
    judge_endpoint = models.ForeignKey(
        Endpoint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="judged_jobs",
        help_text="Optional second endpoint for the LLM-judge pass of the leakage and factual filters.",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PAIRS)
    samples = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(16)], help_text="K samples per item."
    )
    prompt_version = models.CharField(max_length=200)
    frames_fps = models.FloatField(default=1.0, validators=[MinValueValidator(0.01)])
    frames_max = models.PositiveIntegerField(default=8, validators=[MinValueValidator(1), MaxValueValidator(64)])
    frames_short_side = models.PositiveIntegerField(default=256, validators=[MinValueValidator(16)])
    alignment_mode = models.CharField(max_length=20, choices=AlignmentMode.choices, default=AlignmentMode.DIMENSIONS)
    min_criteria_share = models.FloatField(default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    total_items = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Distillation #{self.pk} of {self.campaign} on {self.endpoint.name}"


class DistillationItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(DistillationJob, on_delete=models.CASCADE, related_name="items")
    pair = models.ForeignKey(VideoPair, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    video = models.ForeignKey(Video, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    score = models.FloatField(null=True, blank=True)
    labels = models.JSONField(default=dict, help_text='{"criteria": {...}, "dimensions": {...}} for pairs.')
    tone = models.CharField(max_length=20, help_text="clear / slight / comparable, or bad / fair / good.")
    item_key = models.CharField(max_length=100, help_text="Cache identity: the pair or video and a label digest.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "item_key"], name="distillation_item_unique_key"),
            models.CheckConstraint(
                condition=models.Q(pair__isnull=False) | models.Q(video__isnull=False),
                name="distillation_item_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_key} in job {self.job_id}"


class Generation(models.Model):
    """One model call's result, shared by every job that asks for the same (item, prompt, model, sample)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Claimed by a worker"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    item_key = models.CharField(max_length=100)
    prompt_version = models.CharField(max_length=200)
    model = models.CharField(max_length=200)
    sample_index = models.PositiveIntegerField()
    purpose = models.CharField(max_length=20, default="critique", help_text="critique, judge-leakage, judge-factual")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    raw_text = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    latency_seconds = models.FloatField(null=True, blank=True)
    finish_reason = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item_key", "prompt_version", "model", "sample_index", "purpose"],
                name="generation_unique_cache_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.item_key} {self.prompt_version} {self.model} #{self.sample_index} ({self.purpose})"


class Critique(models.Model):
    """One sample of one item after parsing and filtering.

    rejections: [{"filter": "leakage"|"alignment"|"factual", "reason": str, "message": str,
                  "start": int, "end": int, "text": str}]; spans index `text` (the edited text once edited).
    """

    class Review(models.TextChoices):
        PENDING = "pending", "Not reviewed"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    item = models.ForeignKey(DistillationItem, on_delete=models.CASCADE, related_name="critiques")
    generation = models.ForeignKey(Generation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    sample_index = models.PositiveIntegerField()
    raw_text = models.TextField(help_text="What the model wrote, never changed.")
    text = models.TextField(help_text="The current text: the raw text, or the curator's edit.")
    parsed = models.JSONField(null=True, blank=True)
    parse_error = models.TextField(blank=True)
    leakage_passed = models.BooleanField(null=True)
    alignment_passed = models.BooleanField(null=True)
    factual_passed = models.BooleanField(null=True)
    passed = models.BooleanField(default=False, db_index=True, help_text="All three filters passed.")
    rejections = models.JSONField(default=list, blank=True)
    consistency = models.FloatField(null=True, blank=True, help_text="Share of criterion verdicts matching labels.")
    chosen = models.BooleanField(default=False, help_text="The item's preferred candidate (self-consistency).")
    review = models.CharField(max_length=10, choices=Review.choices, default=Review.PENDING, db_index=True)
    edited = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item_id", "sample_index"]
        constraints = [models.UniqueConstraint(fields=["item", "sample_index"], name="critique_unique_sample")]

    def __str__(self) -> str:
        return f"Critique {self.sample_index} of {self.item}"


class CritiqueRevision(models.Model):
    """The audit trail: every accept, reject and edit, with the text as it was after the action."""

    class Action(models.TextChoices):
        ACCEPT = "accept", "Accepted"
        REJECT = "reject", "Rejected"
        EDIT = "edit", "Edited"

    critique = models.ForeignKey(Critique, on_delete=models.CASCADE, related_name="revisions")
    action = models.CharField(max_length=10, choices=Action.choices)
    text = models.TextField()
    note = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    seconds_spent = models.FloatField(null=True, blank=True, help_text="Time the critique was open before acting.")

    class Meta:
        ordering = ["critique_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} of {self.critique} by {self.user}"
