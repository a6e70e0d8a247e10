"""Training jobs and the model registry.

A job is created queued, claimed by exactly one gpu worker (queued -> running) and ends succeeded, failed or
cancelled. While it runs, the worker writes a heartbeat every few seconds; a running job whose heartbeat is older
than TRAINING_HEARTBEAT_TIMEOUT_SECONDS lost its worker and is marked failed by the periodic check, so no job
stays "running" forever. Every successful train job becomes a RegisteredModel.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from exports.models import ExportSnapshot


class TrainingJob(models.Model):
    class Kind(models.TextChoices):
        TRAIN = "train", "Train"
        EVAL = "eval", "Evaluate"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TRAIN)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    recipe = models.CharField(max_length=40)
    model_path = models.CharField(max_length=500, blank=True, help_text="Base model folder (VLM recipes).")
    overrides = models.JSONField(default=dict, blank=True, help_text="rm_training key=value overrides.")
    num_processes = models.PositiveSmallIntegerField(default=1, help_text="> 1 launches through accelerate.")
    snapshot = models.ForeignKey(ExportSnapshot, on_delete=models.PROTECT, related_name="training_jobs")
    evaluated_model = models.ForeignKey(
        "RegisteredModel", on_delete=models.CASCADE, null=True, blank=True, related_name="evaluations"
    )
    run_dir = models.CharField(max_length=500, help_text="RUN_DIR (absolute).")
    pid = models.IntegerField(null=True, blank=True, help_text="Training process (leader of its process group).")
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True, help_text="The reason and the tail of the run's log on failure.")
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    samples_per_second = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Final metrics (evaluation on the test split).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="training_jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.recipe} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0


class RegisteredModel(models.Model):
    job = models.OneToOneField(TrainingJob, on_delete=models.PROTECT, related_name="registered_model")
    name = models.CharField(max_length=200)
    recipe = models.CharField(max_length=40)
    model_path = models.CharField(max_length=500, blank=True)
    snapshot = models.ForeignKey(ExportSnapshot, on_delete=models.PROTECT, related_name="registered_models")
    rubric_version = models.CharField(max_length=100, blank=True, help_text="From the snapshot's manifest.")
    config = models.JSONField(default=dict, help_text="The resolved config.yaml.")
    metrics = models.JSONField(default=dict, help_text="metrics.json (train and evaluation summaries).")
    run_dir = models.CharField(max_length=500)
    checkpoint_path = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="registered_models"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    tags = models.JSONField(default=list, blank=True)
    promoted = models.BooleanField(default=False)
    files_deleted_at = models.DateTimeField(null=True, blank=True, help_text="The run folder was removed.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class ModelEvaluation(models.Model):
    """A registered model's metrics on one export snapshot's test split: the latest successful evaluation there.

    Keyed by (model, snapshot) so models are compared on the same split: a model's own training snapshot is one
    row (written at registration), every "evaluate on snapshot X" adds or refreshes another."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="snapshot_evaluations")
    snapshot = models.ForeignKey(ExportSnapshot, on_delete=models.PROTECT, related_name="model_evaluations")
    job = models.ForeignKey(
        TrainingJob,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The job whose evaluation these metrics are.",
    )
    metrics = models.JSONField(default=dict, help_text="metrics.json of the evaluation on the test split.")
    evaluated_at = models.DateTimeField()

    class Meta:
        ordering = ["-evaluated_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["model", "snapshot"], name="one_evaluation_per_model_snapshot")]

    def __str__(self) -> str:
        return f"{self.model} on export #{self.snapshot_id}"
