"""Writes: creating export snapshots and building their folders (docs/export-formats.md).

`export_build` streams: pass 1 reads the campaign batch by batch (exports.selectors.pairs_for_export),
turns each pair into a record and appends it (a JSON line) to a spool file inside the partial folder, keeping only a
prompt-group index per record in memory; the split plan is then made from the group sizes; pass 2 reads the
spool back once and writes every row to its JSONL and Parquet files (Parquet in row groups). Memory is
bounded by the batch size and the row-group size, not by the campaign.

The folder is built under a hidden `.NAME.partial-*` sibling and renamed into place only when every file and
the manifest are written: a failure (bad input, a full disk) removes the partial folder and marks the
snapshot failed, so a folder that exists is always complete.

A build holds a claim (`build_token`) and beats every EXPORT_HEARTBEAT_SECONDS from a thread. Between rows it checks
the claim: once the export is cancelled, or resumed by `export_builds_check` after its heartbeat went silent, the
builder stops and removes its partial folder. `export_builds_check` (beat, and the export pages) resumes a build
whose worker died, up to EXPORT_BUILD_MAX_ATTEMPTS builds, then fails it with the reason.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import threading
import time
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from agreement import metrics
from agreement.report import VERDICT_DOMAIN
from annotation.checklist import ChecklistContradiction, QuestionSpec, checklist_apply_progressive
from annotation.models import Campaign, Video
from annotation.selectors import CURATE, user_has_role
from exports import formats
from exports.models import FORMATS, ExportSnapshot
from exports.selectors import (
    CONSENSUS_METHODS,
    CampaignStructure,
    PairForExport,
    campaign_structure,
    pairs_for_export,
    reliability_weights_for,
)
from exports.splits import SPLITS, SplitError, prompt_group_of, split_plan, split_ratios_parse, split_sizes
from exports.video_scores import VIDEO_SCORE_SOURCES, VideoScoreError, video_scoring_for
from pipelines.ingest import file_sha256
from webapp.db import frozen_reads
from webapp.queue import QueueUnavailable, enqueue, enqueue_on_commit

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ROW_GROUP_SIZE = 5000
ARROW_BATCH_SIZE = 500
GOLD_RULES = ("test", "split", "exclude")
AWAITING_RULES = ("exclude", "include")
MEDIA_MODES = ("link", "copy", "none")
EXCLUSION_REASONS = (
    "not_judged",
    "incomplete",
    "awaiting_adjudication",
    "gold",
    "below_min_agreement",
    "no_accepted_critique",
    "critique_disagrees",
)


class ExportError(Exception):
    """An export that cannot be made; the message says why and what to change."""


class ExportNotCancellable(ExportError):
    """Cancelling an export that has already finished (succeeded, failed or cancelled)."""


class BuildStopped(Exception):
    """This builder's claim is gone: its export was cancelled, or resumed elsewhere after its heartbeat went silent."""


# --- Options ------------------------------------------------------------------------------------------


# Options arrive as JSON (API), form fields (page) or argv (command): each is checked for its type and value
# here, so a wrong one is an ExportError naming it, never a TypeError, a NaN stored in jsonb, or a silent cast
# ("false" as true, 1.7 as seed 1).


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def export_split_parse(value) -> tuple[float, float, float]:
    """The split option ("0.8/0.1/0.1" or three numbers) as three finite ratios summing to 1, or ExportError."""
    if not (isinstance(value, str) or (isinstance(value, list | tuple) and all(_is_number(v) for v in value))):
        raise ExportError(f'split must be three ratios, as "0.8/0.1/0.1" or [0.8, 0.1, 0.1], got {value!r}')
    try:
        ratios = split_ratios_parse(value)
    except SplitError as error:
        raise ExportError(str(error)) from error
    if not all(math.isfinite(ratio) for ratio in ratios):
        raise ExportError(f"split ratios must be finite numbers, got {value!r}")
    return ratios


def _seed_option(value) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise ExportError(f"seed must be a whole number, 0 or more, got {value!r}")
    return value


def _min_agreement_option(value) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if not (_is_number(value) and 0.0 <= value <= 1.0):  # NaN compares false: refused too
        raise ExportError(f"min_agreement must be a number between 0 and 1, got {value!r}")
    return float(value)


def _video_score_model_option(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ExportError(f"video_score_model must be the id of a registered model, got {value!r}")
    return value


def _swap_augment_option(value) -> bool:
    if not isinstance(value, bool):
        raise ExportError(f"swap_augment must be true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class ExportOptions:
    """What to export. `gold`: where pairs with a gold answer go ("test": their prompt groups are forced into
    the test split; "split": like any pair; "exclude"). `awaiting_adjudication`: pairs a curator still has to
    adjudicate are left out ("exclude") or exported with the experts' vote ("include"). `media`: proxies are
    hard-linked when on the same filesystem ("link", copied otherwise), always copied ("copy"), or not put in
    the folder at all ("none": rows still name media/<sha256>.mp4; for benchmarks). `video_scores` (rl-prompts):
    no single-video rows ("none"), or one per video scored from the pair judgments ("judgments") or by the
    registered checklist-linear model `video_score_model` ("checklist-model"); see exports/video_scores.py.
    `consensus`: each pair's labels by the experts' majority vote ("majority") or by a vote weighting each expert
    by their Dawid-Skene reliability for the code ("reliability-weighted"; exports.selectors)."""

    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    min_agreement: float = 0.0
    swap_augment: bool = False
    gold: str = "test"
    awaiting_adjudication: str = "exclude"
    media: str = "link"
    video_scores: str = "none"
    video_score_model: int | None = None
    consensus: str = "majority"

    @classmethod
    def from_dict(cls, data: dict | None) -> ExportOptions:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ExportError(f"unknown export options: {', '.join(sorted(unknown))}")
        options = cls(
            split=export_split_parse(data.get("split", cls.split)),
            seed=_seed_option(data.get("seed", cls.seed)),
            min_agreement=_min_agreement_option(data.get("min_agreement", cls.min_agreement)),
            swap_augment=_swap_augment_option(data.get("swap_augment", cls.swap_augment)),
            gold=data.get("gold", cls.gold),
            awaiting_adjudication=data.get("awaiting_adjudication", cls.awaiting_adjudication),
            media=data.get("media", cls.media),
            video_scores=data.get("video_scores", cls.video_scores),
            video_score_model=_video_score_model_option(data.get("video_score_model", cls.video_score_model)),
            consensus=data.get("consensus", cls.consensus),
        )
        for name, value, allowed in (
            ("gold", options.gold, GOLD_RULES),
            ("awaiting_adjudication", options.awaiting_adjudication, AWAITING_RULES),
            ("media", options.media, MEDIA_MODES),
            ("video_scores", options.video_scores, VIDEO_SCORE_SOURCES),
            ("consensus", options.consensus, CONSENSUS_METHODS),
        ):
            if value not in allowed:
                raise ExportError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if (options.video_scores == "checklist-model") != (options.video_score_model is not None):
            raise ExportError(
                "video_score_model (a registered checklist-linear model) goes with, and only with, "
                "video_scores checklist-model"
            )
        return options

    def as_filters(self) -> dict:
        values = asdict(self)
        values["split"] = list(self.split)
        keys = ["min_agreement", "seed", "split", "swap_augment", "gold", "awaiting_adjudication", "media"]
        if self.video_scores != "none":  # recorded when asked for, so manifests without single rows are unchanged
            keys += ["video_scores", "video_score_model"]
        if self.consensus != "majority":  # likewise: majority exports keep the filters they always had
            keys.append("consensus")
        return {key: values[key] for key in keys}


def check_format(export_format: str) -> None:
    if export_format not in FORMATS:
        raise ExportError(f"unknown format {export_format!r}; expected one of {', '.join(FORMATS)}")
    if export_format not in formats.AVAILABLE_FORMATS:
        raise ExportError(f"{export_format} is not available in this build")


def exports_root() -> Path:
    # Beside the media folder, never inside it: media are served to every signed-in user.
    return Path(getattr(settings, "EXPORTS_ROOT", None) or Path(settings.MEDIA_ROOT).parent / "export-snapshots")


# --- Creating and enqueueing --------------------------------------------------------------------------


def export_snapshot_create(
    *,
    campaign: Campaign | str,
    export_format: str,
    options: dict | None = None,
    created_by=None,
    path: Path | str | None = None,
) -> ExportSnapshot:
    """A queued snapshot, after checking everything that can be checked before reading labels.

    `campaign` is a Campaign or its name; `path` the folder to create (default: under exports_root())."""
    if isinstance(campaign, str):
        found = Campaign.objects.filter(name=campaign).first()
        if found is None:
            known = ", ".join(Campaign.objects.order_by("name").values_list("name", flat=True)[:20]) or "none"
            raise ExportError(f"unknown campaign {campaign!r} (campaigns: {known})")
        campaign = found
    check_format(export_format)
    checked = ExportOptions.from_dict(options)
    if checked.swap_augment and export_format not in formats.SWAPPABLE_FORMATS:
        raise ExportError(
            f"position-swap augmentation does not apply to {export_format}; "
            f"it is for {', '.join(formats.SWAPPABLE_FORMATS)}"
        )
    if checked.video_scores != "none" and export_format != "rl-prompts":
        raise ExportError(f"video_scores (single-video rows) applies to rl-prompts only, not {export_format}")
    if export_format == "checklist-qa" and campaign.checklist_id is None:
        raise ExportError(f"campaign {campaign.name!r} has no checklist, so there is nothing for checklist-qa")
    if path is not None:
        path = Path(path).absolute()
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ExportError(f"{path} already exists and is not an empty folder; exports never overwrite")
    with transaction.atomic():
        snapshot = ExportSnapshot(
            campaign=campaign,
            format=export_format,
            options=checked.as_filters(),
            created_by=created_by,
            path=str(path or ""),
        )
        snapshot.full_clean(exclude=["path"])
        snapshot.save()
        if path is None:
            folder = exports_root() / f"{snapshot.pk:06d}-{slugify(campaign.name)}-{export_format}"
            snapshot.path = str(folder.absolute())
            snapshot.save(update_fields=["path"])
    return snapshot


def export_request(*, campaign: Campaign, export_format: str, options: dict | None, created_by) -> ExportSnapshot:
    """Create a snapshot and build it on a worker once the row is committed. When the queue is unreachable the
    snapshot is marked failed with the reason (it keeps what was asked, in the list, to ask again) and
    QueueUnavailable is raised; no folder was made."""
    from exports.tasks import export_build_task

    snapshot = export_snapshot_create(
        campaign=campaign, export_format=export_format, options=options, created_by=created_by
    )
    enqueue_on_commit(export_build_task.s(snapshot.pk), undo=lambda reason: _snapshot_unsent(snapshot, reason))
    return snapshot


def _snapshot_unsent(snapshot: ExportSnapshot, reason: str) -> None:
    ExportSnapshot.objects.filter(pk=snapshot.pk, status=ExportSnapshot.Status.QUEUED).update(
        status=ExportSnapshot.Status.FAILED, error=reason, finished_at=timezone.now()
    )


# --- Building -----------------------------------------------------------------------------------------


def export_build(*, snapshot_id: int) -> ExportSnapshot:
    """Build a queued snapshot's folder. Idempotent: a snapshot that has finished, or that another builder is
    running (its heartbeat is fresh), is returned unchanged; a running one whose heartbeat is older than
    EXPORT_STALE_SECONDS (its worker died) is taken over while it has attempts left. Errors are recorded on the
    snapshot, never half-applied; a build that is cancelled stops at its next beat and leaves no folder."""
    now = timezone.now()
    stale_before = now - datetime.timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    claimable = Q(status=ExportSnapshot.Status.QUEUED) | Q(
        status=ExportSnapshot.Status.RUNNING,
        heartbeat_at__lt=stale_before,
        cancel_requested_at__isnull=True,
        attempts__lt=settings.EXPORT_BUILD_MAX_ATTEMPTS,
    )
    claimed = ExportSnapshot.objects.filter(claimable, pk=snapshot_id).update(
        status=ExportSnapshot.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        progress=0.0,
        error="",
        build_token=uuid.uuid4().hex,
        attempts=F("attempts") + 1,
    )
    snapshot = ExportSnapshot.objects.select_related("campaign__rubric", "campaign__checklist", "created_by").get(
        pk=snapshot_id
    )
    if not claimed:
        return snapshot
    try:
        with _Heartbeat(snapshot) as heartbeat:
            _build_folder(snapshot, heartbeat)
    except BuildStopped:
        # The partial folder is gone; a cancelled build is now final, a resumed one belongs to its new builder.
        ExportSnapshot.objects.filter(
            pk=snapshot.pk,
            status=ExportSnapshot.Status.RUNNING,
            build_token=snapshot.build_token,
            cancel_requested_at__isnull=False,
        ).update(status=ExportSnapshot.Status.CANCELLED, progress_message="cancelled", finished_at=timezone.now())
    except Exception as error:  # recorded on the snapshot; the folder is already gone
        message = _error_message(error)
        logger.warning("export %s failed: %s", snapshot.pk, message, exc_info=not isinstance(error, ExportError))
        ExportSnapshot.objects.filter(
            pk=snapshot.pk, status=ExportSnapshot.Status.RUNNING, build_token=snapshot.build_token
        ).update(status=ExportSnapshot.Status.FAILED, error=message, finished_at=timezone.now())
    snapshot.refresh_from_db()
    return snapshot


def _claim_held(snapshot: ExportSnapshot) -> QuerySet[ExportSnapshot]:
    """The snapshot's row while this builder still holds it: running, its token, no cancel requested."""
    return ExportSnapshot.objects.filter(
        pk=snapshot.pk,
        status=ExportSnapshot.Status.RUNNING,
        build_token=snapshot.build_token,
        cancel_requested_at__isnull=True,
    )


class _Heartbeat:
    """Beats for a running build every EXPORT_HEARTBEAT_SECONDS from a thread with its own database connection, so
    a long batch read or file copy never looks like a dead worker. A beat that finds the claim gone raises the flag
    that `check()`, called by the builder between rows, turns into BuildStopped.

    Inside a caller's transaction (a test, a command wrapped in atomic) a second connection cannot see the
    uncommitted row, and SQLite (the demo) allows one writer at a time, so there no thread is started and
    `check()` beats itself at the same interval."""

    def __init__(self, snapshot: ExportSnapshot):
        self.snapshot = snapshot
        self.interval = settings.EXPORT_HEARTBEAT_SECONDS
        self.stopping = threading.Event()
        self.lost = threading.Event()
        self.thread: threading.Thread | None = None
        self.last_beat = time.monotonic()

    def __enter__(self) -> _Heartbeat:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self.thread = threading.Thread(target=self._beat_forever, name=f"export-{self.snapshot.pk}-heartbeat")
            self.thread.daemon = True
            self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()

    def _beat(self) -> bool:
        return bool(_claim_held(self.snapshot).update(heartbeat_at=timezone.now()))

    def _beat_forever(self) -> None:
        try:
            while not self.stopping.wait(self.interval):
                if not self._beat():
                    self.lost.set()
                    return
        except Exception:  # the database went away: the builder's own progress updates notice it too
            logger.exception("export %s: heartbeat failed", self.snapshot.pk)
        finally:
            connection.close()  # this thread's own connection

    def check(self) -> None:
        """Raise BuildStopped once the claim is gone (cancelled, or resumed by another builder). Cheap: a flag, or
        a clock read between the beats the builder makes itself."""
        if self.lost.is_set():
            raise BuildStopped
        if self.thread is None and time.monotonic() - self.last_beat >= self.interval:
            self.last_beat = time.monotonic()
            if not self._beat():
                raise BuildStopped


def _partial_folders(snapshot: ExportSnapshot) -> list[Path]:
    final = Path(snapshot.path)
    return sorted(final.parent.glob(f".{final.name}.partial-*")) if snapshot.path else []


def _partial_folders_remove(snapshot: ExportSnapshot) -> None:
    for partial in _partial_folders(snapshot):
        shutil.rmtree(partial, ignore_errors=True)


# --- Cancelling, and builds whose worker died ---------------------------------------------------------


def check_can_cancel(*, user, snapshot: ExportSnapshot) -> None:
    """Who made the export, the campaign's curators and staff may cancel it."""
    if snapshot.created_by_id is not None and snapshot.created_by_id == user.pk:
        return
    if user_has_role(user=user, roles=CURATE, campaign_id=snapshot.campaign_id):  # staff too
        return
    raise PermissionDenied("Only who made this export, the campaign's curators and staff can cancel it.")


def export_cancel(*, snapshot: ExportSnapshot, user) -> ExportSnapshot:
    """Cancel a queued export at once, or ask a running build to stop at its next beat (it then removes its
    partial folder and ends cancelled). Asking twice is harmless; an export that has finished cannot be cancelled."""
    check_can_cancel(user=user, snapshot=snapshot)
    now = timezone.now()
    by = {"cancel_requested_at": now, "cancel_requested_by": user}
    rows = ExportSnapshot.objects.filter(pk=snapshot.pk)
    cancelled_queued = rows.filter(status=ExportSnapshot.Status.QUEUED).update(
        status=ExportSnapshot.Status.CANCELLED, progress_message="cancelled", finished_at=now, **by
    )
    if not cancelled_queued:
        rows.filter(status=ExportSnapshot.Status.RUNNING, cancel_requested_at__isnull=True).update(
            progress_message="cancelling", **by
        )
    snapshot.refresh_from_db()
    if cancelled_queued or snapshot.is_cancelling:
        return snapshot
    raise ExportNotCancellable(
        f"export #{snapshot.pk} has already {snapshot.get_status_display().lower()}; "
        "only a queued or running export can be cancelled"
    )


def export_builds_check() -> dict[str, int]:
    """Running builds whose heartbeat is older than EXPORT_STALE_SECONDS lost their worker (killed, crashed, the
    machine gone): each is built again from scratch while it has attempts left, else failed with the reason; one
    whose cancel was requested ends cancelled. Their partial folders are removed. Returns how many of each."""
    now = timezone.now()
    stale_before = now - datetime.timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    most = settings.EXPORT_BUILD_MAX_ATTEMPTS
    counts = {"resumed": 0, "failed": 0, "cancelled": 0}
    for snapshot in ExportSnapshot.objects.filter(status=ExportSnapshot.Status.RUNNING, heartbeat_at__lt=stale_before):
        # Conditional on the same claim: a builder that beat or finished since the read keeps its export.
        same_claim = ExportSnapshot.objects.filter(
            pk=snapshot.pk,
            status=ExportSnapshot.Status.RUNNING,
            build_token=snapshot.build_token,
            heartbeat_at__lt=stale_before,
        )
        stopped = f"the worker building this export stopped (killed or crashed) at {snapshot.progress:.0%}"
        if snapshot.cancel_requested_at is not None:
            outcome = "cancelled"
            changed = same_claim.update(
                status=ExportSnapshot.Status.CANCELLED, progress_message="cancelled", finished_at=now
            )
        elif snapshot.attempts < most:
            outcome = "resumed"
            changed = same_claim.update(
                status=ExportSnapshot.Status.QUEUED,
                build_token="",
                progress=0.0,
                progress_message=f"{stopped}; building it again (attempt {snapshot.attempts + 1} of {most})",
            )
        else:
            outcome = "failed"
            changed = same_claim.update(
                status=ExportSnapshot.Status.FAILED,
                error=(
                    f"{stopped}, after {snapshot.attempts} attempts; the partial export was removed. "
                    "Check the workers' logs (memory, time limits) and export again."
                ),
                finished_at=now,
            )
        if not changed:
            continue
        logger.warning("export %s: no heartbeat since %s; %s", snapshot.pk, snapshot.heartbeat_at, outcome)
        _partial_folders_remove(snapshot)
        counts[outcome] += 1
        if outcome == "resumed":
            _build_enqueue(snapshot.pk)
    return counts


def _build_enqueue(snapshot_id: int) -> None:
    """Send the build again once committed. With the queue unreachable the snapshot is failed with the reason
    (never left queued with no task behind it), and the page or beat task that found it carries on."""
    from exports.tasks import export_build_task

    def unsent(reason: str) -> None:
        ExportSnapshot.objects.filter(pk=snapshot_id, status=ExportSnapshot.Status.QUEUED).update(
            status=ExportSnapshot.Status.FAILED,
            error=f"the worker building this export stopped, and {reason}",
            finished_at=timezone.now(),
        )

    def send() -> None:
        with contextlib.suppress(QueueUnavailable):
            enqueue(export_build_task.s(snapshot_id), undo=unsent)

    transaction.on_commit(send)


def _error_message(error: Exception) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return f"the disk filled up while writing the export ({error}); the partial export was removed"
    if isinstance(error, ExportError | SplitError):
        return str(error)
    return f"{type(error).__name__}: {error}"


@lru_cache(maxsize=1)
def code_version() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=10
        )
    except OSError:
        return os.environ.get("AESLAB_CODE_VERSION", "unknown")
    return result.stdout.strip() or os.environ.get("AESLAB_CODE_VERSION", "unknown")


def _progress(snapshot: ExportSnapshot, fraction: float, message: str) -> None:
    """Record progress (a beat too); raise BuildStopped when the claim is gone."""
    if not _claim_held(snapshot).update(
        progress=round(min(max(fraction, 0.0), 1.0), 4), progress_message=message[:200], heartbeat_at=timezone.now()
    ):
        raise BuildStopped


def json_line(row: dict) -> bytes:
    """One JSONL line: keys in the builder's order, UTF-8, compact separators, each float in its shortest form that
    reads back to the same value (orjson: a fifth of json.dumps's time on a row with 128 checklist answers)."""
    return orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"  # a numpy number is written as json.dumps did


class RowFileWriter:
    """One split's `NAME.jsonl` and `NAME.parquet`, written as rows arrive (Parquet one row group per
    ROW_GROUP_SIZE rows)."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema):
        self.name, self.schema, self.count = name, schema, 0
        self.jsonl = open(folder / f"{name}.jsonl", "wb")
        # No statistics-free tricks needed: pyarrow writes no timestamps, so the bytes depend only on the rows.
        self.parquet = pq.ParquetWriter(folder / f"{name}.parquet", schema, compression="zstd")
        self.buffer: list[dict] = []
        self.batches: list[pa.RecordBatch] = []

    def write(self, row: dict) -> None:
        self.jsonl.write(json_line(row))
        self.buffer.append(row)
        self.count += 1
        if len(self.buffer) >= ARROW_BATCH_SIZE:
            # Rows as Python dicts take several times their Arrow size: convert them in small batches and
            # keep only the compact batches until a row group is full.
            self.batches.append(pa.RecordBatch.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []
            if sum(batch.num_rows for batch in self.batches) >= ROW_GROUP_SIZE:
                self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.batches.append(pa.RecordBatch.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []
        if self.batches:
            self.parquet.write_table(pa.Table.from_batches(self.batches, schema=self.schema))
            self.batches = []

    def close(self) -> None:
        self.flush()
        self.jsonl.close()
        self.parquet.close()

    def abort(self) -> None:
        for handle in (self.jsonl, self.parquet):
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - the folder is about to be removed anyway
                pass


@dataclass
class _AgreementTally:
    """Streaming agreement summary: per dimension, the ordinal Krippendorff alpha from summed item coincidences
    (agreement.metrics, the dashboard's formula without the bootstrap) and the mean share agreeing with the vote."""

    dimensions: list[str]

    def __post_init__(self) -> None:
        size = len(VERDICT_DOMAIN)
        self.coincidences = {code: np.zeros((size, size)) for code in self.dimensions}
        self.agreement_sum = dict.fromkeys(self.dimensions, 0.0)
        self.judged = dict.fromkeys(self.dimensions, 0)
        self.pairs = {"judged": 0, "adjudicated": 0, "awaiting_adjudication": 0}

    def add_batch(self, batch: list[PairForExport]) -> None:
        votes: dict[str, list[tuple[int, int, int]]] = {code: [] for code in self.dimensions}
        for pair in batch:
            if pair.n_raters == 0:
                continue
            self.pairs["judged"] += 1
            self.pairs["adjudicated"] += int(pair.adjudicated)
            self.pairs["awaiting_adjudication"] += int(pair.needs_adjudication)
            for code in self.dimensions:
                if pair.vote_agreement[code] is None:
                    continue
                votes[code].append(pair.votes[code])
                self.agreement_sum[code] += pair.vote_agreement[code]
                self.judged[code] += 1
        for code, rows in votes.items():
            if rows:
                self.coincidences[code] += metrics.item_coincidences(np.array(rows)).sum(axis=0)

    def summary(self) -> dict:
        result: dict = {}
        for code in self.dimensions:
            alpha = metrics.alpha_from_coincidences(
                self.coincidences[code], value_domain=VERDICT_DOMAIN, level="ordinal"
            )
            result[code] = {
                "alpha": round(float(alpha), 6) if np.isfinite(alpha) else None,
                "level": "ordinal",
                "mean_agreement": round(self.agreement_sum[code] / self.judged[code], 6) if self.judged[code] else None,
                "n_pairs": self.judged[code],
            }
        result["pairs"] = dict(self.pairs)
        return result


CHECKLIST_CODED = {"yes": 1, "no": 0}  # an export's checklist column: 1 yes, 0 no, null not applicable or none


def _pair_record(
    pair: PairForExport, structure: CampaignStructure, options: ExportOptions
) -> tuple[dict | None, str | None]:
    """(record, None) for an exported pair, (None, reason) for an excluded one."""
    if pair.n_raters == 0:
        return None, "not_judged"
    if any(pair.labels[code] is None for code in structure.criterion_codes + structure.dimension_codes):
        return None, "incomplete"
    if pair.needs_adjudication and options.awaiting_adjudication == "exclude":
        return None, "awaiting_adjudication"
    if pair.gold and options.gold == "exclude":
        return None, "gold"
    # Raters who agree with the final label (the curator's when adjudicated), per dimension.
    shares = {
        code: round(pair.votes[code][VERDICT_DOMAIN.index(pair.labels[code])] / sum(pair.votes[code]), 6)
        if sum(pair.votes[code])
        else 0.0
        for code in structure.dimension_codes
    }
    agreement = round(sum(shares.values()) / len(shares), 6) if shares else 0.0
    if agreement < options.min_agreement and not pair.adjudicated:
        return None, "below_min_agreement"

    def checklist_of(video: dict) -> dict | None:
        if not structure.questions:
            return None
        answers = pair.checklist.get(video["id"], {})
        ids, keys = structure.question_keys
        # map() over the 64 questions in C: a comprehension here was the export's largest Python cost
        return dict(zip(keys, map(CHECKLIST_CODED.get, map(answers.get, ids)), strict=True))

    record = {
        "pair_id": pair.external_id,
        "prompt": pair.prompt,
        "prompt_group": prompt_group_of(pair.prompt),
        "video_a": f"media/{pair.video_a['sha256']}.mp4",
        "video_b": f"media/{pair.video_b['sha256']}.mp4",
        "labels": {code: formats.LABEL_OF_VERDICT[pair.labels[code]] for code in structure.dimension_codes},
        "criteria": {code: pair.labels[code] for code in structure.criterion_codes},
        "severe": {
            side: {code: bool(pair.severe[side].get(code, False)) for code in structure.dimension_codes}
            for side in ("A", "B")
        },
        "checklist_a": checklist_of(pair.video_a),
        "checklist_b": checklist_of(pair.video_b),
        "n_raters": pair.n_raters,
        "agreement": agreement,
        "adjudicated": pair.adjudicated,
        "swapped": False,
        "_dimension_agreement": shares,
        "_media": [[pair.video_a["sha256"], pair.video_a["proxy"]], [pair.video_b["sha256"], pair.video_b["proxy"]]],
    }
    return record, None


def _critique_attach(record: dict, critique: str | None) -> str | None:
    """Put the pair's accepted critique on its record; the exclusion reason when there is none, or when its
    <answer> no longer matches the labels (an adjudication or a revised judgment came after it)."""
    if critique is None:
        return "no_accepted_critique"
    expected = {code: formats.VERDICT_OF_LABEL[label] for code, label in record["labels"].items()}
    if formats.answer_verdicts(critique) != expected:
        return "critique_disagrees"
    record["_critique"] = critique
    return None


def _checklist_records(pair: PairForExport, structure: CampaignStructure, seen: set[int]) -> tuple[list[dict], int]:
    """checklist-qa records of the pair's videos not seen yet: one per question whose consensus answer, after
    the progressive rules, is yes or no. Returns (records, videos dropped for contradictory consensus)."""
    specs = [
        QuestionSpec(
            id=q["id"], sub_dimension=q["sub_dimension"], level=q["level"], gated_by=q["not_applicable_when_id"]
        )
        for q in structure.questions
    ]
    records, contradictions = [], 0
    for video in (pair.video_a, pair.video_b):
        if video["id"] in seen:
            continue
        seen.add(video["id"])
        explicit = {qid: answer for qid, answer in pair.checklist.get(video["id"], {}).items() if answer is not None}
        if not explicit:
            continue
        try:
            filled = checklist_apply_progressive(specs, explicit)
        except ChecklistContradiction:
            contradictions += 1
            continue
        prompt = video["prompt"] or pair.prompt
        for question in structure.questions:
            answer = filled.get(question["id"])
            if answer not in ("yes", "no"):
                continue
            records.append(
                {
                    "video": f"media/{video['sha256']}.mp4",
                    "video_id": video["sha256"],
                    "question_id": question["id"],
                    "dimension": question["dimension"],
                    "sub_dimension": question["sub_dimension"],
                    "question": question["text"].replace("[[prompt]]", prompt),
                    "answer": answer,
                    "_media": [[video["sha256"], video["proxy"]]],
                }
            )
    return records, contradictions


def _balanced_mask(splits: np.ndarray, questions: np.ndarray, answers: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """VisionReward's balancing: per split and question keep every minority answer and, of the majority
    answer, the same number of rows (those with the smallest seeded hash)."""
    if len(splits) == 0:
        return np.zeros(0, dtype=bool)
    _, question_index = np.unique(questions, return_inverse=True)
    n_questions = int(question_index.max()) + 1
    cell = (splits * n_questions + question_index) * 2 + answers
    counts = np.bincount(cell, minlength=len(SPLITS) * n_questions * 2).reshape(-1, 2)
    quota = counts.min(axis=1)
    order = np.lexsort((hashes, cell))
    sorted_cell = cell[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_cell, sorted_cell, side="left")
    mask = np.empty(len(order), dtype=bool)
    mask[order] = rank < quota[sorted_cell // 2]
    return mask


MEDIA_COPY_CHUNK_BYTES = 1024 * 1024


def _place_media(folder: Path, sha256: str, proxy: str, mode: str) -> None:
    """Put a video's proxy in the export as media/<sha256>.mp4, read through the media storage (local disk or S3)."""
    if mode == "none":
        return
    target = folder / "media" / f"{sha256}.mp4"
    if target.exists():
        return
    storage = Video._meta.get_field("proxy").storage
    if not proxy or not storage.exists(proxy):
        raise ExportError(
            f"video {sha256[:12]} has no browser proxy in the media storage ({proxy or 'none recorded'}); "
            "process the video first, or export with media none"
        )
    if mode == "link" and _media_hard_link(storage, proxy, target):
        return
    with storage.open(proxy, "rb") as source, open(target, "wb") as copy:
        shutil.copyfileobj(source, copy, length=MEDIA_COPY_CHUNK_BYTES)


def _media_hard_link(storage, name: str, target: Path) -> bool:
    """Hard-link a stored file into the export when it is on this machine's disk and filesystem; False when it is
    not (object storage, another filesystem) and must be copied."""
    try:
        source = storage.path(name)
    except NotImplementedError:  # object storage has no local path
        return False
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        return False
    return True


def _build_folder(snapshot: ExportSnapshot, heartbeat: _Heartbeat) -> None:
    """Write the folder and mark the snapshot succeeded, the rename and the status in one transaction under the
    row's lock, so a cancel either comes first (no folder) or finds the export succeeded."""
    campaign = snapshot.campaign
    export_format = snapshot.format
    check_format(export_format)
    options = ExportOptions.from_dict(snapshot.options)
    structure = campaign_structure(campaign=campaign)
    final = Path(snapshot.path)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise ExportError(f"{final} already exists and is not an empty folder; exports never overwrite")
    final.parent.mkdir(parents=True, exist_ok=True)
    _partial_folders_remove(snapshot)  # from a builder that died; we hold the claim now
    partial = final.parent / f".{final.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    writers: dict[str, RowFileWriter] = {}
    try:
        (partial / "media").mkdir()
        manifest = _write_rows(snapshot, campaign, export_format, options, structure, partial, writers, heartbeat)
        (partial / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        with transaction.atomic():
            if not list(_claim_held(snapshot).select_for_update().values_list("pk", flat=True)):
                raise BuildStopped
            _claim_held(snapshot).update(
                status=ExportSnapshot.Status.SUCCEEDED,
                manifest=manifest,
                progress=1.0,
                progress_message="done",
                finished_at=timezone.now(),
            )
            if final.exists():
                final.rmdir()  # the empty folder the caller named
            os.rename(partial, final)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _batches(reading, batches: Iterator[list]) -> Iterator[list]:
    """Each batch read inside ``reading()``; whatever the caller does between batches (progress) runs outside."""
    while True:
        with reading():
            batch = next(batches, None)
        if batch is None:
            return
        yield batch


def _write_rows(
    snapshot: ExportSnapshot,
    campaign: Campaign,
    export_format: str,
    options: ExportOptions,
    structure: CampaignStructure,
    folder: Path,
    writers: dict[str, RowFileWriter],
    heartbeat: _Heartbeat,
) -> dict:
    """Pass 1 reads the campaign as of one instant (every read inside ``reading()``; see webapp.db.frozen_reads), so an
    export taken while experts submit is the campaign at one moment: never a pair's labels from before a change and
    its checklist from after it. The snapshot is released before pass 2 writes the files."""
    with frozen_reads() as reading:
        with reading():
            total_pairs = campaign.pairs.count()
            critiques: dict[int, str] = {}
            if export_format == "cot-sft":
                from distillation.selectors import critiques_for_export

                # pair id -> accepted critique text: the one part of an export held whole (texts of a few KB)
                critiques = critiques_for_export(campaign=campaign)
            try:
                video_scoring = video_scoring_for(
                    source=options.video_scores, model_id=options.video_score_model, campaign=campaign
                )
            except VideoScoreError as error:
                raise ExportError(str(error)) from error
            weights = None
            if options.consensus == "reliability-weighted":
                _progress(snapshot, 0.0, "fitting each expert's reliability (Dawid-Skene)")
                weights = reliability_weights_for(
                    campaign=campaign, codes=structure.criterion_codes + structure.dimension_codes
                )
        excluded = dict.fromkeys(EXCLUSION_REASONS, 0)
        reweighted = {"pairs": 0, "labels": 0}
        tally = _AgreementTally(structure.dimension_codes)
        group_index: dict[str, int] = {}
        record_groups = array("q")
        group_sizes: list[int] = []
        forced_test: set[int] = set()
        checklist_columns: dict[str, array] = {"question": array("l"), "answer": array("b"), "hash": array("q")}
        seen_videos: set[int] = set()
        contradictions = 0
        exported_pairs = 0

        # Pass 1: records to the spool, groups in memory.
        spool_path = folder / ".records.jsonl"
        done = 0
        with open(spool_path, "wb") as spool:
            pairs = pairs_for_export(
                campaign=campaign, structure=structure, batch_size=settings.EXPORT_PAIR_BATCH_SIZE, weights=weights
            )
            for batch in _batches(reading, pairs):
                tally.add_batch(batch)
                for pair in batch:
                    heartbeat.check()
                    if export_format == "checklist-qa":
                        records, dropped = _checklist_records(pair, structure, seen_videos)
                        contradictions += dropped
                    else:
                        record, reason = _pair_record(pair, structure, options)
                        if record is not None and export_format == "cot-sft":
                            reason = _critique_attach(record, critiques.get(pair.pair_id))
                            record = None if reason else record
                        if record is None:
                            excluded[reason] += 1
                            continue
                        records = [record]
                        exported_pairs += 1
                        if pair.reweighted:
                            reweighted["pairs"] += 1
                            reweighted["labels"] += len(pair.reweighted)
                        if video_scoring is not None:
                            video_scoring.add(pair, record)
                    group = (
                        records[0]["prompt_group"]
                        if records and "prompt_group" in records[0]
                        else prompt_group_of(pair.prompt)
                    )
                    for record in records:
                        index = group_index.setdefault(group, len(group_index))
                        if index == len(group_sizes):
                            group_sizes.append(0)
                        group_sizes[index] += 1
                        record_groups.append(index)
                        if pair.gold and options.gold == "test" and export_format != "checklist-qa":
                            forced_test.add(index)
                        if export_format == "checklist-qa":
                            salted = f"{options.seed}:{record['video_id']}:{record['question_id']}"
                            key = hashlib.sha256(salted.encode())
                            checklist_columns["question"].append(record["question_id"])
                            checklist_columns["answer"].append(int(record["answer"] == "yes"))
                            checklist_columns["hash"].append(int.from_bytes(key.digest()[:7], "big"))
                        # a JSON line, as the rows are: dumping and loading a record took half of pickle's time
                        spool.write(json_line(record))
                done += len(batch)
                _progress(snapshot, 0.7 * done / max(total_pairs, 1), f"read {done} of {total_pairs} pairs")

    if not record_groups:
        reasons = ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in excluded.items() if count)
        raise ExportError(
            f"nothing to export: campaign {campaign.name!r} has {total_pairs} pairs and none was selected"
            + (f" ({reasons})" if reasons else "")
            + (" (no checklist answers)" if export_format == "checklist-qa" else "")
        )
    if video_scoring is not None:
        try:
            video_scoring.finish()
        except VideoScoreError as error:
            raise ExportError(str(error)) from error
    groups = list(group_index)
    sizes_by_group = dict(zip(groups, group_sizes, strict=True))
    try:
        plan = split_plan(
            group_sizes=sizes_by_group,
            ratios=options.split,
            seed=options.seed,
            forced_test=[groups[index] for index in forced_test],
        )
    except SplitError as error:
        raise ExportError(str(error)) from error
    split_of_group = np.array([SPLITS.index(plan[group]) for group in groups], dtype=np.int64)
    record_splits = split_of_group[np.frombuffer(record_groups, dtype=np.int64)]
    keep = None
    if export_format == "checklist-qa":
        keep = _balanced_mask(
            record_splits,
            np.array(checklist_columns["question"], dtype=np.int64),
            np.array(checklist_columns["answer"], dtype=np.int64),
            np.array(checklist_columns["hash"], dtype=np.int64),
        )
    del record_groups, checklist_columns

    # Pass 2: the spool, in order, into the split files.
    file_names = list(SPLITS) + (["ties"] if export_format == "preference-pairs" else [])
    for name in file_names:
        writers[name] = RowFileWriter(
            folder,
            name,
            formats.arrow_schema(
                export_format,
                dimensions=structure.dimension_codes,
                criteria=structure.criterion_codes,
                question_ids=[question["id"] for question in structure.questions],
                file=name,
            ),
        )
    label_counts = _label_counts_start(export_format, structure)
    n_records = len(record_splits)
    with open(spool_path, "rb") as spool:
        for position in range(n_records):
            record = orjson.loads(spool.readline())
            heartbeat.check()
            if keep is not None and not keep[position]:
                continue
            split = SPLITS[record_splits[position]]
            # Attached here, not spooled: the same 64 question texts spooled once per record cost 4 KB each.
            record["_checklist_questions"] = structure.question_texts
            for file_name, row in formats.rows_for_record(
                export_format, record, split=split, swap_augment=options.swap_augment
            ):
                writers[file_name].write(row)
            if video_scoring is not None:
                for row in video_scoring.rows_for(record):
                    writers[split].write(row)
            _count_labels(label_counts, export_format, record)
            for sha256, proxy in record["_media"]:
                _place_media(folder, sha256, proxy, options.media)
            if position % 1000 == 999:
                _progress(snapshot, 0.7 + 0.25 * position / n_records, f"wrote {position + 1} of {n_records} rows")
    spool_path.unlink()
    for writer in writers.values():
        writer.close()
    empty = [name for name in SPLITS if writers[name].count == 0]
    if empty:
        raise ExportError(
            f"the {'/'.join(empty)} split would be empty after "
            + ("balancing the answers" if export_format == "checklist-qa" else "setting ties apart")
            + "; export more data or change --split"
        )

    _progress(snapshot, 0.96, "hashing files")
    files = {}
    for name in file_names:
        for suffix in ("jsonl", "parquet"):
            files[f"{name}.{suffix}"] = file_sha256(folder / f"{name}.{suffix}")
    for media in sorted((folder / "media").iterdir()):
        heartbeat.check()
        files[f"media/{media.name}"] = file_sha256(media)
    rubric, checklist = campaign.rubric, campaign.checklist
    sizes = {name: writers[name].count for name in SPLITS}
    if export_format == "preference-pairs":
        sizes["ties"] = writers["ties"].count
    manifest = {
        "format": export_format,
        "schema_version": SCHEMA_VERSION,
        "created_at": snapshot.created_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_by": snapshot.created_by.username if snapshot.created_by else "",
        "code_version": code_version(),
        "campaign": campaign.name,
        "rubric": {"slug": rubric.slug, "version": rubric.version, "dimensions": structure.dimensions},
        "checklist": formats.checklist_manifest_entry(
            slug=checklist.slug, version=checklist.version, questions=structure.questions
        )
        if checklist
        else None,
        "filters": options.as_filters(),
        "splits": sizes,
        "label_counts": label_counts,
        "files": dict(sorted(files.items())),
        "agreement": tally.summary(),
        "selection": {
            "pairs_in_campaign": total_pairs,
            "pairs_exported": exported_pairs if export_format != "checklist-qa" else None,
            "excluded": excluded,
            "checklist_videos_contradictory": contradictions,
            "prompt_groups": split_sizes(plan=plan, group_sizes=dict.fromkeys(groups, 1)),
        },
    }
    manifest["consensus"] = {"method": "majority"}
    if weights is not None:
        # Counted over the exported pairs, adjudicated codes left out: how much the weighting changed.
        manifest["consensus"] = {**weights.manifest_entry(), "changed_from_majority": reweighted}
    if video_scoring is not None:
        manifest["video_scores"] = video_scoring.summary()
    return manifest


def _label_counts_start(export_format: str, structure: CampaignStructure) -> dict:
    if export_format == "checklist-qa":
        dimensions = list(dict.fromkeys(question["dimension"] for question in structure.questions))
        return {dimension: {"yes": 0, "no": 0} for dimension in dimensions}
    codes = structure.dimension_codes + (["overall"] if export_format == "preference-pairs" else [])
    return {code: {"A": 0, "B": 0, "tie": 0} for code in codes}


def _count_labels(counts: dict, export_format: str, record: dict) -> None:
    """Counts over exported pairs (before augmentation), or over written checklist-qa rows."""
    if export_format == "checklist-qa":
        counts[record["dimension"]][record["answer"]] += 1
        return
    for code, label in record["labels"].items():
        counts[code][label] += 1
    if export_format == "preference-pairs":
        counts["overall"][formats.overall_winner(record["labels"], record["severe"])] += 1
