"""From a manifest to a leaderboard, the way a team uses it: the demo set (real ffmpeg clips) imported as pairs, so
each video's generator is its line's source_a / source_b and each pair's category its metadata; judgments by three
simulated experts (imported); then the leaderboard. The demo's "generators" are the clip variants: the clean clip
loses no dimension to a degraded one, so lavfi-clean must rank first overall, in every scene."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from agreement.services import judgments_import
from annotation.models import VideoPair
from annotation.services import campaign_member_add
from fixtures.demo_judgments import simulated_judgments
from leaderboards.selectors import leaderboard_for
from pipelines.ingest import manifest_import

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_judged_manifest_ranks_the_clean_clips_first_overall_and_in_every_scene(demo_set, campaign):
    report = manifest_import(manifest_path=demo_set.manifest_path, campaign=campaign)
    assert report.ok
    experts = ["sim-1", "sim-2", "sim-3"]
    for username in experts:
        campaign_member_add(campaign=campaign, user=get_user_model().objects.create_user(username), role="expert")
    records = simulated_judgments(demo_set.expected, experts=experts, noise=0.0)
    judgments_import(campaign=campaign, lines=[json.dumps(record) for record in records])

    leaderboard = leaderboard_for(campaigns=[campaign], n_resamples=20)

    scenes = sorted({pair.metadata["category"] for pair in VideoPair.objects.filter(campaign=campaign)})
    assert len(scenes) == 2 and leaderboard.pairs_without_generators == 0
    assert leaderboard.ranking.rows()[0]["generator"] == "lavfi-clean"
    assert leaderboard.ranking.n_comparisons == len(demo_set.expected)
    assert sorted(leaderboard.by_category) == scenes
    for fit in leaderboard.by_category.values():
        assert fit.rows()[0]["generator"] == "lavfi-clean"
