"""Video and pair ingest: probe first, write nothing half-way, transcode in Celery.

Order of work for a pair: both files are hashed and probed before anything is written; then, in
one transaction, new originals are stored and the Video and VideoPair rows created. Should that
fail, the originals it stored are deleted again. Proxies and posters are made afterwards by
`video_process_task`; a video stays `pending` until both exist, so a killed worker leaves it
pending and any re-run (`manage.py ingest_resume`, the beat task) completes it. If the job queue cannot be
reached once the rows are committed, the pair and its new videos are removed again (webapp/queue.py).

Temporary files (uploads, transcodes) live in one work folder per job under `ingest_temp_root()`, each recording the
process that owns it; `work_folders_sweep` (worker start, `ingest_resume`, the beat task) removes those whose owner is
gone. Manifest video paths must lie inside the manifest's folder or IMPORT_ROOTS, checked before anything is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from celery import group
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from annotation.models import Campaign, Video, VideoPair
from pipelines.media import (
    MediaProcessingError,
    VideoProbe,
    VideoRejected,
    local_path,
    poster_extract,
    proxy_transcode,
    video_probe,
)
from webapp.queue import QueueUnavailable, enqueue_on_commit

logger = logging.getLogger(__name__)

MANIFEST_REQUIRED_KEYS = ("prompt", "video_a", "video_b")
MANIFEST_KNOWN_KEYS = {"prompt", "video_a", "video_b", "source_a", "source_b", "pair_id", "metadata"}


class PairRejected(Exception):
    """A pair that cannot be ingested; the message says why."""


# --- Work folders -------------------------------------------------------------------------------------

OWNER_FILE = ".owner.json"


def ingest_temp_root() -> Path:
    return Path(settings.INGEST_TEMP_ROOT or Path(tempfile.gettempdir()) / "aeslab-ingest")


def _process_start(pid: int) -> str | None:
    """When the process started (clock ticks since boot, from /proc), so a reused pid is not taken for the owner;
    None when no such process runs (or only its zombie, not yet reaped). Without /proc, "" when the pid exists."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return ""


@contextlib.contextmanager
def work_folder(kind: str) -> Iterator[Path]:
    """A fresh folder for one job's temporary files, removed on the way out. It records its owner (host, pid, process
    start), so the folder of a process that was killed is removed by work_folders_sweep."""
    root = ingest_temp_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=root))
    try:
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid())}
        (folder / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _owner_alive(folder: Path) -> bool:
    try:
        owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        # Made a moment ago and its owner file not written yet, or damaged: judge by age.
        return time.time() - folder.stat().st_mtime < 3600
    if owner.get("host") != socket.gethostname():
        return True  # another machine's, on a shared folder: only it knows
    start = _process_start(int(owner.get("pid", 0)))
    return start is not None and (start == "" or start == owner.get("start"))


def work_folders_sweep() -> list[Path]:
    """Remove the work folders whose owning process is gone (a killed worker, a crashed upload). Returns them."""
    root = ingest_temp_root()
    removed = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        with contextlib.suppress(FileNotFoundError):
            if folder.is_dir() and not _owner_alive(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    if removed:
        logger.info("removed %d work folders left by stopped processes", len(removed))
    return removed


@dataclass(frozen=True)
class IncomingVideo:
    """A video file on local disk, about to be ingested."""

    path: Path
    original_name: str
    source_model: str = ""


@dataclass
class _CheckedVideo:
    incoming: IncomingVideo
    sha256: str
    existing: Video | None
    probe: VideoProbe | None


@dataclass
class ImportReport:
    created: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _video_check(incoming: IncomingVideo) -> _CheckedVideo:
    if not incoming.path.is_file():
        raise VideoRejected(incoming.original_name, "file not found")
    sha256 = file_sha256(incoming.path)
    existing = Video.objects.filter(sha256=sha256).first()
    probe = None if existing else video_probe(incoming.path, name=incoming.original_name)
    return _CheckedVideo(incoming=incoming, sha256=sha256, existing=existing, probe=probe)


def _video_create(checked: _CheckedVideo, *, prompt: str, stored_files: list) -> Video:
    probe = checked.probe
    video = Video(
        original_name=checked.incoming.original_name[:300],
        sha256=checked.sha256,
        size_bytes=checked.incoming.path.stat().st_size,
        duration_seconds=probe.duration_seconds,
        fps=probe.fps,
        width=probe.width,
        height=probe.height,
        codec=probe.codec,
        frame_count=probe.frame_count,
        has_audio=probe.has_audio,
        source_model=checked.incoming.source_model[:200],
        prompt=prompt,
    )
    suffix = checked.incoming.path.suffix.lower() or ".mp4"
    with open(checked.incoming.path, "rb") as handle:
        video.file.save(f"{checked.sha256}{suffix}", File(handle), save=False)
    stored_files.append(video.file)
    video.save()
    return video


def _video_process_enqueue(video_id: int) -> None:
    from pipelines.tasks import video_process_task

    video_process_task.delay(video_id)


def _videos_process_enqueue(*, pair_id: int, video_ids: list[int]) -> None:
    """Process the pair's new videos once committed. When the queue is unreachable the ingest is undone (see
    _pair_ingest_undo) and QueueUnavailable is raised: the uploader is told nothing was kept and uploads again,
    rather than finding later a pair whose videos never play."""
    from pipelines.tasks import video_process_task

    enqueue_on_commit(
        group(video_process_task.s(video_id) for video_id in video_ids),
        undo=lambda reason: _pair_ingest_undo(pair_id=pair_id, video_ids=video_ids),
    )


def _pair_ingest_undo(*, pair_id: int, video_ids: list[int]) -> None:
    """Remove the pair and the videos this ingest stored, files included. A video that another pair took up in
    the meantime stays, pending, for `manage.py ingest_resume` (or the periodic requeue) to process."""
    VideoPair.objects.filter(pk=pair_id).delete()
    for video in Video.objects.filter(pk__in=video_ids):
        try:
            with transaction.atomic():
                video.delete()
        except ProtectedError:
            continue
        video.file.storage.delete(video.file.name)


def pair_ingest(
    *,
    campaign: Campaign,
    prompt: str,
    video_a: IncomingVideo,
    video_b: IncomingVideo,
    external_id: str | None = None,
    metadata: dict | None = None,
) -> tuple[VideoPair, bool]:
    """Ingest one pair; returns (pair, created). Re-ingesting the same pair_id returns the existing pair."""
    if not prompt or not str(prompt).strip():
        raise PairRejected("prompt is empty")
    for what, text in (("prompt", prompt), ("pair_id", external_id or "")):
        if "\x00" in text:
            raise PairRejected(f"{what} contains a NUL character")
    checked_a = _video_check(video_a)
    checked_b = _video_check(video_b)
    if checked_a.sha256 == checked_b.sha256:
        raise PairRejected(f"video_a and video_b are the same file ({video_a.original_name})")
    external_id = external_id or f"{checked_a.sha256[:16]}-{checked_b.sha256[:16]}"

    existing_pair = (
        VideoPair.objects.filter(campaign=campaign, external_id=external_id)
        .select_related("video_a", "video_b")
        .first()
    )
    if existing_pair is not None:
        if (existing_pair.video_a.sha256, existing_pair.video_b.sha256) != (checked_a.sha256, checked_b.sha256):
            raise PairRejected(f"pair_id '{external_id}' already exists in this campaign with different videos")
        return existing_pair, False

    stored_files: list = []
    try:
        with transaction.atomic():
            videos, created_ids = [], []
            for checked in (checked_a, checked_b):
                if checked.existing is not None:
                    videos.append(checked.existing)
                    continue
                try:
                    with transaction.atomic():
                        videos.append(_video_create(checked, prompt=prompt, stored_files=stored_files))
                        created_ids.append(videos[-1].pk)
                except IntegrityError:
                    # Another import stored the same file a moment ago: use its row.
                    videos.append(Video.objects.get(sha256=checked.sha256))
            pair = VideoPair(
                campaign=campaign,
                external_id=external_id,
                prompt=prompt,
                video_a=videos[0],
                video_b=videos[1],
                metadata=metadata or {},
            )
            pair.full_clean()
            pair.save()
            if created_ids:
                _videos_process_enqueue(pair_id=pair.pk, video_ids=created_ids)
    except QueueUnavailable:
        raise  # committed, then undone by _pair_ingest_undo, which knows which files are still in use
    except Exception:
        for stored in stored_files:
            stored.storage.delete(stored.name)
        raise
    return pair, True


def manifest_entry_parse(
    raw: str, *, required: tuple[str, ...], known: set[str], rejected: type[Exception] = PairRejected
) -> dict:
    """One JSONL manifest line as a dict with every `required` key set and no key outside `known`; `rejected`
    (with the reason) otherwise. Pair and generation manifests share it."""
    try:
        entry = json.loads(raw)
    except json.JSONDecodeError as error:
        raise rejected(f"invalid JSON ({error.msg} at column {error.colno})") from error
    if not isinstance(entry, dict):
        raise rejected("each line must be a JSON object")
    missing = [key for key in required if not entry.get(key)]
    if missing:
        raise rejected(f"missing required keys: {', '.join(missing)}")
    unknown = sorted(set(entry) - known)
    if unknown:
        raise rejected(f"unknown keys: {', '.join(unknown)}")
    return entry


def _manifest_line_parse(raw: str) -> dict:
    entry = manifest_entry_parse(raw, required=MANIFEST_REQUIRED_KEYS, known=MANIFEST_KNOWN_KEYS)
    for key in ("prompt", "video_a", "video_b", "source_a", "source_b", "pair_id"):
        if key in entry and entry[key] is not None and not isinstance(entry[key], str):
            raise PairRejected(f"'{key}' must be a string")
        if isinstance(entry.get(key), str) and "\x00" in entry[key]:
            raise PairRejected(f"'{key}' contains a NUL character")
    if "metadata" in entry:
        if not isinstance(entry["metadata"], dict):
            raise PairRejected("'metadata' must be an object, e.g. {\"category\": \"landscape\"}")
        # PostgreSQL's jsonb cannot store a NUL character, escaped or not.
        if "\\u0000" in json.dumps(entry["metadata"]):
            raise PairRejected("'metadata' contains a NUL character")
    return entry


def _import_roots(manifest_path: Path) -> list[Path]:
    return [manifest_path.parent.resolve()] + [Path(root).resolve() for root in settings.IMPORT_ROOTS]


def _manifest_video_path(value: str, *, base_dir: Path, roots: list[Path]) -> Path:
    """The file a manifest names, refused unless it lies inside the manifest's folder or an import root once every
    symlink is followed (so `../x.mp4`, `/etc/passwd` and a link pointing outside are refused before any read)."""
    resolved = (base_dir / value).resolve()  # an absolute value replaces base_dir
    if not any(resolved.is_relative_to(root) for root in roots):
        where = "the manifest's folder" + (" or IMPORT_ROOTS" if settings.IMPORT_ROOTS else "")
        raise PairRejected(f"path {value!r} is outside {where}; nothing was read")
    return resolved


def manifest_lines_import(
    *, manifest_path: Path, import_line, rejected: tuple[type[Exception], ...] = (PairRejected, VideoRejected)
) -> ImportReport:
    """Run ``import_line(raw, video_path) -> created`` on each non-blank line of a JSONL manifest, where
    ``video_path(value)`` is the file a manifest value names (refused outside the manifest's folder and the import
    roots). Each line stands alone: a line raising one of ``rejected`` or a ValidationError is reported with its
    number and the rest still import; a queue that is down stops the import (a re-run skips what was imported).
    Pair and generation manifests share it."""
    manifest_path = Path(manifest_path)
    roots = _import_roots(manifest_path)

    def video_path(value: str) -> Path:
        return _manifest_video_path(value, base_dir=manifest_path.parent, roots=roots)

    report = ImportReport()
    with open(manifest_path, encoding="utf-8", errors="replace") as manifest:
        for line_number, raw in enumerate(manifest, start=1):
            if not raw.strip():
                continue
            try:
                created = import_line(raw, video_path)
            except rejected as error:
                report.errors.append((line_number, str(error)))
                continue
            except ValidationError as error:
                report.errors.append((line_number, "; ".join(error.messages)))
                continue
            except QueueUnavailable as error:
                # Every later line would fail the same way: stop here; a re-run skips the lines already imported.
                report.errors.append((line_number, f"{error}; this line and the ones after it were not imported"))
                break
            if created:
                report.created += 1
            else:
                report.skipped += 1
    return report


def manifest_import(*, manifest_path: Path, campaign: Campaign) -> ImportReport:
    """Import a JSONL manifest of pairs. Each line stands alone: a bad line is reported with its
    number and the rest still import. Video paths are relative to the manifest's folder."""

    def import_line(raw: str, video_path) -> bool:
        entry = _manifest_line_parse(raw)
        path_a, path_b = (video_path(entry[key]) for key in ("video_a", "video_b"))
        _, created = pair_ingest(
            campaign=campaign,
            prompt=entry["prompt"],
            external_id=entry.get("pair_id"),
            metadata=entry.get("metadata"),
            video_a=IncomingVideo(
                path=path_a, original_name=entry["video_a"], source_model=entry.get("source_a") or ""
            ),
            video_b=IncomingVideo(
                path=path_b, original_name=entry["video_b"], source_model=entry.get("source_b") or ""
            ),
        )
        return created

    return manifest_lines_import(manifest_path=manifest_path, import_line=import_line)


def video_process(*, video_id: int) -> Video | None:
    """Make the proxy and poster of a pending video. Safe to run twice or concurrently: the second
    run finds the video ready and stores nothing."""
    video = Video.objects.filter(id=video_id, status=Video.Status.PENDING).first()
    if video is None:
        return None
    with work_folder(f"video-{video_id}") as workdir:
        proxy_file = workdir / "proxy.mp4"
        poster_file = workdir / "poster.jpg"
        try:
            with local_path(video.file, folder=workdir) as source:
                proxy_transcode(source, proxy_file, has_audio=video.has_audio, name=video.original_name)
                # Frame 1: the player shows the poster until the first seek or play, while it reads "frame 1".
                poster_extract(proxy_file, poster_file, at_seconds=0)
            proxy_probe = video_probe(proxy_file, name=f"proxy of {video.original_name}", check_limits=False)
            if proxy_probe.codec != "h264":
                raise MediaProcessingError(f"proxy came out as {proxy_probe.codec}, not h264")
        except (MediaProcessingError, VideoRejected) as error:
            Video.objects.filter(id=video_id, status=Video.Status.PENDING).update(
                status=Video.Status.FAILED, error=str(error)
            )
            logger.warning("video %s failed: %s", video_id, error)
            return Video.objects.get(id=video_id)
        return _video_store_derivatives(video_id=video_id, proxy_file=proxy_file, poster_file=poster_file)


def _video_store_derivatives(*, video_id: int, proxy_file: Path, poster_file: Path) -> Video:
    stored: list = []
    try:
        with transaction.atomic():
            video = Video.objects.select_for_update().get(id=video_id)
            if video.status != Video.Status.PENDING:
                return video
            for field_file, local_file, name in (
                (video.proxy, proxy_file, f"{video.sha256}.mp4"),
                (video.poster, poster_file, f"{video.sha256}.jpg"),
            ):
                target = field_file.field.generate_filename(video, name)
                # A worker killed after storing but before committing left this file: replace it.
                field_file.storage.delete(target)
                with open(local_file, "rb") as handle:
                    field_file.save(name, File(handle), save=False)
                stored.append(field_file)
            video.status = Video.Status.READY
            video.error = ""
            video.processed_at = timezone.now()
            video.save(update_fields=["proxy", "poster", "status", "error", "processed_at"])
    except Exception:
        for field_file in stored:
            field_file.storage.delete(field_file.name)
        raise
    return video


def videos_pending_requeue(*, older_than: timedelta = timedelta(0)) -> int:
    """Enqueue processing again for videos still pending (after a lost worker). Returns how many."""
    video_ids = list(
        Video.objects.filter(status=Video.Status.PENDING, created_at__lte=timezone.now() - older_than).values_list(
            "id", flat=True
        )
    )
    for video_id in video_ids:
        _video_process_enqueue(video_id)
    return len(video_ids)


def pair_ingest_uploaded(
    *,
    campaign: Campaign,
    prompt: str,
    video_a: UploadedFile,
    video_b: UploadedFile,
    source_a: str = "",
    source_b: str = "",
    external_id: str | None = None,
) -> tuple[VideoPair, bool]:
    """pair_ingest for browser or API uploads; oversized uploads are refused before anything is copied."""
    for uploaded in (video_a, video_b):
        if uploaded.size > settings.VIDEO_MAX_BYTES:
            raise VideoRejected(
                uploaded.name,
                f"file is {uploaded.size / 1e6:.1f} MB, over the limit of {settings.VIDEO_MAX_BYTES / 1e6:.1f} MB",
            )
    with work_folder("upload") as workdir:
        paths = []
        for side, uploaded in (("a", video_a), ("b", video_b)):
            path = workdir / f"{side}{Path(uploaded.name).suffix.lower()}"
            with open(path, "wb") as handle:
                for chunk in uploaded.chunks():
                    handle.write(chunk)
            paths.append(path)
        return pair_ingest(
            campaign=campaign,
            prompt=prompt,
            external_id=external_id or None,
            video_a=IncomingVideo(path=paths[0], original_name=Path(video_a.name).name, source_model=source_a),
            video_b=IncomingVideo(path=paths[1], original_name=Path(video_b.name).name, source_model=source_b),
        )


def manifest_import_uploaded(
    *, campaign: Campaign, manifest: UploadedFile, videos: list[UploadedFile] = ()
) -> ImportReport:
    """manifest_import for a manifest uploaded from the browser with the videos it names: the videos are saved
    under their file names beside the manifest, so a line's "video_a": "dusk.mp4" finds the uploaded dusk.mp4;
    paths inside IMPORT_ROOTS need no upload. Each line is imported whole or not at all (see manifest_import)."""
    names = [Path(video.name).name for video in videos]
    hidden = sorted(name for name in names if name.startswith("."))
    if hidden:
        raise PairRejected(f"video file names may not start with a dot: {', '.join(hidden)}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PairRejected(f"two uploaded videos share a file name: {', '.join(duplicates)}")
    for uploaded in videos:
        if uploaded.size > settings.VIDEO_MAX_BYTES:
            raise VideoRejected(
                uploaded.name,
                f"file is {uploaded.size / 1e6:.1f} MB, over the limit of {settings.VIDEO_MAX_BYTES / 1e6:.1f} MB",
            )
    with work_folder("manifest") as workdir:
        folder = workdir / "upload"
        folder.mkdir()
        # A leading dot keeps the manifest's own name clear of any video's (hidden names are refused below).
        manifest_path = folder / ".manifest.jsonl"
        uploads = [(manifest_path, manifest)]
        uploads += [(folder / name, video) for name, video in zip(names, videos, strict=True)]
        for path, uploaded in uploads:
            with open(path, "wb") as handle:
                for chunk in uploaded.chunks():
                    handle.write(chunk)
        return manifest_import(manifest_path=manifest_path, campaign=campaign)
