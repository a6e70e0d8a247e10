"""aesrm-pairwise export at scale: seconds and peak memory at 10k, 50k and 100k judgments (3 experts per pair).

    .venv/bin/python benchmarks/export.py [--sizes 10000,50000,100000] [--repeats 1] [--keep-database]

Builds its own PostgreSQL database (DATABASE_URL's server, database aeslab_bench_export, dropped and re-created),
migrated, with one campaign per size seeded by bulk inserts (3 experts per pair, verdicts agreeing with a latent
label 70% of the time, a prompt shared by every three pairs, a few adjudications and gold answers) and ANALYZE.
Each campaign has the default checklist (64 questions per video): every judgment carries its answers packed, as a
submit stores them (PairJudgment.checklist_a / checklist_b; each expert agrees with a latent answer of the video
80% of the time), and the export reads only those, so the 256 ChecklistAnswer rows a submit also writes are not
seeded (1,000,000 judgments would be 256 million rows, which the export never reads). `--no-checklist` seeds
campaigns without a checklist, as this benchmark did before the packed answers.

Each export runs in a fresh subprocess (`--run`), so its peak resident memory is its own: the peak (VmHWM, reset
just before the export) minus the resident size just before it (Django and pyarrow loaded) is the growth.
CPU seconds are this process's only (the database server's work is not in them): on a shared machine they show
how much of the wall time is the exporter's.
One export writes both files of each split, JSONL and Parquet, in the same pass; media are not copied
(media "none": rows still name media/<sha256>.mp4). The folder is checked: row counts and manifest hashes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "aeslab_bench_export"
EXPERTS = 3


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not url.startswith("postgres"):
        sys.exit("This benchmark measures the PostgreSQL path: set DATABASE_URL to a PostgreSQL server.")
    return url.rsplit("/", 1)[0]


def _django_setup(server: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{DATABASE}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()


def _seed(*, name: str, judgments: int, seed: int, checklist: bool) -> None:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from agreement.models import Adjudication, GoldLabel
    from annotation.models import Assignment, Campaign, Criterion, PairJudgment
    from annotation.services import campaign_create
    from benchmarks.support import videos_and_pairs_bulk_create

    rng = np.random.default_rng(seed)
    pairs = -(-judgments // EXPERTS)
    with transaction.atomic():
        campaign = campaign_create(name=name, overlap=EXPERTS)
        if not checklist:
            Campaign.objects.filter(pk=campaign.pk).update(checklist=None)
        codes = list(
            Criterion.objects.filter(dimension__rubric=campaign.rubric)
            .order_by("dimension__order", "order")
            .values_list("code", flat=True)
        )
        dimensions = list(campaign.rubric.dimensions.order_by("order").values_list("code", flat=True))
        pair_rows = videos_and_pairs_bulk_create(
            campaign=campaign,
            count=pairs,
            prefix=name,
            prompt_for=lambda index: f"benchmark prompt {index // 3}: a slow dolly shot through a rainy neon street",
            assigned_count=EXPERTS,
        )
        User = get_user_model()
        users = [User.objects.get_or_create(username=f"bench-expert-{e}")[0] for e in range(EXPERTS)]
        now = timezone.now()
        assignments = Assignment.objects.bulk_create(
            (
                Assignment(
                    campaign=campaign,
                    pair=pair,
                    expert=user,
                    swapped=bool((index + e) % 2),
                    status=Assignment.Status.SUBMITTED,
                    submitted_at=now,
                )
                for index, pair in enumerate(pair_rows)
                for e, user in enumerate(users)
            ),
            batch_size=5000,
        )[:judgments]
        keys = codes + dimensions
        truth = rng.integers(-1, 2, size=(pairs, len(keys)))
        noise = rng.integers(-1, 2, size=(pairs, EXPERTS, len(keys)))
        verdicts = np.where(rng.random((pairs, EXPERTS, len(keys))) < 0.7, truth[:, None, :], noise).tolist()
        packed = ["", ""] * (pairs * EXPERTS)
        if checklist:
            questions = campaign.checklist.questions.count()
            latent = rng.choice(3, size=(pairs, 1, 2, questions), p=[0.45, 0.45, 0.10])
            given = np.where(
                rng.random((pairs, EXPERTS, 2, questions)) < 0.8,
                latent,
                rng.choice(3, size=(pairs, EXPERTS, 2, questions)),
            )
            letters = np.frombuffer(b"nya", dtype=np.uint8)[given].reshape(pairs * EXPERTS * 2, questions)
            packed = [row.tobytes().decode() for row in letters]
        PairJudgment.objects.bulk_create(
            (
                PairJudgment(
                    assignment=assignment,
                    criteria=dict(zip(codes, verdicts[i // EXPERTS][i % EXPERTS][: len(codes)], strict=True)),
                    dimensions=dict(zip(dimensions, verdicts[i // EXPERTS][i % EXPERTS][len(codes) :], strict=True)),
                    severe={"A": {"VP": i % 97 == 0}, "B": {}},
                    checklist_a=packed[2 * i],
                    checklist_b=packed[2 * i + 1],
                )
                for i, assignment in enumerate(assignments)
            ),
            batch_size=5000,
        )
        Adjudication.objects.bulk_create(
            Adjudication(
                pair=pair,
                criteria={},
                dimensions=dict(zip(dimensions, truth[i, len(codes) :].tolist(), strict=True)),
                reason="benchmark",
                adjudicated_by=users[0],
                created_at=now,
            )
            for i, pair in enumerate(pair_rows[::50])
        )
        GoldLabel.objects.bulk_create(
            GoldLabel(
                pair=pair,
                criteria=dict(zip(codes, truth[i, : len(codes)].tolist(), strict=True)),
                dimensions=dict(zip(dimensions, truth[i, len(codes) :].tolist(), strict=True)),
                set_by=users[0],
                set_at=now,
            )
            for i, pair in enumerate(pair_rows[1::200])
        )


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _rss_reset_peak() -> int:
    """The resident size now (KiB), after resetting the peak (VmHWM) to it. ru_maxrss cannot be used: Linux
    carries the parent's peak across fork and exec, so a child would report the seeding process's peak."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def _run_one(name: str, out: Path) -> dict:
    """In the subprocess: one export of campaign `name`, timed, with its memory."""
    from exports.models import ExportSnapshot
    from exports.services import export_build, export_snapshot_create

    baseline = _rss_reset_peak()
    snapshot = export_snapshot_create(
        campaign=name,
        export_format="aesrm-pairwise",
        path=out,
        options={"media": "none", "awaiting_adjudication": "include", "seed": 0},
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    snapshot = export_build(snapshot_id=snapshot.pk)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = _status_kb("VmHWM")
    if snapshot.status != ExportSnapshot.Status.SUCCEEDED:
        raise SystemExit(f"export failed: {snapshot.error}")
    manifest = json.loads((out / "manifest.json").read_text())
    rows = 0
    for split in ("train", "validation", "test"):
        with open(out / f"{split}.jsonl", "rb") as handle:
            rows += sum(1 for _ in handle)
        assert (
            hashlib.sha256((out / f"{split}.parquet").read_bytes()).hexdigest() == manifest["files"][f"{split}.parquet"]
        )
    assert rows == sum(manifest["splits"].values())
    size = sum(path.stat().st_size for path in out.iterdir() if path.is_file())
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "rows": rows,
        "folder_mb": round(size / 1e6, 1),
        "rss_before_mb": round(baseline / 1024, 1),
        "rss_peak_mb": round(peak / 1024, 1),
        "rss_growth_mb": round((peak - baseline) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,50000,100000", help="judgments per campaign")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep-database", action="store_true", help="reuse the seeded database of a previous run")
    parser.add_argument("--no-checklist", action="store_true", help="campaigns without a checklist")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    server = _server_url()

    if arguments.run:
        _django_setup(server)
        print(json.dumps(_run_one(arguments.run, Path(arguments.out))))
        return

    sizes = [int(size) for size in arguments.sizes.split(",")]
    from benchmarks.support import analyze, database_prepare

    database_prepare(f"{server}/{DATABASE}", fresh=not arguments.keep_database)
    _django_setup(server)
    from django.core.management import call_command
    from django.db import connection

    from annotation.models import Campaign

    call_command("migrate", verbosity=0)  # a kept database that was never seeded gets the clear message below
    if not arguments.keep_database:
        for size in sizes:
            started = time.perf_counter()
            _seed(name=f"bench-{size}", judgments=size, seed=size, checklist=not arguments.no_checklist)
            print(f"seeded {size} judgments in {time.perf_counter() - started:.1f} s", flush=True)
        analyze()
    missing = [size for size in sizes if not Campaign.objects.filter(name=f"bench-{size}").exists()]
    if missing:
        sys.exit(f"no seeded campaign for {missing}; run without --keep-database")
    connection.close()

    results = []
    with tempfile.TemporaryDirectory(prefix="export-bench-") as folder:
        for size in sizes:
            for repeat in range(arguments.repeats):
                out = Path(folder) / f"{size}-{repeat}"
                completed = subprocess.run(
                    [sys.executable, __file__, "--run", f"bench-{size}", "--out", str(out)],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                if completed.returncode:
                    sys.exit(completed.stderr[-3000:])
                result = {"judgments": size, **json.loads(completed.stdout.strip().splitlines()[-1])}
                results.append(result)
                print(json.dumps(result), flush=True)
    print()
    print("judgments  rows  seconds  cpu s  folder MB  RSS before  RSS peak  growth")
    for r in results:
        print(
            f"{r['judgments']:>9} {r['rows']:>5} {r['seconds']:>8.2f} {r['cpu_seconds']:>6.2f} {r['folder_mb']:>10.1f} "
            f"{r['rss_before_mb']:>9.1f}M {r['rss_peak_mb']:>8.1f}M {r['rss_growth_mb']:>6.1f}M"
        )


if __name__ == "__main__":
    main()
