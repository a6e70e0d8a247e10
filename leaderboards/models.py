"""Generations, and the verdicts of reward models.

Generations: single videos of a campaign, each the output of one generator for one prompt and seed.

Pairing strategies (leaderboards.pairing) build the campaign's VideoPairs from them. A generation's video carries its
generator as `source_model`, which is where the leaderboard reads generators from, so pairs built from generations
rank like pairs imported with `source_a` / `source_b`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotation.models import Campaign, Video


class Generation(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="generations")
    video = models.ForeignKey(Video, on_delete=models.PROTECT, related_name="generations")
    prompt = models.TextField()
    generator = models.CharField(max_length=200, help_text="The model or checkpoint that made the video.")
    seed = models.BigIntegerField(null=True, blank=True)
    metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text="Free metadata of the manifest line (a prompt category...); never shown to experts.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "video"], name="generation_unique_video")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.generator} / seed {self.seed} / {self.prompt[:40]}"


class ModelJudgmentRun(models.Model):
    """A registered reward model judging every pair of a campaign that compares two generators, in the background
    (leaderboards.model_judging): one row per (model, campaign), its verdicts in ModelPairVerdict.

    Resumable: verdicts are stored in batches as they come, and a run started again (after a failure, a worker
    that died, or new pairs) judges only the pairs that have none."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Scoring"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    model = models.ForeignKey("training.RegisteredModel", on_delete=models.CASCADE, related_name="judgment_runs")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="model_judgment_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    pairs_total = models.PositiveIntegerField(default=0, help_text="Pairs comparing two generators, when it started.")
    pairs_judged = models.PositiveIntegerField(default=0, help_text="Pairs with a stored verdict (parsed or not).")
    pairs_unparsable = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last batch stored.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "campaign"], name="model_judgment_run_per_model_and_campaign")
        ]
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model} on {self.campaign}: {self.status}"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)


class ModelPairVerdict(models.Model):
    """The model's answer for one pair, in canonical terms (+1: video A better): per dimension, and overall by the
    experts' rule (the video better on more dimensions). An answer that could not be read keeps its reason in
    `parse_error` and counts in no leaderboard."""

    run = models.ForeignKey(ModelJudgmentRun, on_delete=models.CASCADE, related_name="verdicts")
    pair = models.ForeignKey("annotation.VideoPair", on_delete=models.CASCADE, related_name="+")
    dimensions = models.JSONField(default=dict, blank=True)
    overall = models.SmallIntegerField(null=True, blank=True)
    parse_error = models.TextField(blank=True)
    judged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "pair"], name="model_pair_verdict_once_per_run")]
        ordering = ["pair_id"]

    def __str__(self) -> str:
        return f"pair {self.pair_id}: {self.overall}"


class LeaderboardResult(models.Model):
    """The experts' leaderboard (or the reliability page) of a campaign as last computed in the background, so a
    visit never waits for the Davidson fit, its bootstrap or Dawid-Skene. One row per campaign and set of options:
    `options_key` spells them out (kind, campaigns pooled, target, source, resamples, seed).

    Life cycle (leaderboards.services, the agreement dashboard's DashboardReport copied): `requested_at` is set on
    the first visit, when a judgment or adjudication of a campaign it reads changes (rows with the default options
    only) or when a visit finds `fingerprint` (agreement_fingerprint of its campaigns when computed) out of date;
    only the change that sets it enqueues a recompute, so a burst of submits makes one. The recompute clears it
    when it starts (`started_at`) and stores `content` with `computed_at`, the moment it read the data."""

    class Kind(models.TextChoices):
        LEADERBOARD = "leaderboard", "Generator leaderboard"
        RELIABILITY = "reliability", "Expert reliability"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="leaderboard_results")
    pooled = models.ManyToManyField(Campaign, blank=True, related_name="+", help_text="Campaigns pooled with it.")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.LEADERBOARD)
    options_key = models.CharField(max_length=255, unique=True)
    content = models.JSONField(null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Of the judgments the content was fitted on.")
    computed_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.options_key}"

    @property
    def recomputing(self) -> bool:
        return self.requested_at is not None or self.started_at is not None
