"""The export command: builds a snapshot in this process and reports clear errors."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from exports.models import ExportSnapshot
from exports.tests.factories import pair_make

pytestmark = pytest.mark.django_db


def test_the_command_writes_a_complete_export(judged_campaign, curator, tmp_path):
    out = StringIO()
    call_command(
        "export",
        "--campaign", judged_campaign.name,
        "--format", "aesrm-pairwise",
        "--split", "0.6/0.2/0.2",
        "--seed", "5",
        "--min-agreement", "0.5",
        "--swap-augment",
        "--user", curator.username,
        "--out", str(tmp_path / "cli"),
        stdout=out,
    )  # fmt: skip

    manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert manifest["filters"] == {
        "min_agreement": 0.5,
        "seed": 5,
        "split": [0.6, 0.2, 0.2],
        "swap_augment": True,
        "gold": "test",
        "awaiting_adjudication": "exclude",
        "media": "link",
    }
    assert manifest["splits"] == {"train": 12, "validation": 4, "test": 4}
    assert manifest["created_by"] == curator.username
    snapshot = ExportSnapshot.objects.get()
    assert snapshot.status == ExportSnapshot.Status.SUCCEEDED and Path(snapshot.path) == tmp_path / "cli"
    assert "rows: train 12, validation 4, test 4" in out.getvalue()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--campaign", "missing", "--format", "aesrm-pairwise"], "unknown campaign 'missing'"),
        (["--campaign", "export-campaign", "--format", "tfrecord"], "unknown format 'tfrecord'"),
        (["--campaign", "export-campaign", "--format", "aesrm-pairwise", "--split", "1/0/0"], "must be positive"),
    ],
)
def test_bad_arguments_fail_before_anything_is_written(judged_campaign, tmp_path, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("export", *arguments, "--out", str(tmp_path / "cli"))
    assert not (tmp_path / "cli").exists() and not ExportSnapshot.objects.exists()


def test_a_failed_build_is_a_command_error_and_leaves_no_folder(export_campaign, tmp_path):
    pair_make(export_campaign, prompt="never judged")

    with pytest.raises(CommandError, match="failed: nothing to export"):
        call_command(
            "export", "--campaign", export_campaign.name, "--format", "rl-prompts", "--out", str(tmp_path / "x")
        )

    assert not (tmp_path / "x").exists() and [p.name for p in tmp_path.iterdir()] == ["media"]  # media: MEDIA_ROOT
    assert ExportSnapshot.objects.get().status == ExportSnapshot.Status.FAILED
