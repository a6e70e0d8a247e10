"""Agreement report at full scale: 2,500 pairs x 3 experts x (15 criteria + 3 dimensions + the whole checklist of
both videos), read from PostgreSQL, with the bootstrap.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/aeslab_bench_agreement .venv/bin/python benchmarks/agreement.py \
        [--pairs 2500] [--experts 3] [--resamples 200] [--repeats 5] [--reseed]

The database is created and migrated if missing. The campaign is seeded once with bulk inserts (synthetic
verdicts: each expert agrees with a latent label 70% of the time; checklist answers likewise, drawn per question
without the progressive rules, which do not change the amount of data; stored as a submit stores them, as
ChecklistAnswer rows and packed on the judgment) and reused by later runs; --reseed
rebuilds it. Timed, each as the median of --repeats runs in a fresh connection:
- ratings: every judgment and checklist answer into arrays (the database part);
- report: alphas with bootstrap intervals, Fleiss' kappa, percent agreement, per-expert numbers, Cohen's kappas;
- end to end: `agreement_report_for(campaign=...)`, what the dashboard and `manage.py agreement` call;
- consensus: `consensus_for_campaign`, with the number of queries it makes;
- stored report: `dashboard_report_compute`, what the Celery task runs after judgments change (ratings, report,
  confusion counts, queue size, the three charts, stored as JSON); issue 16's goal is 5 s at 10,000 pairs;
- dashboard page: GET /campaigns/<id>/agreement/ through Django's test client, answered from the stored report,
  with its queries and bytes; goal 200 ms.

Issue 16's figures: `--pairs 10000 --experts 3`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CAMPAIGN = "bench-agreement"


def _seed(*, pairs: int, experts: int, seed: int) -> None:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from agreement.models import GoldLabel
    from annotation.models import (
        Assignment,
        Campaign,
        ChecklistAnswer,
        ChecklistQuestion,
        Criterion,
        PairJudgment,
    )
    from annotation.services import campaign_create
    from benchmarks.support import analyze, videos_and_pairs_bulk_create

    rng = np.random.default_rng(seed)
    Campaign.objects.filter(name=CAMPAIGN).delete()
    with transaction.atomic():
        campaign = campaign_create(name=CAMPAIGN, overlap=experts)
        codes = list(Criterion.objects.filter(dimension__rubric=campaign.rubric).values_list("code", flat=True))
        dimensions = list(campaign.rubric.dimensions.values_list("code", flat=True))
        question_ids = list(
            ChecklistQuestion.objects.filter(checklist=campaign.checklist).order_by("id").values_list("id", flat=True)
        )
        pair_rows = videos_and_pairs_bulk_create(
            campaign=campaign,
            count=pairs,
            prefix=f"bench-{campaign.pk}",
            prompt_for=lambda _: "benchmark",
            assigned_count=experts,
        )
        User = get_user_model()
        users = [User.objects.get_or_create(username=f"bench-expert-{e}")[0] for e in range(experts)]
        assignments = Assignment.objects.bulk_create(
            Assignment(
                campaign=campaign,
                pair=pair,
                expert=user,
                swapped=bool(rng.integers(2)),
                status=Assignment.Status.SUBMITTED,
                submitted_at=timezone.now(),
                time_spent_seconds=float(rng.gamma(4.0, 40.0)),
            )
            for pair in pair_rows
            for user in users
        )
        answers = np.array(["no", "yes", "na"])
        packed_of = np.array(["n", "y", "a"])
        video_truth = rng.choice(3, size=(2 * pairs, len(question_ids)), p=[0.45, 0.45, 0.10])
        given = np.empty((len(assignments), 2, len(question_ids)), dtype=np.int64)
        for i in range(len(assignments)):
            for side in (0, 1):
                agree = rng.random(len(question_ids)) < 0.8
                random_answers = rng.choice(3, size=len(question_ids))
                given[i, side] = np.where(agree, video_truth[2 * (i // experts) + side], random_answers)
        keys = codes + dimensions
        truth = rng.integers(-1, 2, size=(pairs, len(keys)))
        noise = rng.integers(-1, 2, size=(pairs, experts, len(keys)))
        verdicts = np.where(rng.random((pairs, experts, len(keys))) < 0.7, truth[:, None, :], noise)
        PairJudgment.objects.bulk_create(
            (
                PairJudgment(
                    assignment=assignment,
                    criteria={
                        code: int(v)
                        for code, v in zip(codes, verdicts[i // experts, i % experts, : len(codes)], strict=True)
                    },
                    dimensions={
                        code: int(v)
                        for code, v in zip(dimensions, verdicts[i // experts, i % experts, len(codes) :], strict=True)
                    },
                    severe={"A": {}, "B": {}},
                    checklist_a="".join(packed_of[given[i, 0]]),
                    checklist_b="".join(packed_of[given[i, 1]]),
                )
                for i, assignment in enumerate(assignments)
            ),
            batch_size=2000,
        )
        batch = []
        for i, assignment in enumerate(assignments):
            pair_index = i // experts
            for side in (0, 1):
                batch.extend(
                    ChecklistAnswer(
                        video_id=pair_rows[pair_index].video_a_id if side == 0 else pair_rows[pair_index].video_b_id,
                        question_id=question_id,
                        annotator_id=assignment.expert_id,
                        assignment=assignment,
                        answer=answers[code],
                    )
                    for question_id, code in zip(question_ids, given[i, side], strict=True)
                )
            if len(batch) >= 50_000:
                ChecklistAnswer.objects.bulk_create(batch, batch_size=10_000)
                batch = []
        ChecklistAnswer.objects.bulk_create(batch, batch_size=10_000)
        GoldLabel.objects.bulk_create(
            GoldLabel(
                pair=pair,
                criteria={code: int(truth[i, k]) for k, code in enumerate(codes)},
                dimensions={code: int(truth[i, len(codes) + k]) for k, code in enumerate(dimensions)},
                set_by=users[0],
                set_at=timezone.now(),
            )
            for i, pair in enumerate(pair_rows[:50])
        )
    analyze()  # fresh statistics, as autovacuum would have gathered on a campaign filled over weeks


def _timed(function, repeats: int) -> tuple[float, float, object, float]:
    """Median and minimum wall time, the result, and the median CPU time of this process (the database server's
    work is not in it): on a shared machine the CPU time shows how much of the wall time is ours."""
    from django.db import connection

    times, cpu_times, result = [], [], None
    for _ in range(repeats):
        connection.close()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = function()
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    return statistics.median(times), min(times), result, statistics.median(cpu_times)


def _figures(median: float, minimum: float, cpu: float) -> dict[str, float]:
    return {"median": round(median, 3), "min": round(minimum, 3), "cpu_median": round(cpu, 3)}


def _stored_report_compute(campaign) -> None:
    """What the recompute task does: claim the request, compute, store. The cache is emptied first: the recompute
    follows a change of the judgments, so the Dawid-Skene fit it includes is never cached then."""
    from django.core.cache import cache
    from django.utils import timezone

    from agreement.models import DashboardReport
    from agreement.services import dashboard_report_compute

    cache.clear()
    report, _ = DashboardReport.objects.get_or_create(campaign=campaign, levels="")
    DashboardReport.objects.filter(pk=report.pk).update(requested_at=timezone.now())
    if not dashboard_report_compute(report_id=report.pk):
        raise RuntimeError("the stored report was not computed")


def _dashboard_page(campaign, *, repeats: int) -> dict:
    """The dashboard as a curator gets it, from the report stored by _stored_report_compute."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from annotation.models import Role
    from annotation.services import campaign_member_add, user_ensure

    curator = user_ensure(username="bench-curator", password="bench-curator")
    campaign_member_add(campaign=campaign, user=curator, role=Role.CURATOR)
    client = Client()
    client.force_login(curator)
    url = f"/campaigns/{campaign.pk}/agreement/"
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    page_queries = len(queries)  # now: the next request resets the query log
    if response.status_code != 200 or b"data-report-summary" not in response.content:
        raise RuntimeError(f"the dashboard did not show a stored report ({response.status_code})")
    times, cpu_times = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        client.get(url)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    return {
        "median": statistics.median(times),
        "min": min(times),
        "cpu_median": statistics.median(cpu_times),
        "queries": page_queries,
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2500)
    parser.add_argument("--experts", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reseed", action="store_true")
    arguments = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/aeslab_bench_agreement")
    if not url.startswith("postgres"):
        sys.exit("This benchmark measures the PostgreSQL path: set DATABASE_URL to a PostgreSQL database.")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from benchmarks.support import database_prepare

    database_prepare(url, fresh=False)  # the seeded campaign is reused unless --reseed
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agreement.report import report_build
    from agreement.selectors import agreement_report_for, campaign_ratings, consensus_for_campaign
    from annotation.models import Campaign, ChecklistAnswer, PairJudgment

    call_command("migrate", verbosity=0)
    campaign = Campaign.objects.filter(name=CAMPAIGN).first()
    expected = arguments.pairs * arguments.experts
    if (
        arguments.reseed
        or campaign is None
        or PairJudgment.objects.filter(assignment__campaign=campaign).count() != expected
    ):
        started = time.perf_counter()
        _seed(pairs=arguments.pairs, experts=arguments.experts, seed=0)
        print(f"seeded in {time.perf_counter() - started:.1f} s")
        campaign = Campaign.objects.get(name=CAMPAIGN)
    n_answers = ChecklistAnswer.objects.filter(assignment__campaign=campaign).count()

    ratings_median, ratings_min, ratings, ratings_cpu = _timed(
        lambda: campaign_ratings(campaign=campaign), arguments.repeats
    )
    report_median, report_min, report, report_cpu = _timed(
        lambda: report_build(
            verdicts=ratings.verdicts,
            checklist=ratings.checklist,
            swapped=ratings.swapped,
            seconds=ratings.seconds,
            gold=ratings.gold,
            n_resamples=arguments.resamples,
            seed=0,
        ),
        arguments.repeats,
    )
    total_median, total_min, _, total_cpu = _timed(
        lambda: agreement_report_for(campaign=campaign, n_resamples=arguments.resamples), arguments.repeats
    )
    with CaptureQueriesContext(connection) as queries:
        consensus = consensus_for_campaign(campaign=campaign)
    consensus_queries = len(queries)  # now: the test client's requests reset the query log
    consensus_median, consensus_min, _, consensus_cpu = _timed(
        lambda: consensus_for_campaign(campaign=campaign), arguments.repeats
    )

    stored_median, stored_min, _, stored_cpu = _timed(lambda: _stored_report_compute(campaign), arguments.repeats)
    page = _dashboard_page(campaign, repeats=max(arguments.repeats, 10))

    results = {
        "database": connection.settings_dict["NAME"],
        "pairs": len(ratings.verdicts.item_ids),
        "experts": len(ratings.verdicts.rater_ids),
        "verdict_variables": len(ratings.verdicts.variables),
        "checklist_questions": len(ratings.checklist.variables),
        "checklist_items_videos": len(ratings.checklist.item_ids),
        "checklist_answers": n_answers,
        "bootstrap_resamples": arguments.resamples,
        "alphas_reported": len(report.variables) + len(report.pooled),
        "ratings_from_db_s": _figures(ratings_median, ratings_min, ratings_cpu),
        "report_compute_s": _figures(report_median, report_min, report_cpu),
        "end_to_end_s": _figures(total_median, total_min, total_cpu),
        "consensus_for_campaign_s": _figures(consensus_median, consensus_min, consensus_cpu),
        "consensus_pairs": len(consensus),
        "stored_report_compute_s": _figures(stored_median, stored_min, stored_cpu),
        "target_stored_report_s": 5.0,
        "dashboard_page_s": _figures(page["median"], page["min"], page["cpu_median"]),
        "dashboard_page_queries": page["queries"],
        "dashboard_page_bytes": page["bytes"],
        "target_dashboard_page_s": 0.2,
        "consensus_queries": consensus_queries,
        "repeats": arguments.repeats,
        "target_end_to_end_s": 3.0,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
