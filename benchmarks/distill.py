"""Distillation throughput: items per minute against a local OpenAI-compatible server with simulated latency, at
endpoint concurrency 1, 8 and 32 on two Celery worker processes; plus the filters' own cost per item.

    .venv/bin/python benchmarks/distill.py [--items 40] [--latency 0.05] [--levels 1,8,32]

Builds a PostgreSQL database `aeslab_bench_distill` (dropped and re-created) with one campaign of `--items`
consensus-labelled pairs of real 160x96, one-second clips; starts the scripted server of the test suite
(distillation/tests/fake_llm.py) with `--latency` seconds per request, and two workers
(`celery worker -P threads -c 16` each, on Redis). For each level the endpoint's max_concurrency (enforced
across both workers through Redis) is set to the level, the generation cache is emptied, and one job runs to the
end, on two fresh worker processes (so no frames are cached from the previous level). Each item samples frames
with ffmpeg (1 fps, at most 2 frames, short side 64), calls the server through the openai client, parses, runs
the three filters and stores its critique.

Figures: items/min, the server's peak number of requests in flight (never above the level), and the filters'
cost per item (median of repeated runs of critique_filter on a 15-criterion critique, clean and leaky).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "aeslab_bench_distill"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
BROKER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
QUEUE = f"aeslab-bench-distill-{uuid.uuid4().hex[:6]}"
MEDIA = Path(tempfile.mkdtemp(prefix="aeslab-bench-distill-"))

os.environ.update(
    DATABASE_URL=DATABASE_URL,
    CELERY_BROKER_URL=BROKER,
    CELERY_TASK_DEFAULT_QUEUE=QUEUE,
    MEDIA_ROOT=str(MEDIA),
    DJANGO_SETTINGS_MODULE="webapp.settings",
    CONN_MAX_AGE="0",
)


def _recreate_database() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")


def _clip(name: str, source: str) -> str:
    path = MEDIA / "videos" / "original" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    from webapp.testing import lavfi_render

    encoding = ("-c:v", "libx264", "-pix_fmt", "yuv420p")
    lavfi_render(path, f"{source}=size=160x96:rate=24", seconds=1, output_args=encoding)
    return f"videos/original/{name}"


def _seed(items: int):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from annotation.models import Assignment, PairJudgment, Video, VideoPair
    from annotation.services import campaign_create
    from distillation.tests.factories import uniform_labels

    call_command("migrate", verbosity=0)
    campaign = campaign_create(name="bench-distill", overlap=2)
    files = [_clip("a.mp4", "testsrc2"), _clip("b.mp4", "smptehdbars")]
    experts = [get_user_model().objects.create_user(username=f"bench-expert-{i}", password="x") for i in range(2)]
    videos = Video.objects.bulk_create(
        Video(
            file=files[index % 2], proxy=files[index % 2], original_name=f"{index}.mp4", sha256=f"{index:064x}",
            size_bytes=1, duration_seconds=1.0, fps=24.0, width=160, height=96, codec="h264", frame_count=24,
            status=Video.Status.READY,
        )
        for index in range(2 * items)
    )  # fmt: skip
    pairs = VideoPair.objects.bulk_create(
        VideoPair(campaign=campaign, external_id=f"p{i}", prompt="a test card", video_a=videos[2 * i],
                  video_b=videos[2 * i + 1])
        for i in range(items)
    )  # fmt: skip
    labels = uniform_labels(campaign.rubric, 1)
    assignments = Assignment.objects.bulk_create(
        Assignment(campaign=campaign, pair=pair, expert=expert, swapped=False, status="submitted")
        for pair in pairs
        for expert in experts
    )
    PairJudgment.objects.bulk_create(
        PairJudgment(assignment=a, criteria=labels["criteria"], dimensions=labels["dimensions"]) for a in assignments
    )
    return campaign, labels


def _start_workers(count: int, threads: int) -> list[subprocess.Popen]:
    from webapp.celery import app
    from webapp.testing import celery_worker_command

    processes = []
    for index in range(count):
        node = f"{QUEUE}-{index}-{uuid.uuid4().hex[:4]}@{socket.gethostname()}"
        command = celery_worker_command(
            queues=(QUEUE,), node_name=node, pool="threads", concurrency=threads, log_level="WARNING"
        )
        processes.append(
            subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True)
        )
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[node], timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {node} did not start")
    return processes


def _run_level(*, campaign, endpoint, fake, level: int) -> dict:
    from distillation import services
    from distillation.models import DistillationJob, Endpoint, Generation

    Generation.objects.all().delete()
    Endpoint.objects.filter(pk=endpoint.pk).update(max_concurrency=level)
    endpoint.refresh_from_db()
    fake.peak_in_flight = 0
    before = fake.count()
    started = time.monotonic()
    job = services.job_start(campaign=campaign, endpoint=endpoint, frames_fps=1.0, frames_max=2, frames_short_side=64)
    while True:
        job.refresh_from_db()
        if job.status == DistillationJob.Status.DONE:
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    return {
        "level": level,
        "items": job.total_items,
        "seconds": elapsed,
        "items_per_minute": 60 * job.total_items / elapsed,
        "peak_in_flight": fake.peak_in_flight,
        "calls": fake.count() - before,
    }


def _filter_cost(labels: dict, repeats: int = 300) -> dict:
    from annotation.services import rubric_default
    from distillation.filters import FilterContext, VideoFacts, critique_filter
    from distillation.selectors import rubric_spec_for
    from distillation.tests.factories import clean_text_for

    rubric = rubric_default()
    text = clean_text_for(rubric, labels)
    leaky = text.replace("A: The frame", "A: As the experts rated it, a static camera in 1080p frames", 3)
    facts = VideoFacts(duration_seconds=1.0, width=160, height=96, fps=24.0, checklist={"camera_moves": True})
    context = FilterContext(
        labels=labels, facts={"A": facts, "B": facts}, criteria_codes=rubric_spec_for(rubric=rubric).criterion_codes
    )
    figures = {}
    for name, body in (("clean", text), ("leaky", leaky)):
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            critique_filter(text=body, context=context)
            timings.append(1000 * (time.perf_counter() - started))
        figures[name] = (statistics.median(timings), sorted(timings)[int(0.95 * len(timings))], len(body))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05, help="Simulated seconds per request.")
    parser.add_argument("--levels", default="1,8,32", help="Endpoint max_concurrency values to measure.")
    parser.add_argument("--threads", type=int, default=16, help="Threads per worker process (two processes).")
    args = parser.parse_args()

    _recreate_database()
    campaign, labels = _seed(args.items)
    from distillation import services
    from distillation.tests.factories import clean_text_for
    from distillation.tests.fake_llm import FakeLLM
    from webapp.celery import app

    app.conf.update(broker_url=BROKER, task_always_eager=False)
    fake = FakeLLM(latency=args.latency).start()
    fake.default_answer = clean_text_for(campaign.rubric, labels)
    endpoint = services.endpoint_create(
        name="bench", base_url=fake.url, model="bench-model", requests_per_minute=0, timeout_seconds=30
    )
    results = []
    try:
        for level in args.levels.split(","):
            # Fresh worker processes per level: no frames cached by a previous level.
            workers = _start_workers(2, args.threads)
            try:
                results.append(_run_level(campaign=campaign, endpoint=endpoint, fake=fake, level=int(level)))
            finally:
                for worker in workers:
                    os.killpg(worker.pid, 9)
                    worker.wait()
    finally:
        fake.stop()
    cost = _filter_cost(labels)

    print(f"\n{args.items} items per level, {args.latency * 1000:.0f} ms simulated latency, 2 worker processes "
          f"x {args.threads} threads, frames sampled with ffmpeg per item\n")  # fmt: skip
    print(f"{'concurrency':>11} {'seconds':>8} {'items/min':>10} {'peak in flight':>15} {'calls':>6}")
    for row in results:
        print(
            f"{row['level']:>11} {row['seconds']:>8.1f} {row['items_per_minute']:>10.1f} "
            f"{row['peak_in_flight']:>15} {row['calls']:>6}"
        )
    print("\nfilters per critique (parse + leakage + alignment + factual), 15 criteria:")
    for name, (median, p95, length) in cost.items():
        print(f"  {name:>5} ({length} chars): median {median:.2f} ms, p95 {p95:.2f} ms")


if __name__ == "__main__":
    main()
