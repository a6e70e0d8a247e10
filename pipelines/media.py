"""Everything AesLab asks of ffmpeg/ffprobe: command lines built with ffmpeg-python, run by `_ffmpeg_run`.

Every ffmpeg and ffprobe process dies with the process that started it (PR_SET_PDEATHSIG on Linux), so a worker
killed mid-transcode leaves no ffmpeg running, and is killed after VIDEO_TRANSCODE_TIMEOUT_SECONDS. Messages name
files by the names users gave them, never by server paths (upload temp files, the media folder).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
from django.conf import settings
from django.db.models.fields.files import FieldFile


class VideoRejected(Exception):
    """A file that AesLab will not ingest; the message names the file and the reason."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


class MediaProcessingError(Exception):
    """ffmpeg failed on a file that ffprobe accepted (a corrupt stream, say), or ran past its time limit."""


class _FfmpegFailed(Exception):
    def __init__(self, stderr: bytes):
        self.stderr = stderr
        super().__init__("ffmpeg failed")


class _FfmpegTimedOut(Exception):
    pass


@dataclass(frozen=True)
class VideoProbe:
    duration_seconds: float
    fps: float
    width: int
    height: int
    codec: str
    frame_count: int
    has_audio: bool


PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform.startswith("linux") else None


def _dies_with(parent_pid: int) -> Callable[[], None] | None:
    """preexec_fn for ffmpeg: the kernel sends it SIGKILL when its parent dies (a worker killed by the OOM killer or
    `kill -9`); if the parent died before the call took effect, exit at once."""
    if _libc is None:
        return None

    def preexec() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def _ffmpeg_run(args: list[str]) -> bytes:
    """Run an ffmpeg or ffprobe command line; its stdout. Raises _FfmpegFailed (with stderr) on a non-zero exit and
    _FfmpegTimedOut, after killing it, past VIDEO_TRANSCODE_TIMEOUT_SECONDS."""
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_dies_with(os.getpid()),
    )
    try:
        stdout, stderr = process.communicate(timeout=settings.VIDEO_TRANSCODE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise _FfmpegTimedOut from None
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode != 0:
        raise _FfmpegFailed(stderr)
    return stdout


def _stderr_tail(stderr: bytes | None, lines: int = 3, *, names: dict[Path, str] | None = None) -> str:
    """The last lines of ffmpeg's output, with each path in `names` replaced by the name users know it by."""
    text = (stderr or b"").decode("utf-8", errors="replace")
    for path, name in sorted((names or {}).items(), key=lambda item: -len(str(item[0]))):
        text = text.replace(str(path), name)
    tail = text.strip().splitlines()
    return " | ".join(tail[-lines:]) or "no output from ffmpeg"


def _timeout_message(what: str) -> str:
    return (
        f"{what} took longer than {settings.VIDEO_TRANSCODE_TIMEOUT_SECONDS:g} s "
        "(VIDEO_TRANSCODE_TIMEOUT_SECONDS) and was stopped"
    )


def _frame_rate(stream: dict) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        value = stream.get(key, "0/0")
        numerator, _, denominator = value.partition("/")
        if denominator and int(denominator) != 0 and int(numerator) != 0:
            return float(Fraction(int(numerator), int(denominator)))
    return 0.0


def video_probe(path: Path, *, name: str | None = None, check_limits: bool = True) -> VideoProbe:
    """Probe a file and check it against the ingest limits; raise VideoRejected with the reason. `check_limits`
    False probes a file AesLab made itself (a proxy) for its facts only."""
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise VideoRejected(name, "file not found")
    size = path.stat().st_size
    if size == 0:
        raise VideoRejected(name, "file is empty (0 bytes)")
    if check_limits and size > settings.VIDEO_MAX_BYTES:
        raise VideoRejected(
            name, f"file is {size / 1e6:.1f} MB, over the limit of {settings.VIDEO_MAX_BYTES / 1e6:.1f} MB"
        )
    try:
        info = json.loads(_ffmpeg_run(["ffprobe", "-show_format", "-show_streams", "-of", "json", str(path)]))
    except _FfmpegFailed as error:
        tail = _stderr_tail(error.stderr, 1, names={path: name})
        raise VideoRejected(name, f"not a readable video file (ffprobe: {tail})") from None
    except _FfmpegTimedOut:
        raise VideoRejected(name, _timeout_message("reading the file")) from None

    video_streams = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    if not video_streams:
        raise VideoRejected(name, "contains no video stream")
    stream = video_streams[0]
    codec = stream.get("codec_name", "unknown")
    if codec not in settings.VIDEO_ALLOWED_CODECS:
        raise VideoRejected(name, f"unsupported codec '{codec}' (allowed: {', '.join(settings.VIDEO_ALLOWED_CODECS)})")
    duration = float(stream.get("duration") or info.get("format", {}).get("duration") or 0.0)
    fps = _frame_rate(stream)
    frame_count = int(stream.get("nb_frames") or round(duration * fps))
    if duration <= 0 or frame_count < 2:
        raise VideoRejected(name, "zero-length video (a still image or no frames)")
    if check_limits and duration > settings.VIDEO_MAX_DURATION_SECONDS:
        raise VideoRejected(
            name, f"video is {duration:.1f} s long, over the limit of {settings.VIDEO_MAX_DURATION_SECONDS:.0f} s"
        )
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width <= 0 or height <= 0:
        raise VideoRejected(name, "video stream has no frame size")
    if check_limits:
        _check_limits(name, width=width, height=height, fps=fps, frame_count=frame_count)
    return VideoProbe(
        duration_seconds=duration,
        fps=fps,
        width=width,
        height=height,
        codec=codec,
        frame_count=frame_count,
        has_audio=any(s.get("codec_type") == "audio" for s in info.get("streams", [])),
    )


def _check_limits(name: str, *, width: int, height: int, fps: float, frame_count: int) -> None:
    most_wide, most_high = settings.VIDEO_MAX_WIDTH, settings.VIDEO_MAX_HEIGHT
    # Either orientation: a portrait 2160x3840 clip is as large as a landscape one.
    if not (width <= most_wide and height <= most_high) and not (width <= most_high and height <= most_wide):
        raise VideoRejected(
            name, f"frame size {width}x{height} is over the limit of {most_wide}x{most_high} (either orientation)"
        )
    if fps > settings.VIDEO_MAX_FPS:
        raise VideoRejected(name, f"frame rate {fps:g} fps is over the limit of {settings.VIDEO_MAX_FPS:g} fps")
    if frame_count > settings.VIDEO_MAX_FRAMES:
        raise VideoRejected(name, f"{frame_count} frames, over the limit of {settings.VIDEO_MAX_FRAMES} frames")


def proxy_transcode(source: Path, destination: Path, *, has_audio: bool, name: str = "the video") -> None:
    """A browser-playable proxy: H.264 High, yuv420p, even frame size, moov atom first (+faststart)."""
    max_height = settings.VIDEO_PROXY_MAX_HEIGHT
    stream = ffmpeg.input(str(source))
    video = stream.video.filter("scale", -2, f"trunc(min({max_height},ih)/2)*2")
    audio_options = {"acodec": "aac", "audio_bitrate": "128k"} if has_audio else {"an": None}
    outputs = [video, stream.audio] if has_audio else [video]
    command = (
        ffmpeg.output(
            *outputs,
            str(destination),
            vcodec="libx264",
            pix_fmt="yuv420p",
            preset="veryfast",
            crf=settings.VIDEO_PROXY_CRF,
            movflags="+faststart",
            # Experts watch proxies: no title, comment or other tag of the source (it may name the generator).
            map_metadata=-1,
            **audio_options,
        )
        .global_args("-xerror", "-nostdin")
        .overwrite_output()
        .compile()
    )
    try:
        _ffmpeg_run(command)
    except _FfmpegFailed as error:
        tail = _stderr_tail(error.stderr, names={source: name, destination: "proxy.mp4"})
        raise MediaProcessingError(f"transcode failed: {tail}") from None
    except _FfmpegTimedOut:
        raise MediaProcessingError(_timeout_message("the transcode")) from None


def poster_extract(source: Path, destination: Path, *, at_seconds: float) -> None:
    max_height = settings.VIDEO_PROXY_MAX_HEIGHT
    command = (
        ffmpeg.input(str(source), ss=at_seconds)
        .filter("scale", -2, f"trunc(min({max_height},ih)/2)*2")
        .output(str(destination), vframes=1, **{"q:v": 3})
        .global_args("-nostdin")
        .overwrite_output()
        .compile()
    )
    try:
        _ffmpeg_run(command)
    except _FfmpegFailed as error:
        tail = _stderr_tail(error.stderr, names={source: "proxy.mp4", destination: "poster.jpg"})
        raise MediaProcessingError(f"poster extraction failed: {tail}") from None
    except _FfmpegTimedOut:
        raise MediaProcessingError(_timeout_message("poster extraction")) from None
    if not destination.exists() or destination.stat().st_size == 0:
        raise MediaProcessingError("poster extraction produced no image")


@contextlib.contextmanager
def local_path(field_file: FieldFile, *, folder: Path | None = None) -> Iterator[Path]:
    """A local filesystem path for a stored file: the file itself on disk storage, a temporary copy (in `folder`)
    otherwise."""
    try:
        yield Path(field_file.path)
        return
    except NotImplementedError:
        pass
    suffix = Path(field_file.name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix, dir=folder) as copy:
        with field_file.open("rb") as source:
            shutil.copyfileobj(source, copy)
        copy.flush()
        yield Path(copy.name)
