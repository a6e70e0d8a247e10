"""The experts' leaderboard page before and after it was stored (issue 17): 2,500 pairs x 3 experts over 8 generators,
read from PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/aeslab_bench_leaderboard .venv/bin/python \
        benchmarks/leaderboard_page.py [--pairs 2500] [--experts 3] [--generators 8] [--repeats 5] [--reseed]

The database is created and migrated if missing; the campaign is seeded once with bulk inserts (each pair's true
verdict by the generators' strengths, evenly spaced log-strengths in [-1.5, 1.5]; each expert agrees with it 70% of
the time on every code) and reused by later runs; --reseed rebuilds it. Timed, as the median of --repeats GETs
through Django's test client as a curator, for the consensus and the reliability-weighted labels (200 resamples) and
the reliability page:
- before: the fit in the request, as it was (no stored result, the 10-minute cache empty: what a visit after a
  change got). Measured with tasks run in the process, where the page fits when its stored result is missing;
- after: the page answered from the stored result (tasks sent to a broker; the stored fingerprint matches, so
  nothing is sent), with its queries and bytes;
- background: `leaderboard_result_compute`, what the Celery task runs after judgments change.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CAMPAIGN = "bench-leaderboard"


def _seed(*, pairs: int, experts: int, generators: int, seed: int) -> None:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from annotation.models import Assignment, Campaign, Criterion, PairJudgment, Video
    from annotation.services import campaign_create
    from benchmarks.support import analyze, videos_and_pairs_bulk_create

    rng = np.random.default_rng(seed)
    names = [f"generator-{index}" for index in range(generators)]
    strengths = np.linspace(-1.5, 1.5, generators)
    Campaign.objects.filter(name=CAMPAIGN).delete()
    with transaction.atomic():
        campaign = campaign_create(name=CAMPAIGN, overlap=experts)
        codes = list(Criterion.objects.filter(dimension__rubric=campaign.rubric).values_list("code", flat=True))
        dimensions = list(campaign.rubric.dimensions.values_list("code", flat=True))
        pair_rows = videos_and_pairs_bulk_create(
            campaign=campaign,
            count=pairs,
            prefix=f"bench-{campaign.pk}",
            prompt_for=lambda _: "benchmark",
            assigned_count=experts,
        )
        matchups = [rng.choice(generators, size=2, replace=False) for _ in pair_rows]
        videos = []
        for pair, (first, second) in zip(pair_rows, matchups, strict=True):
            videos += [
                Video(pk=pair.video_a_id, source_model=names[first]),
                Video(pk=pair.video_b_id, source_model=names[second]),
            ]
        Video.objects.bulk_update(videos, ["source_model"], batch_size=5000)
        User = get_user_model()
        users = [User.objects.get_or_create(username=f"bench-expert-{e}")[0] for e in range(experts)]
        assignments = Assignment.objects.bulk_create(
            Assignment(
                campaign=campaign,
                pair=pair,
                expert=user,
                swapped=False,
                status=Assignment.Status.SUBMITTED,
                submitted_at=timezone.now(),
            )
            for pair in pair_rows
            for user in users
        )
        keys = codes + dimensions
        truth = []
        for first, second in matchups:
            win, lose = np.exp(strengths[first]), np.exp(strengths[second])
            tie = 0.5 * np.sqrt(win * lose)
            truth.append(rng.choice([1, -1, 0], size=len(keys), p=np.array([win, lose, tie]) / (win + lose + tie)))
        truth = np.array(truth)
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
                )
                for i, assignment in enumerate(assignments)
            ),
            batch_size=2000,
        )
    analyze()


def _page_times(client, url: str, *, repeats: int, before_each=None) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries, size = [], 0, 0
    for _ in range(repeats):
        if before_each:
            before_each()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        queries, size = len(captured), len(response.content)
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "queries": queries,
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2500)
    parser.add_argument("--experts", type=int, default=3)
    parser.add_argument("--generators", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reseed", action="store_true")
    arguments = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/aeslab_bench_leaderboard")
    if not url.startswith("postgres"):
        sys.exit("This benchmark measures the PostgreSQL path: set DATABASE_URL to a PostgreSQL database.")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from benchmarks.support import database_prepare

    database_prepare(url, fresh=False)
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from annotation.models import Campaign, PairJudgment, Role
    from annotation.services import campaign_member_add, user_ensure
    from leaderboards.models import LeaderboardResult
    from leaderboards.services import leaderboard_result_compute
    from webapp.celery import app

    call_command("migrate", verbosity=0)
    campaign = Campaign.objects.filter(name=CAMPAIGN).first()
    expected = arguments.pairs * arguments.experts
    if (
        arguments.reseed
        or campaign is None
        or PairJudgment.objects.filter(assignment__campaign=campaign).count() != expected
    ):
        started = time.perf_counter()
        _seed(pairs=arguments.pairs, experts=arguments.experts, generators=arguments.generators, seed=0)
        print(f"seeded in {time.perf_counter() - started:.1f} s")
        campaign = Campaign.objects.get(name=CAMPAIGN)
    curator = user_ensure(username="bench-curator", password="bench-curator")
    campaign_member_add(campaign=campaign, user=curator, role=Role.CURATOR)
    client = Client()
    client.force_login(curator)

    def forget() -> None:
        LeaderboardResult.objects.filter(campaign=campaign).delete()
        cache.clear()

    pages = {
        "consensus": f"/campaigns/{campaign.pk}/leaderboard/",
        "weighted": f"/campaigns/{campaign.pk}/leaderboard/?source=weighted",
        "reliability": f"/campaigns/{campaign.pk}/reliability/",
    }
    print(
        f"{arguments.pairs} pairs x {arguments.experts} experts, {arguments.generators} generators, "
        f"median of {arguments.repeats} requests"
    )
    for name, page_url in pages.items():
        app.conf.task_always_eager = True
        before = _page_times(client, page_url, repeats=arguments.repeats, before_each=forget)
        result = LeaderboardResult.objects.get(
            campaign=campaign, options_key__contains="reliability" if name == "reliability" else f"|{name}|"
        )
        computes = []
        for _ in range(arguments.repeats):
            cache.clear()
            LeaderboardResult.objects.filter(pk=result.pk).update(requested_at=timezone.now())
            started = time.perf_counter()
            assert leaderboard_result_compute(result_id=result.pk)
            computes.append(time.perf_counter() - started)
        app.conf.task_always_eager = False  # as in production: the page never fits, it would only enqueue
        after = _page_times(client, page_url, repeats=arguments.repeats)
        LeaderboardResult.objects.filter(pk=result.pk).update(requested_at=None)
        print(
            f"{name:>11}: before (fit in the request) {before['median_s']:.3f} s (min {before['min_s']:.3f}); "
            f"after (stored) {after['median_s']:.3f} s (min {after['min_s']:.3f}, {after['queries']} queries, "
            f"{after['bytes']} bytes); background fit {statistics.median(computes):.3f} s"
        )
    app.conf.task_always_eager = True


if __name__ == "__main__":
    main()
