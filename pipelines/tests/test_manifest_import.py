"""import_pairs: one bad line is reported by number and never stops or corrupts the rest."""

import json
import shutil

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Campaign, Video, VideoPair
from pipelines.ingest import manifest_import
from webapp.testing import media_files

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mixed_manifest(tmp_path, demo_set, bad_files):
    """Good lines from the demo set interleaved with every kind of bad line."""
    shutil.copytree(demo_set.manifest_path.parent / "clips", tmp_path / "clips")
    _, bad_root = bad_files
    shutil.copy(bad_root / "fake.mp4", tmp_path / "clips" / "fake.mp4")
    good = [json.loads(line) for line in demo_set.manifest_path.read_text().splitlines()]
    lines = [
        json.dumps(good[0]),  # 1 good
        "{not json",  # 2 invalid JSON
        json.dumps({"prompt": "p", "video_a": "clips/x.mp4"}),  # 3 missing video_b
        json.dumps(good[1]),  # 4 good
        json.dumps({**good[2], "video_b": "clips/missing.mp4", "pair_id": "m"}),  # 5 file not found
        json.dumps({**good[2], "video_b": "clips/fake.mp4", "pair_id": "f"}),  # 6 not a video
        "",  # blank lines are skipped
        json.dumps([1, 2]),  # 8 not an object
        json.dumps({**good[3], "colour": "red"}),  # 9 unknown key
        json.dumps({**good[4], "pair_id": good[0]["pair_id"]}),  # 10 same pair_id, other videos
        json.dumps(good[5]),  # 11 good
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_lines_import_and_each_bad_line_is_reported_with_its_number(mixed_manifest, campaign, media_root):
    report = manifest_import(manifest_path=mixed_manifest, campaign=campaign)
    assert report.created == 3
    errors = dict(report.errors)
    assert sorted(errors) == [2, 3, 5, 6, 8, 9, 10]
    assert "invalid JSON" in errors[2]
    assert "missing required keys: video_b" in errors[3]
    assert "clips/missing.mp4: file not found" in errors[5]
    assert "clips/fake.mp4: not a readable video file" in errors[6]
    assert "JSON object" in errors[8]
    assert "unknown keys: colour" in errors[9]
    assert "already exists in this campaign with different videos" in errors[10]

    assert VideoPair.objects.filter(campaign=campaign).count() == 3
    assert set(Video.objects.values_list("status", flat=True)) == {Video.Status.READY}
    stored = media_files(media_root)
    assert len([p for p in stored if "original" in p.parts]) == Video.objects.count()
    assert len([p for p in stored if "proxy" in p.parts]) == Video.objects.count()


def test_rerunning_the_same_manifest_adds_nothing(mixed_manifest, campaign, media_root):
    manifest_import(manifest_path=mixed_manifest, campaign=campaign)
    counts = (VideoPair.objects.count(), Video.objects.count(), len(media_files(media_root)))
    again = manifest_import(manifest_path=mixed_manifest, campaign=campaign)
    assert (again.created, again.skipped) == (0, 3)
    assert (VideoPair.objects.count(), Video.objects.count(), len(media_files(media_root))) == counts


def test_command_creates_the_campaign_reports_lines_and_exits_non_zero(mixed_manifest, capsys):
    with pytest.raises(CommandError, match="7 manifest lines failed"):
        call_command("import_pairs", str(mixed_manifest), "--campaign", "fresh", "--create", "--overlap", "2")
    captured = capsys.readouterr()
    assert f"{mixed_manifest}:2: line" not in captured.err
    assert f"{mixed_manifest}:2: invalid JSON" in captured.err
    assert "3 pairs created" in captured.out
    assert Campaign.objects.get(name="fresh").overlap == 2


def test_command_refuses_an_unknown_campaign_without_create(mixed_manifest):
    with pytest.raises(CommandError, match="does not exist; pass --create"):
        call_command("import_pairs", str(mixed_manifest), "--campaign", "nope")
    assert VideoPair.objects.count() == 0


def test_clean_demo_manifest_imports_every_pair(demo_set, campaign):
    report = manifest_import(manifest_path=demo_set.manifest_path, campaign=campaign)
    assert report.ok and report.created == len(demo_set.expected) == 6


def test_a_lines_metadata_is_kept_on_its_pair_and_must_be_an_object(tmp_path, demo_set, campaign):
    shutil.copytree(demo_set.manifest_path.parent / "clips", tmp_path / "clips")
    good = [json.loads(line) for line in demo_set.manifest_path.read_text().splitlines()]
    lines = [
        json.dumps({**good[0], "metadata": {"category": "landscape", "seed": 7}}),
        json.dumps({**good[1], "metadata": "landscape"}),
        json.dumps({**good[2], "metadata": {"category": "nul \u0000 inside"}}),
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = manifest_import(manifest_path=path, campaign=campaign)

    assert report.created == 1
    assert VideoPair.objects.get(campaign=campaign).metadata == {"category": "landscape", "seed": 7}
    errors = dict(report.errors)
    assert "'metadata' must be an object" in errors[2]
    assert "'metadata' contains a NUL character" in errors[3]
