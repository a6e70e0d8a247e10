"""aesrm-pairwise exports: consensus labels with adjudication winning, agreement per row, splits by prompt group,
gold and awaiting-adjudication rules, swap augmentation, byte-for-byte reproducibility, media in the folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agreement.selectors import consensus_for_campaign
from agreement.services import adjudication_record, gold_label_set
from exports.models import ExportSnapshot
from exports.selectors import campaign_structure, pairs_for_export
from exports.splits import prompt_group_of
from exports.tests.factories import experts_make, judge, pair_make
from exports.tests.helpers import all_rows, build

pytestmark = pytest.mark.django_db

DIMENSIONS = ("VA", "VF", "VP")


def rows_by_pair(folder: Path) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for split, rows in all_rows(folder).items():
        for row in rows:
            result.setdefault(row["pair_id"], []).append({**row, "_split": split})
    return result


def judged_pairs(campaign, raters, count: int, *, prompt=lambda index: f"prompt number {index}") -> list:
    pairs = []
    for index in range(count):
        pair = pair_make(campaign, prompt=prompt(index), external_id=f"p{index:03d}")
        for rater in raters:
            judge(pair, rater, value=1 if index % 2 == 0 else -1)
        pairs.append(pair)
    return pairs


def test_rows_carry_the_consensus_labels_with_raters_and_agreement(export_campaign, tmp_path):
    raters = experts_make(3, export_campaign)
    judged_pairs(export_campaign, raters, 9)
    split_vote = pair_make(export_campaign, prompt="a split vote", external_id="split-vote")
    judge(split_vote, raters[0], value=1, VP=0)
    judge(split_vote, raters[1], value=1, VP=0)
    judge(split_vote, raters[2], value=-1, severe={"A": {"VF": True}, "B": {}})

    snapshot = build(export_campaign, path=tmp_path / "export")

    assert snapshot.status == ExportSnapshot.Status.SUCCEEDED, snapshot.error
    (row,) = rows_by_pair(Path(snapshot.path))["split-vote"]
    assert row["labels"] == {"VA": "A", "VF": "A", "VP": "tie"}
    assert row["criteria"]["VA1"] == 1 and set(row["criteria"]) >= {"VA1", "VF5", "VP3"}
    assert row["n_raters"] == 3
    assert row["agreement"] == round((2 / 3 + 2 / 3 + 2 / 3) / 3, 6)
    assert row["severe"] == {"A": {"VA": False, "VF": True, "VP": False}, "B": {"VA": False, "VF": False, "VP": False}}
    assert row["adjudicated"] is False and row["swapped"] is False
    assert row["prompt_group"] == prompt_group_of("a split vote")
    assert row["video_a"] == f"media/{split_vote.video_a.sha256}.mp4"
    assert row["checklist_a"] is None  # this campaign has no checklist


def test_adjudicated_labels_override_the_experts_vote(export_campaign, curator, tmp_path):
    raters = experts_make(3, export_campaign)
    judged_pairs(export_campaign, raters, 9)
    disputed = pair_make(export_campaign, prompt="a disputed pair", external_id="disputed")
    for rater, value in zip(raters, (1, 0, -1), strict=True):
        judge(disputed, rater, value=value)
    criteria = {code: -1 for code in rows_criteria(export_campaign)}
    adjudication_record(
        pair=disputed, adjudicated_by=curator, criteria=criteria, dimensions={"VA": -1, "VF": -1, "VP": 0}, reason="B"
    )

    snapshot = build(export_campaign, path=tmp_path / "export")

    (row,) = rows_by_pair(Path(snapshot.path))["disputed"]
    assert row["labels"] == {"VA": "B", "VF": "B", "VP": "tie"}
    assert set(row["criteria"].values()) == {-1}
    assert row["adjudicated"] is True
    # agreement counts the raters who agree with the final (curator's) label: one of three per dimension
    assert row["agreement"] == round(1 / 3, 6)


def rows_criteria(campaign) -> list[str]:
    return [c.code for d in campaign.rubric.dimensions.all() for c in d.criteria.all()]


def test_pairs_awaiting_adjudication_are_left_out_unless_asked_for(export_campaign, tmp_path):
    raters = experts_make(3, export_campaign)
    judged_pairs(export_campaign, raters, 10)
    tied = pair_make(export_campaign, prompt="a tie", external_id="tied")
    for rater, value in zip(raters, (1, 0, -1), strict=True):
        judge(tied, rater, value=value)

    default = build(export_campaign, path=tmp_path / "default")
    included = build(export_campaign, path=tmp_path / "included", awaiting_adjudication="include")

    assert "tied" not in rows_by_pair(Path(default.path))
    assert default.manifest["selection"]["excluded"]["awaiting_adjudication"] == 1
    (row,) = rows_by_pair(Path(included.path))["tied"]
    assert row["labels"] == {"VA": "tie", "VF": "tie", "VP": "tie"}
    assert included.manifest["filters"]["awaiting_adjudication"] == "include"


def test_min_agreement_drops_weakly_agreed_pairs(export_campaign, tmp_path):
    raters = experts_make(3, export_campaign)
    judged_pairs(export_campaign, raters, 10)
    weak = pair_make(export_campaign, prompt="weak", external_id="weak")
    judge(weak, raters[0], value=1)
    judge(weak, raters[1], value=1)
    judge(weak, raters[2], value=-1)

    snapshot = build(export_campaign, path=tmp_path / "export", min_agreement=0.8)

    assert "weak" not in rows_by_pair(Path(snapshot.path))
    assert snapshot.manifest["selection"]["excluded"]["below_min_agreement"] == 1
    assert snapshot.manifest["filters"]["min_agreement"] == 0.8


def test_no_prompt_appears_in_two_splits(export_campaign, tmp_path):
    raters = experts_make(1, export_campaign)
    # 40 pairs over 13 prompts; case and spacing do not make a new prompt
    prompts = [f"Scene {index % 13}" if index % 2 else f"  scene   {index % 13} " for index in range(40)]
    judged_pairs(export_campaign, raters, 40, prompt=lambda index: prompts[index])

    for seed in (0, 1, 2):
        snapshot = build(export_campaign, path=tmp_path / f"seed-{seed}", seed=seed)
        split_of_group: dict[str, set[str]] = {}
        for split, rows in all_rows(Path(snapshot.path)).items():
            assert rows, f"{split} is empty"
            for row in rows:
                split_of_group.setdefault(row["prompt_group"], set()).add(split)
        assert len(split_of_group) == 13
        assert all(len(splits) == 1 for splits in split_of_group.values())
        assert sum(snapshot.manifest["splits"].values()) == 40


def test_gold_pairs_and_their_prompt_groups_go_to_test(export_campaign, curator, tmp_path):
    raters = experts_make(1, export_campaign)
    pairs = judged_pairs(export_campaign, raters, 20, prompt=lambda index: f"prompt {index % 10}")
    criteria = {code: 1 for code in rows_criteria(export_campaign)}
    gold_label_set(pair=pairs[0], set_by=curator, criteria=criteria, dimensions=dict.fromkeys(DIMENSIONS, 1))

    forced = build(export_campaign, path=tmp_path / "forced")
    excluded = build(export_campaign, path=tmp_path / "excluded", gold="exclude")

    by_pair = rows_by_pair(Path(forced.path))
    # pairs[10] shares the gold pair's prompt, so it follows it into test
    assert by_pair[pairs[0].external_id][0]["_split"] == "test"
    assert by_pair[pairs[10].external_id][0]["_split"] == "test"
    assert pairs[0].external_id not in rows_by_pair(Path(excluded.path))
    assert excluded.manifest["selection"]["excluded"]["gold"] == 1


def test_position_swap_augmentation_exchanges_videos_and_flips_labels(export_campaign, tmp_path):
    raters = experts_make(3, export_campaign)
    judged_pairs(export_campaign, raters, 9)
    pair = pair_make(export_campaign, prompt="swap me", external_id="swap-me")
    for rater in raters:
        judge(pair, rater, value=1, VF=-1, VP=0, VP1=0, VA2=-1, severe={"A": {"VP": True}, "B": {}})

    snapshot = build(export_campaign, path=tmp_path / "export", swap_augment=True)

    original, swapped = rows_by_pair(Path(snapshot.path))["swap-me"]
    assert original["swapped"] is False and swapped["swapped"] is True
    assert original["_split"] == swapped["_split"]
    assert (swapped["video_a"], swapped["video_b"]) == (original["video_b"], original["video_a"])
    assert original["labels"] == {"VA": "A", "VF": "B", "VP": "tie"}
    assert swapped["labels"] == {"VA": "B", "VF": "A", "VP": "tie"}
    assert swapped["criteria"] == {code: -verdict for code, verdict in original["criteria"].items()}
    assert swapped["criteria"]["VA2"] == 1 and swapped["criteria"]["VP1"] == 0
    assert swapped["severe"] == {"A": original["severe"]["B"], "B": original["severe"]["A"]}
    assert swapped["agreement"] == original["agreement"] and swapped["n_raters"] == original["n_raters"]
    assert sum(snapshot.manifest["splits"].values()) == 20
    assert snapshot.manifest["filters"]["swap_augment"] is True


def test_same_inputs_and_seed_give_byte_identical_files(export_campaign, curator, ml_engineer, tmp_path):
    raters = experts_make(3, export_campaign)
    judged_pairs(export_campaign, raters, 12, prompt=lambda index: f"prompt {index % 7}")

    first = build(export_campaign, path=tmp_path / "first", seed=7, swap_augment=True, created_by=curator)
    second = build(export_campaign, path=tmp_path / "second", seed=7, swap_augment=True, created_by=ml_engineer)

    first_files = sorted(p.relative_to(first.path) for p in Path(first.path).rglob("*") if p.is_file())
    second_files = sorted(p.relative_to(second.path) for p in Path(second.path).rglob("*") if p.is_file())
    assert first_files == second_files
    assert len([name for name in first_files if name.suffix in (".jsonl", ".parquet")]) == 6
    for name in first_files:
        if name.name != "manifest.json":
            assert (Path(first.path) / name).read_bytes() == (Path(second.path) / name).read_bytes(), name
    manifests = [json.loads((Path(s.path) / "manifest.json").read_text()) for s in (first, second)]
    for manifest in manifests:
        manifest.pop("created_at"), manifest.pop("created_by")
    assert manifests[0] == manifests[1]
    other_seed = build(export_campaign, path=tmp_path / "other", seed=8, swap_augment=True)
    assert other_seed.manifest["files"]["train.jsonl"] != first.manifest["files"]["train.jsonl"]


def test_manifest_lists_every_file_with_its_sha256_and_the_code_version(export_campaign, curator, tmp_path):
    raters = experts_make(3, export_campaign)
    pairs = judged_pairs(export_campaign, raters, 10)

    snapshot = build(export_campaign, path=tmp_path / "export", created_by=curator)

    folder = Path(snapshot.path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == snapshot.manifest
    assert manifest["format"] == "aesrm-pairwise" and manifest["schema_version"] == 1
    assert manifest["created_by"] == curator.username and manifest["campaign"] == export_campaign.name
    assert len(manifest["code_version"]) == 40
    assert manifest["rubric"]["dimensions"]["VA"][0] == "VA1" and len(manifest["rubric"]["dimensions"]["VF"]) == 5
    assert manifest["splits"] == {"train": 8, "validation": 1, "test": 1}
    assert manifest["label_counts"] == {code: {"A": 5, "B": 5, "tie": 0} for code in DIMENSIONS}
    assert manifest["agreement"]["VA"]["mean_agreement"] == 1.0 and manifest["agreement"]["pairs"]["judged"] == 10
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    import hashlib

    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    # media: the proxies, hard-linked (same filesystem), named by the video's sha256
    media = folder / "media" / f"{pairs[0].video_a.sha256}.mp4"
    source = Path(pairs[0].video_a.proxy.path)
    assert media.read_bytes() == source.read_bytes()
    assert os.stat(media).st_ino == os.stat(source).st_ino
    assert len(list((folder / "media").iterdir())) == 20


def test_batched_consensus_matches_agreements_campaign_consensus(export_campaign, curator):
    """The export computes consensus batch by batch with numpy; it must give exactly agreement's labels,
    queue flags and rater counts (votes, the tie rule, adjudications overriding, the latest one winning)."""
    raters = experts_make(3, export_campaign)
    pairs = judged_pairs(export_campaign, raters[:2], 6)
    judge(pairs[0], raters[2], value=-1)
    tied = pair_make(export_campaign, prompt="a three-way split", external_id="tied")
    for rater, value in zip(raters, (1, 0, -1), strict=True):
        judge(tied, rater, value=value, VA2=1)
    adjudication_record(pair=pairs[1], adjudicated_by=curator, criteria={}, dimensions={"VA": 0}, reason="close")
    adjudication_record(pair=pairs[1], adjudicated_by=curator, criteria={"VF2": 1}, dimensions={"VA": -1}, reason="no")
    pair_make(export_campaign, prompt="nobody judged it", external_id="unjudged")
    structure = campaign_structure(campaign=export_campaign)

    batched = {
        item.pair_id: item
        for batch in pairs_for_export(campaign=export_campaign, structure=structure, batch_size=2)
        for item in batch
    }

    expected = consensus_for_campaign(campaign=export_campaign)
    assert len(batched) == 8 and set(expected) == {pair.pk for pair in pairs} | {tied.pk}
    for pair_id, consensus in expected.items():
        labels = consensus.labels()
        assert batched[pair_id].labels == {**labels["criteria"], **labels["dimensions"]}
        assert batched[pair_id].needs_adjudication == consensus.needs_adjudication
        assert batched[pair_id].adjudicated == consensus.adjudicated
        assert batched[pair_id].n_raters == consensus.n_raters
        for code in DIMENSIONS:
            assert batched[pair_id].vote_agreement[code] == pytest.approx(consensus.dimensions[code].agreement)
    assert batched[pairs[1].pk].labels["VA"] == -1 and batched[pairs[1].pk].labels["VF2"] == 1
    assert batched[tied.pk].needs_adjudication and batched[tied.pk].labels["VA2"] == 1
    unjudged = next(item for item in batched.values() if item.external_id == "unjudged")
    assert unjudged.n_raters == 0 and set(unjudged.labels.values()) == {None}
