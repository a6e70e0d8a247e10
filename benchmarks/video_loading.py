"""Decoding and packing real clips at the training defaults, and the clip cache they need.

Usage::

    python benchmarks/video_loading.py                 # 4 clips of 10 s at 1280x720, 30 fps
    python benchmarks/video_loading.py --clips 8 --seconds 20 --workers 2

Prints, at ``video.fps=2, max_frames=16, max_pixels=448*448``: seconds to decode and pack one clip,
the packed size, the memory an unbounded per-path cache would take at 10k clips against the
``video.cache_bytes`` bound, and the wall time to prepare the clips with 0 and ``--workers``
DataLoader workers (on a shared 2-core machine the latter mostly shows that it works).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _render(path: Path, seconds: float) -> None:
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )


def _pack(loader, paths: list[Path], indices: list[int]) -> int:
    return sum(loader.pack(paths[i]).num_bytes for i in indices)


def main() -> None:
    from rm_training.config import VideoConfig
    from rm_training.data import prepared_batches
    from rm_training.video import VideoLoader, VisionGeometry

    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    video = VideoConfig()
    loader = VideoLoader.from_config(VisionGeometry(), video)
    with tempfile.TemporaryDirectory() as work:
        paths = [Path(work) / f"clip{index}.mp4" for index in range(args.clips)]
        for path in paths:
            _render(path, args.seconds)
        times, packed = [], None
        for path in paths:
            started = time.perf_counter()
            packed = loader.pack(path)
            times.append(time.perf_counter() - started)
        print(f"clip: {args.seconds:g} s of 1280x720 at 30 fps; video.fps={video.fps:g}, "
              f"max_frames={video.max_frames}, max_pixels={loader.max_pixels}")
        print(f"sampled frames at {', '.join(f'{t:.1f}' for t in packed.timestamps)} s")
        print(f"decode + pack: median {statistics.median(times):.2f} s per clip (best {min(times):.2f} s)")
        size = packed.num_bytes
        print(f"packed clip: grid {packed.grid_thw}, {size / 2**20:.1f} MiB float32")
        print(f"unbounded cache at 10,000 clips: {10_000 * size / 2**30:.0f} GiB per process; "
              f"bound video.cache_bytes = {video.cache_bytes / 2**30:.0f} GiB ({video.cache_bytes // size} clips)")
        make_batches = functools.partial(iter, [[index] for index in range(args.clips)])
        prepare = functools.partial(_pack, loader, paths)
        for workers in (0, args.workers):
            started = time.perf_counter()
            list(prepared_batches(make_batches, prepare, workers))
            print(f"{args.clips} clips prepared with {workers} workers: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
