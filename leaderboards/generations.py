"""Generation ingest: single videos with prompt, generator, seed and free metadata, into a campaign.

The video itself goes through pipelines' ingest: hashed and probed (ffprobe limits) before anything is written, one
Video row per sha256 shared with pair ingest, proxy and poster made by `video_process_task` on the worker. A
manifest is JSONL, one generation a line:

    {"video": "clips/a.mp4", "prompt": "a fox", "generator": "ckpt-3", "seed": 7, "metadata": {"category": "animals"}}

`video` is a path relative to the manifest's folder (or inside IMPORT_ROOTS), as in pair manifests; URLs are not
fetched. Dedup: the same file twice in a campaign is one generation (the second line is skipped when it says the
same generator and prompt, refused when it says otherwise). A file already known as another generator's output is
refused: the leaderboard reads a video's generator from its one Video row.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from annotation.models import Campaign, Video
from leaderboards.models import Generation
from pipelines.ingest import (
    ImportReport,
    IncomingVideo,
    PairRejected,
    _video_check,
    _video_create,
    manifest_entry_parse,
    manifest_lines_import,
    work_folder,
)
from pipelines.media import VideoRejected
from webapp.queue import QueueUnavailable, enqueue_on_commit

MANIFEST_REQUIRED_KEYS = ("video", "prompt", "generator")
MANIFEST_KNOWN_KEYS = {"video", "prompt", "generator", "seed", "metadata"}


class GenerationRejected(Exception):
    """A generation that cannot be ingested; the message says why."""


def _check_text(what: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GenerationRejected(f"'{what}' must be a non-empty string")
    if "\x00" in value:
        raise GenerationRejected(f"'{what}' contains a NUL character")
    return value.strip()


def check_generation_fields(*, prompt, generator, seed, metadata) -> tuple[str, str, int | None, dict]:
    """The cleaned (prompt, generator, seed, metadata), or GenerationRejected saying which field is wrong."""
    prompt = _check_text("prompt", prompt)
    generator = _check_text("generator", generator)
    if len(generator) > 200:
        raise GenerationRejected("'generator' is longer than 200 characters")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or abs(seed) >= 2**63):
        raise GenerationRejected("'seed' must be an integer")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise GenerationRejected('\'metadata\' must be an object, e.g. {"category": "landscape"}')
    # PostgreSQL's jsonb cannot store a NUL character, escaped or not.
    if "\\u0000" in json.dumps(metadata):
        raise GenerationRejected("'metadata' contains a NUL character")
    return prompt, generator, seed, metadata


def _generation_ingest_undo(*, generation_id: int, video_id: int | None) -> None:
    """The queue was unreachable after commit: remove the generation and the video this ingest stored, unless another
    row took the video up meanwhile (it stays pending for `manage.py ingest_resume`)."""
    Generation.objects.filter(pk=generation_id).delete()
    if video_id is None:
        return
    unused = Video.objects.filter(
        pk=video_id, generations__isnull=True, pairs_as_a__isnull=True, pairs_as_b__isnull=True
    )
    for orphan in unused:
        orphan.delete()
        orphan.file.storage.delete(orphan.file.name)


def generation_ingest(
    *,
    campaign: Campaign,
    video: IncomingVideo,
    prompt: str,
    generator: str,
    seed: int | None = None,
    metadata: dict | None = None,
) -> tuple[Generation, bool]:
    """Ingest one generation; returns (generation, created)."""
    from pipelines.tasks import video_process_task

    prompt, generator, seed, metadata = check_generation_fields(
        prompt=prompt, generator=generator, seed=seed, metadata=metadata
    )
    checked = _video_check(video)
    if checked.existing is not None:
        known_as = checked.existing.source_model.strip()
        if known_as and known_as != generator:
            raise GenerationRejected(
                f"{video.original_name} is already known as a video of generator '{known_as}', not '{generator}'"
            )
        existing = Generation.objects.filter(campaign=campaign, video=checked.existing).first()
        if existing is not None:
            if (existing.generator, existing.prompt) != (generator, prompt):
                raise GenerationRejected(
                    f"{video.original_name} is already in this campaign with another generator or prompt"
                )
            return existing, False

    stored_files: list = []
    try:
        with transaction.atomic():
            created_video_id = None
            if checked.existing is not None:
                stored_video = checked.existing
                if not stored_video.source_model.strip():
                    # Named for the first time: from now on the leaderboard knows whose video it is.
                    Video.objects.filter(pk=stored_video.pk, source_model="").update(source_model=generator)
            else:
                incoming = IncomingVideo(path=video.path, original_name=video.original_name, source_model=generator)
                checked.incoming = incoming
                try:
                    with transaction.atomic():
                        stored_video = _video_create(checked, prompt=prompt, stored_files=stored_files)
                        created_video_id = stored_video.pk
                except IntegrityError:
                    # Another import stored the same file a moment ago: use its row.
                    stored_video = Video.objects.get(sha256=checked.sha256)
            generation = Generation(
                campaign=campaign,
                video=stored_video,
                prompt=prompt,
                generator=generator,
                seed=seed,
                metadata=metadata,
            )
            generation.full_clean()
            generation.save()
            if created_video_id is not None:
                enqueue_on_commit(
                    video_process_task.s(created_video_id),
                    undo=lambda reason: _generation_ingest_undo(generation_id=generation.pk, video_id=created_video_id),
                )
    except QueueUnavailable:
        raise
    except Exception:
        for stored in stored_files:
            stored.storage.delete(stored.name)
        raise
    return generation, True


def _manifest_line_parse(raw: str) -> dict:
    entry = manifest_entry_parse(
        raw, required=MANIFEST_REQUIRED_KEYS, known=MANIFEST_KNOWN_KEYS, rejected=GenerationRejected
    )
    _check_text("video", entry["video"])
    return entry


def generations_manifest_import(*, manifest_path: Path, campaign: Campaign) -> ImportReport:
    """Import a JSONL manifest of generations. Each line stands alone: a bad line is reported with its number and the
    rest still import; a re-run skips the lines already imported."""

    def import_line(raw: str, video_path) -> bool:
        entry = _manifest_line_parse(raw)
        _, created = generation_ingest(
            campaign=campaign,
            video=IncomingVideo(path=video_path(entry["video"]), original_name=entry["video"]),
            prompt=entry["prompt"],
            generator=entry["generator"],
            seed=entry.get("seed"),
            metadata=entry.get("metadata"),
        )
        return created

    return manifest_lines_import(manifest_path=manifest_path, import_line=import_line,
                                 rejected=(GenerationRejected, PairRejected, VideoRejected))


def generation_ingest_uploaded(
    *,
    campaign: Campaign,
    video: UploadedFile,
    prompt: str,
    generator: str,
    seed: int | None = None,
    metadata: dict | None = None,
) -> tuple[Generation, bool]:
    """generation_ingest for an API upload; an oversized upload is refused before anything is copied."""
    if video.size > settings.VIDEO_MAX_BYTES:
        raise VideoRejected(
            video.name,
            f"file is {video.size / 1e6:.1f} MB, over the limit of {settings.VIDEO_MAX_BYTES / 1e6:.1f} MB",
        )
    with work_folder("generation-upload") as workdir:
        path = workdir / f"upload{Path(video.name).suffix.lower()}"
        with open(path, "wb") as handle:
            for chunk in video.chunks():
                handle.write(chunk)
        return generation_ingest(
            campaign=campaign,
            video=IncomingVideo(path=path, original_name=Path(video.name).name),
            prompt=prompt,
            generator=generator,
            seed=seed,
            metadata=metadata,
        )
