"""An export's page previews the first rows of its main file as a table, and lists what changed since an earlier
export of the same campaign and format: rows added, removed, relabelled. Both read the snapshot's files line by
line; the diff holds only the earlier snapshot's keys and labels."""

from __future__ import annotations

import datetime
import json
import tracemalloc

import pytest
from django.urls import reverse
from django.utils import timezone

from exports.models import ExportSnapshot
from exports.selectors import (
    SnapshotFilesMissing,
    earlier_snapshots_to_diff,
    snapshot_diff,
    snapshot_preview,
)

pytestmark = pytest.mark.django_db


def snapshot_written(campaign, folder, export_format: str, files: dict[str, list[dict]], minutes_ago: int = 0):
    """A finished snapshot whose folder holds `files` (split -> rows) as JSON lines, written by hand."""
    folder.mkdir(parents=True)
    for split, rows in files.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    snapshot = ExportSnapshot.objects.create(
        campaign=campaign,
        format=export_format,
        status=ExportSnapshot.Status.SUCCEEDED,
        path=str(folder),
        manifest={"splits": {split: len(rows) for split, rows in files.items()}},
    )
    ExportSnapshot.objects.filter(pk=snapshot.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=minutes_ago)
    )
    snapshot.refresh_from_db()
    return snapshot


def pair_row(pair_id: str, va="A", vf="B", vp="tie", swapped=False) -> dict:
    return {
        "pair_id": pair_id,
        "prompt": f"prompt of {pair_id}",
        "video_a": "media/a.mp4",
        "video_b": "media/b.mp4",
        "labels": {"VA": va, "VF": vf, "VP": vp},
        "n_raters": 3,
        "agreement": 2 / 3,
        "adjudicated": False,
        "swapped": swapped,
    }


def test_the_preview_is_the_first_ten_rows_of_the_train_file_and_reads_no_further(export_campaign, tmp_path):
    snapshot = snapshot_written(
        export_campaign,
        tmp_path / "s",
        "aesrm-pairwise",
        {"train": [pair_row(f"p{index:02}") for index in range(12)], "test": [pair_row("t")]},
    )
    with open(tmp_path / "s" / "train.jsonl", "a") as handle:
        handle.write("not json: a preview that parsed past its ten rows would fail here\n")

    preview = snapshot_preview(snapshot=snapshot)

    assert preview.file_name == "train.jsonl" and preview.total_rows == 12
    assert preview.columns == ("pair_id", "prompt", "labels", "n_raters", "agreement", "adjudicated", "swapped")
    assert [row[0] for row in preview.rows] == [f"p{index:02}" for index in range(10)]
    assert preview.rows[0][2:] == ["VA A · VF B · VP tie", "3", "0.667", "no", "no"]


def test_a_critique_format_shows_the_assistant_answer_cut_to_a_readable_length(export_campaign, tmp_path):
    critique = "VA1 Shot composition: A is balanced. " * 20
    row = {
        **pair_row("p1"),
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Which video is better?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": critique}]},
        ],
    }
    snapshot = snapshot_written(export_campaign, tmp_path / "s", "cot-sft", {"train": [row]})

    (cells,) = snapshot_preview(snapshot=snapshot).rows

    assert cells[0] == "p1" and cells[2].startswith("VA1 Shot composition: A is balanced.")
    assert len(cells[2]) == 160 and cells[2].endswith("…")


def test_a_snapshot_without_its_folder_says_so(export_campaign, tmp_path):
    snapshot = snapshot_written(export_campaign, tmp_path / "s", "aesrm-pairwise", {"train": [pair_row("p1")]})
    (tmp_path / "s" / "train.jsonl").unlink()
    (tmp_path / "s").rmdir()

    with pytest.raises(SnapshotFilesMissing, match=f"Export #{snapshot.pk} has no finished folder"):
        snapshot_preview(snapshot=snapshot)


def test_the_diff_counts_pairs_added_removed_and_relabelled_across_splits(export_campaign, tmp_path):
    earlier = snapshot_written(
        export_campaign,
        tmp_path / "earlier",
        "aesrm-pairwise",
        {
            "train": [pair_row("p1"), pair_row("p2"), pair_row("p2", va="B", vf="A", swapped=True), pair_row("p3")],
            "test": [pair_row("p4")],
        },
        minutes_ago=10,
    )
    later = snapshot_written(
        export_campaign,
        tmp_path / "later",
        "aesrm-pairwise",
        {
            "train": [pair_row("p3", va="tie"), pair_row("p5")],
            "test": [pair_row("p2"), pair_row("p4", vf="A", vp="B")],  # p2 moved split with the same labels
        },
    )

    diff = snapshot_diff(earlier=earlier, later=later)

    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == (1, 1, 2, 1)
    assert diff.added_examples == ["p5"] and diff.removed_examples == ["p1"]
    assert [(change.key, change.changes) for change in diff.changed_examples] == [
        ("p3", "VA A → tie"),
        ("p4", "VF B → A, VP tie → B"),
    ]


def test_preference_pairs_are_compared_per_dimension_with_ties_from_their_file(export_campaign, tmp_path):
    def row(dimension, chosen_is_a):
        return {
            "pair_id": "p1",
            "dimension": dimension,
            "prompt": "x",
            "chosen": "a",
            "rejected": "b",
            "chosen_is_a": chosen_is_a,
            "agreement": 1.0,
        }

    earlier = snapshot_written(
        export_campaign,
        tmp_path / "earlier",
        "preference-pairs",
        {"train": [row("VA", True), row("VF", True)]},
        minutes_ago=5,
    )
    tie = {
        "pair_id": "p1",
        "dimension": "VA",
        "prompt": "x",
        "video_a": "a",
        "video_b": "b",
        "agreement": 1.0,
        "split": "train",
    }
    later = snapshot_written(
        export_campaign, tmp_path / "later", "preference-pairs", {"train": [row("VF", False)], "ties": [tie]}
    )

    diff = snapshot_diff(earlier=earlier, later=later)

    assert diff.changed == 2 and diff.added == diff.removed == 0
    assert {change.key: change.changes for change in diff.changed_examples} == {
        "p1 · VA": "winner A → tie",
        "p1 · VF": "winner A → B",
    }


def test_diffing_a_large_snapshot_holds_keys_and_labels_only(export_campaign, tmp_path):
    """100,000 pairs of ~400 bytes of JSON each (40 MB of text per snapshot). Held as parsed rows, one snapshot
    would take several hundred MB; the diff keeps one dict of 100,000 short keys whose labels share a few tuples:
    ~110 bytes a row, ~11 MB (see snapshot_diff)."""
    rows = 100_000
    labels = ["A", "B", "tie"]

    def write(folder, changed_every):
        folder.mkdir()
        with open(folder / "train.jsonl", "w") as handle:
            for index in range(rows):
                va = labels[(index + (index % changed_every == 0)) % 3]
                handle.write(json.dumps({**pair_row(f"pair-{index:08}", va=va), "prompt": "p" * 250}) + "\n")
        return ExportSnapshot.objects.create(
            campaign=export_campaign,
            format="aesrm-pairwise",
            status="succeeded",
            path=str(folder),
            manifest={"splits": {"train": rows}},
        )

    earlier = write(tmp_path / "earlier", changed_every=10**9)  # only pair 0 is shifted
    later = write(tmp_path / "later", changed_every=1000)

    tracemalloc.start()
    diff = snapshot_diff(earlier=earlier, later=later)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert diff.changed == rows // 1000 - 1 and diff.unchanged == rows - diff.changed
    assert peak < 25 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_earlier_snapshots_are_finished_ones_of_the_same_campaign_and_format_made_before(export_campaign, tmp_path):
    older = snapshot_written(export_campaign, tmp_path / "older", "aesrm-pairwise", {"train": []}, minutes_ago=9)
    snapshot_written(export_campaign, tmp_path / "other-format", "cot-sft", {"train": []}, minutes_ago=8)
    current = snapshot_written(export_campaign, tmp_path / "current", "aesrm-pairwise", {"train": []}, minutes_ago=5)
    snapshot_written(export_campaign, tmp_path / "newer", "aesrm-pairwise", {"train": []})

    assert list(earlier_snapshots_to_diff(snapshot=current)) == [older]


def test_the_export_page_shows_the_preview_and_the_diff_asked_for(client, ml_engineer, export_campaign, tmp_path):
    earlier = snapshot_written(
        export_campaign,
        tmp_path / "earlier",
        "aesrm-pairwise",
        {"train": [pair_row("p1"), pair_row("p2")]},
        minutes_ago=5,
    )
    later = snapshot_written(
        export_campaign, tmp_path / "later", "aesrm-pairwise", {"train": [pair_row("p2", vp="A"), pair_row("p3")]}
    )
    client.force_login(ml_engineer)
    url = reverse("export-detail", args=[later.pk])

    page = client.get(url, {"diff": earlier.pk}).content.decode()
    refused = client.get(url, {"diff": later.pk}).content.decode()

    assert "The first 2 of 2 rows of <code>train.jsonl</code>" in page and "VA A · VF B · VP tie" in page
    assert "<strong>1</strong> added" in page and "<strong>1</strong> removed" in page
    assert "VP tie → A" in page
    assert "Choose an earlier finished export of this campaign in the same format." in refused
