"""Bad input and failures: a clear error, no folder left behind, nothing marked succeeded that is not."""

from __future__ import annotations

import errno
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from exports.models import ExportSnapshot
from exports.services import ExportError, RowFileWriter, export_build, export_snapshot_create
from exports.tests.factories import experts_make, judge, pair_make, pairs_judged_by_one_expert
from exports.tests.helpers import build

pytestmark = pytest.mark.django_db


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def judged_campaign(export_campaign):
    return pairs_judged_by_one_expert(export_campaign, 12)


def test_unknown_campaign_is_a_clear_error(db):
    with pytest.raises(ExportError, match="unknown campaign 'nope'"):
        export_snapshot_create(campaign="nope", export_format="aesrm-pairwise")
    assert not ExportSnapshot.objects.exists()


def test_unknown_format_is_a_clear_error(export_campaign):
    with pytest.raises(ExportError, match="unknown format 'csv'; expected one of aesrm-pairwise"):
        export_snapshot_create(campaign=export_campaign, export_format="csv")


def test_swap_augmentation_is_refused_for_cot_sft_whose_critique_names_a_and_b(export_campaign):
    with pytest.raises(ExportError, match="does not apply to cot-sft"):
        export_snapshot_create(campaign=export_campaign, export_format="cot-sft", options={"swap_augment": True})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"split": "0.8/0.2"}, "three ratios"),
        ({"split": "0.9/0.1/0"}, "must be positive"),
        ({"split": "0.5/0.3/0.3"}, "sum to 1"),
        ({"min_agreement": 1.5}, "between 0 and 1"),
        ({"gold": "train"}, "gold must be one of"),
        ({"colour": "red"}, "unknown export options: colour"),
    ],
)
def test_malformed_options_are_refused_before_anything_is_queued(export_campaign, options, message):
    with pytest.raises(ExportError, match=message):
        export_snapshot_create(campaign=export_campaign, export_format="aesrm-pairwise", options=options)
    assert not ExportSnapshot.objects.exists()


def test_swap_augmentation_is_refused_for_formats_it_does_not_fit(export_campaign):
    with pytest.raises(ExportError, match="does not apply to preference-pairs"):
        export_snapshot_create(
            campaign=export_campaign, export_format="preference-pairs", options={"swap_augment": True}
        )


def test_an_existing_folder_is_never_overwritten(judged_campaign, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="already exists"):
        export_snapshot_create(campaign=judged_campaign, export_format="aesrm-pairwise", path=target)
    assert (target / "notes.txt").read_text() == "mine"


def test_an_empty_selection_fails_and_leaves_no_folder(export_campaign, tmp_path):
    for index in range(3):
        pair_make(export_campaign, prompt=f"unjudged {index}")

    snapshot = build(export_campaign, path=tmp_path / "out" / "export")

    assert snapshot.status == ExportSnapshot.Status.FAILED
    assert "nothing to export" in snapshot.error and "3 not judged" in snapshot.error
    assert leftovers(tmp_path / "out") == []


def test_a_split_that_would_be_empty_fails_and_leaves_no_folder(export_campaign, tmp_path):
    (rater,) = experts_make(1, export_campaign)
    for index in range(2):
        judge(pair_make(export_campaign, prompt=f"prompt {index}"), rater)

    snapshot = build(export_campaign, path=tmp_path / "out" / "export")

    assert snapshot.status == ExportSnapshot.Status.FAILED
    assert "split would be empty" in snapshot.error and "2 prompt groups" in snapshot.error
    assert leftovers(tmp_path / "out") == []


def test_a_disk_that_fills_mid_export_leaves_nothing_behind(judged_campaign, tmp_path, monkeypatch):
    written = []
    original_write = RowFileWriter.write

    def write_until_full(self, row):
        if len(written) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(row)
        original_write(self, row)

    monkeypatch.setattr(RowFileWriter, "write", write_until_full)

    snapshot = build(judged_campaign, path=tmp_path / "out" / "export")

    assert len(written) == 5
    assert snapshot.status == ExportSnapshot.Status.FAILED
    assert "disk filled up" in snapshot.error and "No space left on device" in snapshot.error
    assert snapshot.manifest == {} and snapshot.progress < 1.0
    assert leftovers(tmp_path / "out") == []


def test_a_missing_proxy_fails_the_export_with_the_video_named(judged_campaign, tmp_path):
    pair = judged_campaign.pairs.order_by("external_id").first()
    Path(pair.video_a.proxy.path).unlink()

    snapshot = build(judged_campaign, path=tmp_path / "out" / "export")

    assert snapshot.status == ExportSnapshot.Status.FAILED
    assert f"video {pair.video_a.sha256[:12]} has no browser proxy" in snapshot.error
    assert leftovers(tmp_path / "out") == []


def test_building_twice_does_nothing_the_second_time(judged_campaign, tmp_path):
    snapshot = build(judged_campaign, path=tmp_path / "export")
    manifest_bytes = (Path(snapshot.path) / "manifest.json").read_bytes()

    again = export_build(snapshot_id=snapshot.pk)

    assert again.status == ExportSnapshot.Status.SUCCEEDED
    assert again.finished_at == snapshot.finished_at
    assert (Path(snapshot.path) / "manifest.json").read_bytes() == manifest_bytes


def test_a_build_whose_worker_died_is_taken_over_and_its_leftovers_removed(judged_campaign, tmp_path):
    snapshot = export_snapshot_create(campaign=judged_campaign, export_format="rl-prompts", path=tmp_path / "export")
    long_ago = timezone.now() - timedelta(hours=2)
    ExportSnapshot.objects.filter(pk=snapshot.pk).update(status="running", started_at=long_ago, heartbeat_at=long_ago)
    leftover = tmp_path / ".export.partial-dead"
    leftover.mkdir()
    (leftover / "train.jsonl").write_text("half a row")

    rebuilt = export_build(snapshot_id=snapshot.pk)

    assert rebuilt.status == ExportSnapshot.Status.SUCCEEDED and rebuilt.started_at > long_ago
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "media"]


def test_a_build_another_worker_is_running_is_left_alone(judged_campaign, tmp_path):
    snapshot = export_snapshot_create(campaign=judged_campaign, export_format="rl-prompts", path=tmp_path / "export")
    ExportSnapshot.objects.filter(pk=snapshot.pk).update(status="running", heartbeat_at=timezone.now())

    untouched = export_build(snapshot_id=snapshot.pk)

    assert untouched.status == ExportSnapshot.Status.RUNNING and not (tmp_path / "export").exists()
