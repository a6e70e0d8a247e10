"""Ingest throughput: AesLab's full ingest against a plain ffmpeg CLI transcode of the same files.

    .venv/bin/python benchmarks/ingest.py [--clips 12] [--seconds 5] [--size 640x360]

AesLab's path per clip: sha256, ffprobe, store the original, Video row, H.264 +faststart proxy,
poster, proxy verification, rows updated. The baseline runs only `ffmpeg` with the same encoder
settings plus the poster extraction. Tasks run eagerly in this process (one core's worth of
work, as one worker process would do). DATABASE_URL is honoured; a temporary SQLite database is
used otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _make_clips(directory: Path, count: int, seconds: float, size: str) -> list[Path]:
    from webapp.testing import lavfi_render

    sources = ["testsrc2", "mandelbrot", "life", "cellauto"]
    clips = []
    for index in range(count):
        clip = directory / f"clip_{index:03d}.mp4"
        source = sources[index % len(sources)]
        lavfi_render(
            clip,
            f"{source}=size={size}:rate=24",
            seconds=seconds,
            # a different hue per clip, so none is deduplicated
            output_args=("-vf", f"hue=h={index * 13}", "-c:v", "libx264", "-preset", "ultrafast")
            + ("-pix_fmt", "yuv420p"),
        )
        clips.append(clip)
    return clips


def _baseline(clips: list[Path], out: Path, crf: int, max_height: int) -> float:
    started = time.perf_counter()
    for clip in clips:
        proxy = out / f"{clip.stem}_proxy.mp4"
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(clip),
                "-vf",
                f"scale=-2:trunc(min({max_height}\\,ih)/2)*2",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                str(crf),
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
                "-an",
                str(proxy),
            ],
            check=True,
        )
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-ss",
                "1",
                "-i",
                str(proxy),
                "-frames:v",
                "1",
                "-q:v",
                "3",
                str(out / f"{clip.stem}.jpg"),
            ],
            check=True,
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12, help="Clips to ingest (an even number: they form pairs).")
    parser.add_argument("--seconds", type=float, default=5.0, help="Length of each clip.")
    parser.add_argument("--size", default="640x360", help="Frame size of the generated clips.")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aeslab-bench-ingest-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from annotation.models import Campaign, Video
    from annotation.services import campaign_create
    from pipelines.ingest import manifest_import

    call_command("migrate", verbosity=0)
    clips_dir = workdir / "clips"
    clips_dir.mkdir()
    clips = _make_clips(clips_dir, args.clips, args.seconds, args.size)
    manifest = clips_dir / "manifest.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"pair_id": f"p{i}", "prompt": "benchmark", "video_a": a.name, "video_b": b.name}) + "\n"
            for i, (a, b) in enumerate(zip(clips[::2], clips[1::2], strict=True))
        )
    )
    campaign = Campaign.objects.filter(name="benchmark").first() or campaign_create(name="benchmark")

    started = time.perf_counter()
    report = manifest_import(manifest_path=manifest, campaign=campaign)
    aeslab_seconds = time.perf_counter() - started
    assert report.ok and Video.objects.filter(status=Video.Status.READY).count() == len(clips), report.errors

    baseline_dir = workdir / "baseline"
    baseline_dir.mkdir()
    baseline_seconds = _baseline(clips, baseline_dir, settings.VIDEO_PROXY_CRF, settings.VIDEO_PROXY_MAX_HEIGHT)

    video_seconds = len(clips) * args.seconds
    print(f"clips: {len(clips)} x {args.seconds:.1f} s at {args.size} ({video_seconds:.0f} s of video)")
    print(f"database: {settings.DATABASES['default']['ENGINE']}")
    print(
        f"AesLab ingest     : {aeslab_seconds:7.2f} s  {len(clips) / aeslab_seconds * 60:7.1f} clips/min  "
        f"{aeslab_seconds / video_seconds:.3f} s per clip-second"
    )
    print(
        f"plain ffmpeg CLI  : {baseline_seconds:7.2f} s  {len(clips) / baseline_seconds * 60:7.1f} clips/min  "
        f"{baseline_seconds / video_seconds:.3f} s per clip-second"
    )
    print(f"ratio AesLab / ffmpeg: {aeslab_seconds / baseline_seconds:.2f}x")


if __name__ == "__main__":
    main()
