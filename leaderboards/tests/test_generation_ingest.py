"""Generations are ingested like pair videos: each file hashed and probed (ffprobe) before anything is written, one
Video row per file shared with pair ingest, its generator kept as the video's source, its proxy made by the worker.
A manifest's bad lines are reported by number and the others import; a re-run skips what is there.

Clips are real (ffmpeg lavfi); a real Celery worker makes the proxies in the last test."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation.models import Video
from annotation.services import campaign_member_add
from annotation.tests.conftest import render_clip
from leaderboards.generations import GenerationRejected, generation_ingest, generations_manifest_import
from leaderboards.models import Generation
from leaderboards.pairing import pairing_apply
from pipelines.ingest import IncomingVideo, pair_ingest
from webapp.testing import wait_until

GENERATORS = ("sora-ckpt-3", "veo-nightly")


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    """clips/fox-<generator>.mp4 and clips/city-<generator>.mp4 for both generators, and a text file named .mp4."""
    folder = tmp_path_factory.mktemp("generations")
    (folder / "clips").mkdir()
    for index, name in enumerate(f"{prompt}-{generator}" for prompt in ("fox", "city") for generator in GENERATORS):
        render_clip(folder / "clips" / f"{name}.mp4", f"hue=h={50 * index}", seconds=1, size="160x96")
    (folder / "clips" / "fake.mp4").write_text("a text file wearing an .mp4 name\n")
    return folder


def manifest_write(folder: Path, name: str, lines: list) -> Path:
    path = folder / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def generation_line(prompt: str, generator: str, **extra) -> dict:
    text = {"fox": "a fox crossing a snowy field", "city": "a city at dusk"}[prompt]
    return {"video": f"clips/{prompt}-{generator}.mp4", "prompt": text, "generator": generator, **extra}


GOOD_LINES = [
    generation_line("fox", "sora-ckpt-3", seed=7, metadata={"category": "animals"}),
    generation_line("fox", "veo-nightly", seed=7, metadata={"category": "animals"}),
    generation_line("city", "sora-ckpt-3", seed=1),
    generation_line("city", "veo-nightly"),
]


@pytest.mark.django_db
def test_a_manifest_imports_each_line_as_a_generation_whose_video_names_its_generator(clip_folder, campaign):
    manifest = manifest_write(clip_folder, "good.jsonl", GOOD_LINES)

    report = generations_manifest_import(manifest_path=manifest, campaign=campaign)
    again = generations_manifest_import(manifest_path=manifest, campaign=campaign)

    assert (report.created, report.skipped, report.errors) == (4, 0, [])
    assert (again.created, again.skipped, again.errors) == (0, 4, [])
    fox = Generation.objects.select_related("video").get(campaign=campaign, generator="sora-ckpt-3", seed=7)
    assert fox.prompt == "a fox crossing a snowy field" and fox.metadata == {"category": "animals"}
    assert fox.video.source_model == "sora-ckpt-3" and fox.video.original_name == "clips/fox-sora-ckpt-3.mp4"
    assert (fox.video.width, fox.video.height, fox.video.codec) == (160, 96, "h264")
    assert Generation.objects.get(generator="veo-nightly", prompt="a city at dusk").seed is None
    assert Video.objects.count() == 4 and set(Video.objects.values_list("status", flat=True)) == {"pending"}


@pytest.mark.django_db
def test_bad_lines_are_reported_by_number_and_the_others_import(clip_folder, campaign):
    manifest = manifest_write(
        clip_folder,
        "mixed.jsonl",
        [
            generation_line("fox", "sora-ckpt-3"),
            {"video": "clips/fox-veo-nightly.mp4", "prompt": "a fox"},
            {**generation_line("city", "sora-ckpt-3"), "source_a": "x"},
            {**generation_line("city", "veo-nightly"), "seed": "seven"},
            {**generation_line("city", "veo-nightly"), "metadata": ["animals"]},
            {"video": "clips/fake.mp4", "prompt": "a fox", "generator": "base-v1"},
            {"video": "../../etc/passwd", "prompt": "a fox", "generator": "base-v1"},
            "{not json",
            generation_line("city", "veo-nightly"),
        ],
    )

    report = generations_manifest_import(manifest_path=manifest, campaign=campaign)

    assert (report.created, report.skipped) == (2, 0)
    errors = dict(report.errors)
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8]
    assert errors[2] == "missing required keys: generator"
    assert errors[3] == "unknown keys: source_a"
    assert errors[4] == "'seed' must be an integer"
    assert errors[5].startswith("'metadata' must be an object")
    assert "not a readable video file" in errors[6]
    assert "outside the manifest's folder" in errors[7]
    assert errors[8].startswith("invalid JSON")
    assert Video.objects.count() == 2


@pytest.mark.django_db
def test_a_file_already_known_as_another_generators_video_is_refused(clip_folder, campaign):
    clip = clip_folder / "clips" / "fox-sora-ckpt-3.mp4"
    generation_ingest(
        campaign=campaign,
        video=IncomingVideo(path=clip, original_name="a.mp4"),
        prompt="a fox",
        generator="sora-ckpt-3",
    )

    with pytest.raises(GenerationRejected, match="already known as a video of generator 'sora-ckpt-3'"):
        generation_ingest(
            campaign=campaign, video=IncomingVideo(path=clip, original_name="b.mp4"), prompt="a fox", generator="veo"
        )
    with pytest.raises(GenerationRejected, match="already in this campaign with another generator or prompt"):
        generation_ingest(
            campaign=campaign,
            video=IncomingVideo(path=clip, original_name="c.mp4"),
            prompt="another prompt",
            generator="sora-ckpt-3",
        )
    assert Generation.objects.count() == 1


@pytest.mark.django_db
def test_a_video_already_ingested_in_a_pair_is_the_same_video_row_and_learns_its_generator(clip_folder, campaign):
    fox_sora, fox_veo = (clip_folder / "clips" / f"fox-{generator}.mp4" for generator in GENERATORS)
    pair, _ = pair_ingest(
        campaign=campaign,
        prompt="a fox",
        video_a=IncomingVideo(path=fox_sora, original_name="x.mp4"),
        video_b=IncomingVideo(path=fox_veo, original_name="y.mp4", source_model="veo-nightly"),
    )

    sora, created = generation_ingest(
        campaign=campaign,
        video=IncomingVideo(path=fox_sora, original_name="z.mp4"),
        prompt="a fox",
        generator="sora-ckpt-3",
    )

    assert created and sora.video_id == pair.video_a_id and Video.objects.count() == 2
    pair.video_a.refresh_from_db()
    assert pair.video_a.source_model == "sora-ckpt-3"


@pytest.mark.django_db
def test_the_command_imports_a_manifest_and_fails_listing_the_bad_lines(clip_folder, campaign):
    good = manifest_write(clip_folder, "command-good.jsonl", GOOD_LINES[:2])
    bad = manifest_write(clip_folder, "command-bad.jsonl", [GOOD_LINES[2], {"video": "clips/fake.mp4"}])
    out, err = StringIO(), StringIO()

    call_command("import_generations", "--campaign", campaign.name, str(good), stdout=out)
    with pytest.raises(CommandError, match="1 lines were not imported"):
        call_command("import_generations", "--campaign", campaign.name, str(bad), stdout=out, stderr=err)
    with pytest.raises(CommandError, match="Campaign 'nope' does not exist"):
        call_command("import_generations", "--campaign", "nope", str(good))

    assert "2 generations imported, 0 already there." in out.getvalue()
    assert "line 2: missing required keys: prompt, generator" in err.getvalue()
    assert Generation.objects.filter(campaign=campaign).count() == 3


@pytest.mark.django_db
def test_experts_judging_pairs_built_from_generations_never_see_a_generator_name(
    clip_folder, campaign, expert, client, django_capture_on_commit_callbacks
):
    manifest = manifest_write(clip_folder, "blind.jsonl", GOOD_LINES)
    with django_capture_on_commit_callbacks(execute=True):
        generations_manifest_import(manifest_path=manifest, campaign=campaign)
    pairing_apply(campaign=campaign, strategy="all_pairs")
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    client.force_login(expert)

    opened = client.post(reverse("assignment-next"), follow=True)
    api = client.get(reverse("api-generations", args=[campaign.pk]))
    pair_page = opened.content.decode()

    pair = expert.assignments.get().pair
    assert "data-pair-player" in pair_page and pair.video_a.proxy.url in pair_page
    assert api.status_code == 403
    for page in (pair_page, api.content.decode()):
        for secret in (*GENERATORS, "sora", "veo", "fox-", "city-", "gen-"):
            assert secret not in page.lower(), secret


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_real_worker_makes_the_proxies_of_imported_generations(start_worker, clip_folder, campaign):
    worker = start_worker()
    manifest = manifest_write(clip_folder, "worker.jsonl", GOOD_LINES)

    report = generations_manifest_import(manifest_path=manifest, campaign=campaign)

    assert report.created == 4
    wait_until(
        lambda: set(Video.objects.values_list("status", flat=True)) == {"ready"}, timeout=90, message="videos ready"
    )
    assert "video_process_task" in worker.log()
    assert all(video.proxy and video.poster for video in Video.objects.all())
