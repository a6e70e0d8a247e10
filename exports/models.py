"""Export snapshots: a frozen folder of a campaign's labels in one training format (docs/export-formats.md).

A snapshot row is created queued, claimed by exactly one builder (queued -> running, with a fresh build_token),
and ends succeeded (the folder exists and its manifest is stored here), failed or cancelled (no folder is left
behind). The running builder beats (heartbeat_at) every few seconds; a build whose heartbeat stopped (its worker was
killed) is resumed or failed by `export_builds_check`, and a builder that finds its token gone stops. A succeeded
snapshot is never rebuilt or changed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotation.models import Campaign

FORMATS = ("aesrm-pairwise", "cot-sft", "aesrm-base-sft", "rl-prompts", "checklist-qa", "preference-pairs")


class ExportSnapshot(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="export_snapshots")
    format = models.CharField(max_length=30, choices=[(name, name) for name in FORMATS])
    options = models.JSONField(default=dict, help_text="split, seed, min_agreement, swap_augment, gold, ...")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    path = models.CharField(max_length=500, help_text="The export folder (absolute).")
    manifest = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0, help_text="0 to 1 while running.")
    progress_message = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="export_snapshots"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last progress of the running build; a stale one may be taken over."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Builds started; a build whose worker died is resumed up to EXPORT_BUILD_MAX_ATTEMPTS."
    )
    build_token = models.CharField(
        max_length=32, blank=True, help_text="The running builder's claim; a builder whose token is gone stops."
    )
    cancel_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="Set on a running build; its builder stops at its next beat."
    )
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0) & models.Q(progress__lte=1.0), name="export_progress_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.format} of {self.campaign} #{self.pk}"

    @property
    def split_counts(self) -> list[tuple[str, int]]:
        """Rows per file in split order (the stored manifest is jsonb, which keeps no key order)."""
        counts = self.manifest.get("splits", {})
        return [(name, counts[name]) for name in ("train", "validation", "test", "ties") if name in counts]

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)

    @property
    def is_cancelling(self) -> bool:
        return self.status == self.Status.RUNNING and self.cancel_requested_at is not None
