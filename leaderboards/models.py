"""Generations: single videos of a campaign, each the output of one generator for one prompt and seed.

Pairing strategies (leaderboards.pairing) build the campaign's VideoPairs from them. A generation's video carries its
generator as `source_model`, which is where the leaderboard reads generators from, so pairs built from generations
rank like pairs imported with `source_a` / `source_b`.
"""

from __future__ import annotations

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
