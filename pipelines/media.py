"""Everything AesLab asks of ffmpeg/ffprobe, through ffmpeg-python."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
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
    """ffmpeg failed on a file that ffprobe accepted (a corrupt stream, say)."""


@dataclass(frozen=True)
class VideoProbe:
    duration_seconds: float
    fps: float
    width: int
    height: int
    codec: str
    frame_count: int
    has_audio: bool


def _stderr_tail(error: ffmpeg.Error, lines: int = 3) -> str:
    text = (error.stderr or b"").decode("utf-8", errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "no output from ffmpeg"


def _frame_rate(stream: dict) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        value = stream.get(key, "0/0")
        numerator, _, denominator = value.partition("/")
        if denominator and int(denominator) != 0 and int(numerator) != 0:
            return float(Fraction(int(numerator), int(denominator)))
    return 0.0


def video_probe(path: Path, *, name: str | None = None) -> VideoProbe:
    """Probe a file and check it against the ingest limits; raise VideoRejected with the reason."""
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise VideoRejected(name, "file not found")
    size = path.stat().st_size
    if size == 0:
        raise VideoRejected(name, "file is empty (0 bytes)")
    if size > settings.VIDEO_MAX_BYTES:
        raise VideoRejected(
            name, f"file is {size / 1e6:.1f} MB, over the limit of {settings.VIDEO_MAX_BYTES / 1e6:.1f} MB"
        )
    try:
        info = ffmpeg.probe(str(path))
    except ffmpeg.Error as error:
        raise VideoRejected(name, f"not a readable video file (ffprobe: {_stderr_tail(error, 1)})") from error

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
    if duration > settings.VIDEO_MAX_DURATION_SECONDS:
        raise VideoRejected(
            name, f"video is {duration:.1f} s long, over the limit of {settings.VIDEO_MAX_DURATION_SECONDS:.0f} s"
        )
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width <= 0 or height <= 0:
        raise VideoRejected(name, "video stream has no frame size")
    return VideoProbe(
        duration_seconds=duration,
        fps=fps,
        width=width,
        height=height,
        codec=codec,
        frame_count=frame_count,
        has_audio=any(s.get("codec_type") == "audio" for s in info.get("streams", [])),
    )


def proxy_transcode(source: Path, destination: Path, *, has_audio: bool) -> None:
    """A browser-playable proxy: H.264 High, yuv420p, even frame size, moov atom first (+faststart)."""
    max_height = settings.VIDEO_PROXY_MAX_HEIGHT
    stream = ffmpeg.input(str(source))
    video = stream.video.filter("scale", -2, f"trunc(min({max_height},ih)/2)*2")
    audio_options = {"acodec": "aac", "audio_bitrate": "128k"} if has_audio else {"an": None}
    outputs = [video, stream.audio] if has_audio else [video]
    try:
        (
            ffmpeg.output(
                *outputs,
                str(destination),
                vcodec="libx264",
                pix_fmt="yuv420p",
                preset="veryfast",
                crf=settings.VIDEO_PROXY_CRF,
                movflags="+faststart",
                **audio_options,
            )
            .global_args("-xerror", "-nostdin")
            .overwrite_output()
            .run(capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as error:
        raise MediaProcessingError(f"transcode failed: {_stderr_tail(error)}") from error


def poster_extract(source: Path, destination: Path, *, at_seconds: float) -> None:
    max_height = settings.VIDEO_PROXY_MAX_HEIGHT
    try:
        (
            ffmpeg.input(str(source), ss=at_seconds)
            .filter("scale", -2, f"trunc(min({max_height},ih)/2)*2")
            .output(str(destination), vframes=1, **{"q:v": 3})
            .global_args("-nostdin")
            .overwrite_output()
            .run(capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as error:
        raise MediaProcessingError(f"poster extraction failed: {_stderr_tail(error)}") from error
    if not destination.exists() or destination.stat().st_size == 0:
        raise MediaProcessingError("poster extraction produced no image")


@contextlib.contextmanager
def local_path(field_file: FieldFile) -> Iterator[Path]:
    """A local filesystem path for a stored file: the file itself on disk storage, a temporary copy otherwise."""
    try:
        yield Path(field_file.path)
        return
    except NotImplementedError:
        pass
    suffix = Path(field_file.name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy:
        with field_file.open("rb") as source:
            shutil.copyfileobj(source, copy)
        copy.flush()
        yield Path(copy.name)
