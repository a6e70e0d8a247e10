"""Gold answers and adjudications: labels set by curators on top of the experts' votes.

Both store canonical verdicts (+1 = video A better, -1 = video B better, 0 = comparable) keyed by criterion
and dimension code, and may cover only some codes: a gold pair may have a known answer for VP only, an
adjudication may settle only the disputed criteria.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from annotation.models import Criterion, Verdict, VideoPair


def check_partial_verdicts(*, rubric, criteria: dict, dimensions: dict) -> None:
    """Codes must belong to the rubric and verdicts be 1, 0 or -1; unlike a judgment, codes may be left out."""
    known = {
        "criteria": set(Criterion.objects.filter(dimension__rubric=rubric).values_list("code", flat=True)),
        "dimensions": set(rubric.dimensions.values_list("code", flat=True)),
    }
    errors: dict[str, list[str]] = {}
    for field, given in (("criteria", criteria), ("dimensions", dimensions)):
        if not isinstance(given, dict):
            errors[field] = [f"{field} must be an object of code -> verdict."]
            continue
        unknown = sorted(set(given) - known[field])
        bad = sorted(code for code, value in given.items() if value not in Verdict.values or isinstance(value, bool))
        messages = []
        if unknown:
            messages.append(f"unknown codes: {', '.join(unknown)}")
        if bad:
            messages.append(f"verdicts must be 1, 0 or -1: {', '.join(bad)}")
        if messages:
            errors[field] = messages
    if not errors and not criteria and not dimensions:
        errors["criteria"] = ["Give at least one criterion or dimension verdict."]
    if errors:
        raise ValidationError(errors)


class GoldLabel(models.Model):
    """The known answer of a pair, set by a curator. Gold pairs stay ordinary pairs in the campaign, so they
    reach expert queues unannounced; experts' accuracy on them is reported per expert."""

    pair = models.OneToOneField(VideoPair, on_delete=models.CASCADE, related_name="gold_label")
    criteria = models.JSONField(default=dict, blank=True)
    dimensions = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Gold answer of {self.pair}"

    def clean(self) -> None:
        check_partial_verdicts(rubric=self.pair.campaign.rubric, criteria=self.criteria, dimensions=self.dimensions)


class Adjudication(models.Model):
    """A curator's final label for some codes of a pair, with the reason. Rows are never edited: a later
    adjudication of the same code wins, and the history stays."""

    pair = models.ForeignKey(VideoPair, on_delete=models.CASCADE, related_name="adjudications")
    criteria = models.JSONField(default=dict, blank=True)
    dimensions = models.JSONField(default=dict, blank=True)
    reason = models.TextField()
    adjudicated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["pair", "created_at", "id"]
        indexes = [models.Index(fields=["pair", "created_at"])]

    def __str__(self) -> str:
        return f"Adjudication of {self.pair} by {self.adjudicated_by}"

    def clean(self) -> None:
        if not self.reason.strip():
            raise ValidationError({"reason": "Say why: an adjudication without a reason cannot be audited."})
        check_partial_verdicts(rubric=self.pair.campaign.rubric, criteria=self.criteria, dimensions=self.dimensions)


class DashboardReport(models.Model):
    """The agreement dashboard of a campaign as last computed in the background, so a visit never waits for the
    bootstrap. One row per campaign and set of level-of-measurement overrides (`levels`, "" for the defaults).

    Life cycle (agreement.services): `requested_at` is set when the campaign's judgments, gold answers or
    adjudications change, or on the first visit; only the change that sets it enqueues a recompute, so a burst of
    submits makes one. The recompute clears it when it starts (`started_at`) and stores `content` with
    `computed_at`, the moment it read the data."""

    campaign = models.ForeignKey("annotation.Campaign", on_delete=models.CASCADE, related_name="dashboard_reports")
    levels = models.CharField(max_length=64, blank=True)
    content = models.JSONField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "levels"], name="agreement_dashboard_report_per_levels")
        ]

    def __str__(self) -> str:
        return f"Agreement dashboard of {self.campaign_id} ({self.levels or 'default levels'})"

    @property
    def recomputing(self) -> bool:
        return self.requested_at is not None or self.started_at is not None
