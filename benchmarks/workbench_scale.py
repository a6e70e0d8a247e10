"""The scale mode of benchmarks/workbench.py: "next pair", the workbench page and submit, measured in-process
as a campaign grows (default 10,000 then 1,000,000 pairs).

Rows are written with PostgreSQL's COPY: two ready videos per pair, and for `judged_share` of the pairs
`overlap` submitted assignments with their judgments (so 1,000,000 pairs carry 2,700,000 judgments at the
defaults). Checklist answers are written only by the submits measured here. Each size is timed the same way:
`rounds` times an expert takes the next pair, opens its page and submits it with every verdict and every
checklist question of both videos answered; figures are wall milliseconds in this process (the service and its
queries), medians and p95, with the queries each call made and the shared buffers the candidate query touched.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from datetime import UTC, datetime

NOW = datetime.now(UTC).isoformat()
VIDEO_COLUMNS = (
    "id, file, original_name, sha256, size_bytes, duration_seconds, fps, width, height, codec, frame_count, "
    "has_audio, source_model, prompt, proxy, poster, status, error, created_at"
)
PAIR_COLUMNS = "id, campaign_id, external_id, prompt, video_a_id, video_b_id, assigned_count, created_at, metadata"
ASSIGNMENT_COLUMNS = (
    "id, campaign_id, pair_id, expert_id, swapped, status, draft, created_at, started_at, submitted_at, "
    "time_spent_seconds, task_number"
)
JUDGMENT_COLUMNS = "id, assignment_id, criteria, dimensions, severe, notes, revision, created_at, updated_at"


def _next_id(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return cursor.fetchone()[0]


def _copy(table: str, columns: str, rows) -> int:
    from django.db import connection

    connection.ensure_connection()
    written = 0
    with connection.connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def _sequences_reset(*tables: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")


def campaign_fill(*, campaign, experts: list, start: int, stop: int, judged_share: float, seed: int = 0) -> dict:
    """Pairs `start`..`stop` of the campaign, written with COPY; returns row counts written."""
    from django.db.models import Max

    from annotation.models import Assignment, PairJudgment, Video, VideoPair

    rng = random.Random(seed + start)
    rubric_codes = [c.code for d in campaign.rubric.dimensions.all() for c in d.criteria.all()]
    dimension_codes = [d.code for d in campaign.rubric.dimensions.all()]
    verdict_variants = [
        (
            json.dumps({code: rng.choice((-1, 0, 1)) for code in rubric_codes}),
            json.dumps({code: rng.choice((-1, 0, 1)) for code in dimension_codes}),
        )
        for _ in range(64)
    ]
    overlap = campaign.overlap
    tables = {model: model._meta.db_table for model in (Video, VideoPair, Assignment, PairJudgment)}
    video_id, pair_id = _next_id(tables[Video]), _next_id(tables[VideoPair])
    assignment_id, judgment_id = _next_id(tables[Assignment]), _next_id(tables[PairJudgment])
    judged = [rng.random() < judged_share for _ in range(start, stop)]
    expert_ids = [expert.pk for expert in experts]

    def videos():
        for index in range(2 * start, 2 * stop):
            name = f"scale-{index}"
            yield (
                video_id + index - 2 * start, f"videos/original/{name}.mp4", f"{name}.mp4",
                f"{index:064x}", 1, 5.0, 24.0, 640, 360, "h264", 120, False, "", "",
                f"videos/proxy/{name}.mp4", f"videos/poster/{name}.jpg", Video.Status.READY, "", NOW,
            )  # fmt: skip

    def pairs():
        for offset, index in enumerate(range(start, stop)):
            yield (
                pair_id + offset, campaign.pk, f"pair-{index:07d}", f"prompt {index % 997}",
                video_id + 2 * offset, video_id + 2 * offset + 1, overlap if judged[offset] else 0, NOW, "{}",
            )  # fmt: skip

    def slots():
        number = 0
        for offset, index in enumerate(range(start, stop)):
            if judged[offset]:
                for k in range(overlap):
                    yield number, pair_id + offset, expert_ids[(index + k) % len(expert_ids)]
                    number += 1

    # Task numbers go on from each expert's last, as assignment_create numbers them.
    last_task_number = dict(
        Assignment.objects.filter(campaign=campaign)
        .values("expert_id")
        .annotate(last=Max("task_number"))
        .values_list("expert_id", "last")
    )

    def assignments():
        for number, pair, expert_id in slots():
            last_task_number[expert_id] = (last_task_number.get(expert_id) or 0) + 1
            yield (
                assignment_id + number, campaign.pk, pair, expert_id, number % 2 == 0,
                Assignment.Status.SUBMITTED, "{}", NOW, NOW, NOW, 60.0, last_task_number[expert_id],
            )  # fmt: skip

    def judgments():
        for number, _pair, _expert in slots():
            criteria, dimensions = verdict_variants[number % len(verdict_variants)]
            yield (
                judgment_id + number, assignment_id + number, criteria, dimensions,
                '{"A": {}, "B": {}}', "", 1, NOW, NOW,
            )  # fmt: skip

    counts = {
        "videos": _copy(tables[Video], VIDEO_COLUMNS, videos()),
        "pairs": _copy(tables[VideoPair], PAIR_COLUMNS, pairs()),
        "assignments": _copy(tables[Assignment], ASSIGNMENT_COLUMNS, assignments()),
        "judgments": _copy(tables[PairJudgment], JUDGMENT_COLUMNS, judgments()),
    }
    _sequences_reset(*tables.values())
    return counts


def _candidate_query_buffers(*, expert, campaign) -> tuple[int, str]:
    """Shared buffers (8 kB pages) the candidate query touched, and the plan's node types, from EXPLAIN ANALYZE."""
    from django.db import connection

    from annotation import selectors

    captured = []
    queryset_sql = selectors.pair_candidates_queryset(
        expert=expert, campaign_id=campaign.pk, overlap=campaign.overlap, limit=20
    ).query.sql_with_params()
    sql, params = queryset_sql
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0][0]["Plan"]

    def walk(node):
        captured.append(node["Node Type"] + (f" on {node['Relation Name']}" if "Relation Name" in node else ""))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0), ", ".join(captured)


def queue_model_attach(*, campaign, doubted_share: float) -> None:
    """Model-in-the-loop queue: a registered model (database rows only) whose run on the campaign stored a verdict
    for every pair without one, "comparable" (doubted) for `doubted_share` of them at random, else "A"; the campaign
    follows it (campaign_queue_model_set, whose recomputation is timed by the caller)."""
    from django.db import connection

    from annotation.services import campaign_queue_model_set
    from exports.models import ExportSnapshot
    from leaderboards.models import ModelJudgmentRun
    from training.models import RegisteredModel, TrainingJob

    model = RegisteredModel.objects.filter(name="scale-queue-model").first()
    if model is None:
        snapshot = ExportSnapshot.objects.create(
            campaign=campaign, format="aesrm-pairwise", options={}, path="/nonexistent-export", status="succeeded"
        )
        job = TrainingJob.objects.create(
            recipe="descore", snapshot=snapshot, run_dir="/nonexistent", status="succeeded"
        )
        model = RegisteredModel.objects.create(
            job=job, name="scale-queue-model", recipe="descore", snapshot=snapshot, run_dir="/nonexistent"
        )
    run, _ = ModelJudgmentRun.objects.get_or_create(
        model=model, campaign=campaign, defaults={"status": ModelJudgmentRun.Status.SUCCEEDED}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leaderboards_modelpairverdict (run_id, pair_id, dimensions, overall, parse_error, judged_at) "
            "SELECT %s, pair.id, '{}', CASE WHEN random() < %s THEN 0 ELSE 1 END, '', now() "
            "FROM annotation_videopair pair WHERE pair.campaign_id = %s AND NOT EXISTS ("
            "SELECT 1 FROM leaderboards_modelpairverdict verdict "
            "WHERE verdict.run_id = %s AND verdict.pair_id = pair.id)",
            [run.pk, doubted_share, campaign.pk, run.pk],
        )
    campaign_queue_model_set(campaign=campaign, model=model)


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms"


def campaign_measure(*, campaign, experts: list, rounds: int) -> dict:
    """Time next pair, the workbench page and submit, `rounds` times, over the campaign's experts in turn."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from annotation.models import ChecklistQuestion
    from annotation.services import assignment_next_for, pair_judgment_submit

    rubric = campaign.rubric
    criteria = {c.code: 1 for d in rubric.dimensions.all() for c in d.criteria.all()}
    dimensions = {d.code: 1 for d in rubric.dimensions.all()}
    question_ids = list(ChecklistQuestion.objects.filter(checklist=campaign.checklist).values_list("id", flat=True))
    timings: dict[str, list[float]] = {"next pair": [], "workbench page": [], "submit": []}
    queries: dict[str, int] = {}
    clients = {}
    for round_number in range(rounds):
        expert = experts[round_number % len(experts)]
        if expert.pk not in clients:
            clients[expert.pk] = Client(SERVER_NAME="127.0.0.1")
            clients[expert.pk].force_login(expert)
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            assignment = assignment_next_for(expert=expert)
            timings["next pair"].append((time.perf_counter() - started) * 1000)
        queries["next pair"] = len(captured)
        url = reverse("workbench", kwargs={"assignment_id": assignment.pk})
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = clients[expert.pk].get(url)
            timings["workbench page"].append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
        queries["workbench page"] = len(captured)
        pair = assignment.pair
        checklist = {video_id: dict.fromkeys(question_ids, "yes") for video_id in (pair.video_a_id, pair.video_b_id)}
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            pair_judgment_submit(assignment=assignment, criteria=criteria, dimensions=dimensions, checklist=checklist)
            timings["submit"].append((time.perf_counter() - started) * 1000)
        queries["submit"] = len(captured)
    buffers, plan = _candidate_query_buffers(expert=experts[0], campaign=campaign)
    return {"timings": timings, "queries": queries, "candidate_buffers": buffers, "candidate_plan": plan}


def run(
    *,
    sizes: list[int],
    experts_count: int,
    judged_share: float,
    rounds: int,
    database_url: str,
    queue_model_doubts: float | None = None,
) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from annotation.services import campaign_create, campaign_member_add
    from benchmarks.support import analyze

    call_command("migrate", verbosity=0)
    campaign = campaign_create(name="scale", overlap=3)
    user_model = get_user_model()
    experts = []
    for index in range(experts_count):
        user = user_model.objects.create_user(username=f"scale-expert-{index}", password="bench-password")
        campaign_member_add(campaign=campaign, user=user, role="expert")
        experts.append(user)
    filled = 0
    print(f"scale mode on {database_url.rsplit('/', 1)[1]}: {experts_count} experts, overlap 3, "
          f"{judged_share:.0%} of pairs fully judged, {rounds} rounds per size")  # fmt: skip
    for size in sizes:
        started = time.perf_counter()
        counts = campaign_fill(campaign=campaign, experts=experts, start=filled, stop=size, judged_share=judged_share)
        copied = time.perf_counter() - started
        analyze()
        filled = size
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT COUNT(*) FROM annotation_videopair), (SELECT COUNT(*) FROM annotation_pairjudgment)"
            )
            pair_total, judgment_total = cursor.fetchone()
        print(
            f"\n{pair_total:,} pairs, {judgment_total:,} judgments: filled {sum(counts.values()):,} rows by COPY in "
            f"{copied:.0f} s, ANALYZE {time.perf_counter() - started - copied:.0f} s"
        )
        if queue_model_doubts is not None:
            started = time.perf_counter()
            queue_model_attach(campaign=campaign, doubted_share=queue_model_doubts)
            campaign.refresh_from_db()
            analyze()
            print(
                f"  queue model doubting {queue_model_doubts:.0%} of pairs: verdicts stored and every priority "
                f"recomputed in {time.perf_counter() - started:.1f} s"
            )
        result = campaign_measure(campaign=campaign, experts=experts, rounds=rounds)
        for name, values in result["timings"].items():
            print(f"  {name:<15} {_summary(values)}  ({result['queries'][name]} queries)")
        print(f"  candidate query: {result['candidate_buffers']} shared buffers; plan: {result['candidate_plan']}")
