"""What the benchmarks share: a PostgreSQL database of their own, and bulk-made videos and pairs
(no media files: rows marked ready, as a finished ingest leaves them)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def database_prepare(url: str, *, fresh: bool = True) -> None:
    """Create the database named at the end of a postgres:// URL; `fresh` drops an existing one first."""
    import psycopg

    server, name = url.split("?")[0].rsplit("/", 1)
    with psycopg.connect(server + "/postgres", autocommit=True) as connection:
        if fresh:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def videos_and_pairs_bulk_create(
    *, campaign, count: int, prefix: str, prompt_for: Callable[[int], str], assigned_count: int = 0
) -> list:
    """`count` pairs of two new ready videos each (with proxy and poster paths) in `campaign`."""
    from annotation.models import Video, VideoPair

    videos = Video.objects.bulk_create(
        (
            Video(
                file=f"videos/original/{prefix}-{index}.mp4",
                proxy=f"videos/proxy/{prefix}-{index}.mp4",
                poster=f"videos/poster/{prefix}-{index}.jpg",
                original_name=f"{prefix}-{index}.mp4",
                sha256=hashlib.sha256(f"{prefix}-{index}".encode()).hexdigest(),
                size_bytes=1,
                duration_seconds=5.0,
                fps=24.0,
                width=640,
                height=360,
                codec="h264",
                frame_count=120,
                status=Video.Status.READY,
            )
            for index in range(2 * count)
        ),
        batch_size=5000,
    )
    return VideoPair.objects.bulk_create(
        (
            VideoPair(
                campaign=campaign,
                external_id=f"pair-{index:06d}",
                prompt=prompt_for(index),
                video_a=videos[2 * index],
                video_b=videos[2 * index + 1],
                assigned_count=assigned_count,
            )
            for index in range(count)
        ),
        batch_size=5000,
    )


def analyze() -> None:
    """Refresh planner statistics, as autovacuum would after a bulk load."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
