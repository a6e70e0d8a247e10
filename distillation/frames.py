"""Frames for the prompt: sampled with ffmpeg at a configurable rate, capped in number, scaled so the short side
is at most `short_side` (never upscaled), JPEG-encoded for base64 image parts."""

from __future__ import annotations

import functools
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import ffmpeg

from distillation.prompts import Frame
from pipelines.media import MediaProcessingError, local_path


def frames_sample(
    path: Path, *, fps: float, max_frames: int, short_side: int, duration_seconds: float | None = None
) -> list[Frame]:
    """Evenly spaced frames: `fps` per second, slowed down so a long video still yields at most `max_frames`."""
    rate = fps
    if duration_seconds and duration_seconds * fps > max_frames:
        rate = max_frames / duration_seconds
    width = f"if(lt(iw,ih),min(iw,{short_side}),-2)"
    height = f"if(lt(iw,ih),-2,min(ih,{short_side}))"
    with tempfile.TemporaryDirectory(prefix="aeslab-frames-") as workdir:
        try:
            (
                ffmpeg.input(str(path))
                .filter("fps", fps=rate)
                .filter("scale", width, height)
                .output(str(Path(workdir) / "%04d.jpg"), vframes=max_frames, **{"q:v": 4})
                .global_args("-nostdin", "-loglevel", "error")
                .run(capture_stdout=True, capture_stderr=True)
            )
        except ffmpeg.Error as error:
            tail = (error.stderr or b"").decode("utf-8", errors="replace").strip()[-300:]
            raise MediaProcessingError(f"frame sampling failed for {path.name}: {tail}") from error
        files = sorted(Path(workdir).glob("*.jpg"))[:max_frames]
        return [Frame(seconds=round(index / rate, 3), jpeg=file.read_bytes()) for index, file in enumerate(files)]


# A video is often in several pairs of a campaign: keep its frames for the next item this process handles.
FRAMES_CACHE_SIZE = 64
_cache: OrderedDict[tuple, list[Frame]] = OrderedDict()
_cache_lock = threading.Lock()


def frames_for_video(video, *, fps: float, max_frames: int, short_side: int) -> list[Frame]:
    """Frames of a stored Video: from its proxy when there is one (smaller, already decoded once), else the original.

    Cached per process by (video, file, sampling settings), least recently used out first.
    """
    source = video.proxy if video.proxy else video.file
    key = (video.pk, source.name, fps, max_frames, short_side)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    with local_path(source) as path:
        frames = frames_sample(
            path, fps=fps, max_frames=max_frames, short_side=short_side, duration_seconds=video.duration_seconds
        )
    with _cache_lock:
        _cache[key] = frames
        while len(_cache) > FRAMES_CACHE_SIZE:
            _cache.popitem(last=False)
    return frames


TEST_CARD_SIZE = "320x240"


@functools.cache
def test_card_frame() -> Frame:
    """ffmpeg's testsrc2 card (colour bars, a gradient, a moving pattern) as one JPEG: a frame to send when
    testing an endpoint, with something in it a model can describe."""
    try:
        jpeg, _ = (
            ffmpeg.input(f"testsrc2=size={TEST_CARD_SIZE}:rate=1", f="lavfi")
            .output("pipe:", vframes=1, format="image2", vcodec="mjpeg", **{"q:v": 4})
            .global_args("-nostdin", "-loglevel", "error")
            .run(capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as error:
        tail = (error.stderr or b"").decode("utf-8", errors="replace").strip()[-300:]
        raise MediaProcessingError(f"could not render the test card: {tail}") from error
    return Frame(seconds=0.0, jpeg=jpeg)
