"""manage.py leaderboard --campaign NAME [--json]."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from leaderboards.tests.factories import judged_generator_campaign

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("leaderboard", *args, stdout=out)
    return out.getvalue()


def test_tables_rank_generators_overall_per_dimension_and_per_criterion():
    judged_generator_campaign()

    text = run("--campaign", "checkpoints", "--resamples", "5")

    assert "Davidson" in text
    for target in ("overall", "VA", "VF", "VP", "VA1", "VP3"):
        assert f"\n{target}\n" in text
    overall = text.split("\noverall\n")[1].split("\nVA\n")[0]
    assert overall.index("sora-ckpt-3") < overall.index("veo-nightly") < overall.index("base-v1")


def test_json_of_one_target_is_the_download():
    judged_generator_campaign()

    data = json.loads(run("--campaign", "checkpoints", "--target", "VA", "--json", "--resamples", "10", "--seed", "2"))

    assert list(data) == ["VA"]
    assert [row["generator"] for row in data["VA"]["generators"]] == ["sora-ckpt-3", "veo-nightly", "base-v1"]
    assert data["VA"]["seed"] == 2 and data["VA"]["resamples"] == 10


def test_unknown_campaign_or_target_is_an_error():
    judged_generator_campaign()

    with pytest.raises(CommandError, match="does not exist"):
        run("--campaign", "nope")
    with pytest.raises(CommandError, match="--target must be one of"):
        run("--campaign", "checkpoints", "--target", "XX9")
