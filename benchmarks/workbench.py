"""Workbench latency under load: "next pair", the workbench page, draft autosave (and submit).

    .venv/bin/python benchmarks/workbench.py [--pairs 10000] [--experts 30] [--judgments 50000]
                                             [--clients 20] [--iterations 15] [--workers CORES]

Builds a PostgreSQL database `aeslab_bench` (dropped and re-created) with one campaign of
`--pairs` pairs, `--experts` experts and `--judgments` submitted judgments, then serves the app
with gunicorn on 127.0.0.1 (DEBUG off) and drives it with `--clients` concurrent HTTP clients,
each logged in as its own expert. Each iteration: POST next pair, GET the workbench, two draft
autosaves, and a full submit (15 criteria, 3 dimensions, 128 checklist answers).

Figures: client-observed latency over loopback and the in-app time from the `Server-Timing`
header (Django's own time, without queueing in gunicorn), median and p95 per endpoint; server CPU
per full cycle (user + system time of the gunicorn workers, of this database's PostgreSQL
backends and of the Redis server that holds Django's cache, over the run, divided by the cycles
completed) and cycles per second. Before the run, one cycle is made in-process through Django's
test client to print, per request, its queries,
its transactions (statements outside an atomic block each count one, as PostgreSQL commits each)
and its response bytes.
Checklist answers are not seeded for the 50,000 historical judgments (6.4 M rows); the
submits made during the run do write theirs.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Engineers sharing a machine pick their own database and port (BENCH_DATABASE, BENCH_PORT).
DATABASE = os.environ.get("BENCH_DATABASE", "aeslab_bench_workbench")
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
SCALE_DATABASE_URL = f"{DATABASE_URL}_scale"  # its own, so a load run does not drop a million pairs
PORT = int(os.environ.get("BENCH_PORT", "8765"))


def _seed(pairs: int, experts: int, judgments: int) -> list[str]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from annotation.models import Assignment, PairJudgment, VideoPair
    from annotation.services import campaign_create, campaign_member_add
    from benchmarks.support import analyze, videos_and_pairs_bulk_create

    call_command("migrate", verbosity=0)
    overlap = max(1, -(-judgments // pairs) + 1)
    campaign = campaign_create(name="bench", overlap=overlap)
    user_model = get_user_model()
    expert_group = Group.objects.get(name="expert")
    users = []
    for index in range(experts):
        user = user_model.objects.create_user(username=f"bench-expert-{index}", password="bench-password")
        user.groups.add(expert_group)
        campaign_member_add(campaign=campaign, user=user, role="expert")
        users.append(user)

    pair_rows = videos_and_pairs_bulk_create(
        campaign=campaign, count=pairs, prefix="bench", prompt_for=lambda index: f"prompt {index % 997}"
    )
    rubric_codes = [c.code for d in campaign.rubric.dimensions.all() for c in d.criteria.all()]
    rng = random.Random(0)
    assignments, counts = [], defaultdict(int)
    slot = 0
    while len(assignments) < judgments:
        pair = pair_rows[slot % pairs]
        expert = users[(slot // pairs + slot) % experts]
        slot += 1
        if counts[pair.id] >= overlap - 1 or (pair.id, expert.id) in {
            (a.pair_id, a.expert_id) for a in assignments[-experts:]
        }:
            continue
        counts[pair.id] += 1
        assignments.append(
            Assignment(
                campaign=campaign,
                pair=pair,
                expert=expert,
                swapped=rng.random() < 0.5,
                status=Assignment.Status.SUBMITTED,
                time_spent_seconds=60,
            )
        )
    Assignment.objects.bulk_create(assignments, batch_size=5000, ignore_conflicts=True)
    saved = list(Assignment.objects.filter(campaign=campaign).values_list("id", "pair_id"))
    PairJudgment.objects.bulk_create(
        (
            PairJudgment(
                assignment_id=assignment_id,
                criteria={code: rng.choice((-1, 0, 1)) for code in rubric_codes},
                dimensions={code: rng.choice((-1, 0, 1)) for code in ("VA", "VF", "VP")},
                severe={"A": {}, "B": {}},
            )
            for assignment_id, _ in saved
        ),
        batch_size=5000,
    )
    per_pair = defaultdict(int)
    for _, pair_id in saved:
        per_pair[pair_id] += 1
    for pair_id, count in per_pair.items():
        VideoPair.objects.filter(pk=pair_id).update(assigned_count=count)
    analyze()  # as autovacuum would after a bulk load; the planner needs real row counts
    print(f"seeded {pairs} pairs, {experts} experts, {len(saved)} judgments (overlap {overlap})")
    return [user.username for user in users]


class TransactionCounter:
    """Transactions the default connection commits or rolls back while counting: each statement run outside an
    atomic block (autocommit) and each outermost atomic block."""

    def __init__(self):
        self.count = 0

    def __enter__(self):
        from django.db import connection

        self.connection = connection
        self._commit, self._rollback = connection.commit, connection.rollback
        connection.commit = self._counted(self._commit)
        connection.rollback = self._counted(self._rollback)
        self._wrapper = connection.execute_wrapper(self._statement)
        self._wrapper.__enter__()
        return self

    def _counted(self, method):
        def counted():
            self.count += 1
            return method()

        return counted

    def _statement(self, execute, sql, params, many, context):
        if not self.connection.in_atomic_block:
            self.count += 1
        return execute(sql, params, many, context)

    def __exit__(self, *exc):
        self._wrapper.__exit__(*exc)
        self.connection.commit, self.connection.rollback = self._commit, self._rollback


def _cycle_instrumented(username: str) -> list[tuple[str, int, int, int]]:
    """One full cycle in-process: (request, queries, transactions, response bytes) for each of its requests."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    client = DjangoClient(SERVER_NAME="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=username))
    rows = []

    def request(name: str, method: str, url: str, data=None):
        with CaptureQueriesContext(connection) as queries, TransactionCounter() as transactions:
            response = getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
        assert response.status_code < 400, (name, response.status_code)
        rows.append((name, len(queries), transactions.count, len(response.content)))
        return response

    workbench_url = request("next pair", "post", "/work/next/").headers["location"]
    page = request("workbench page", "get", workbench_url).content.decode()
    form = _form_from_page(page)
    request("draft autosave", "post", workbench_url + "draft/", dict(list(form.items())[:10]))
    request("draft autosave", "post", workbench_url + "draft/", form)
    request("submit", "post", workbench_url + "submit/", {**form, "then": "home"})
    return rows


def _form_from_page(page: str) -> dict:
    """Every verdict and checklist question of the page answered, as the browser would post them."""
    names = sorted(set(re.findall(r'name="((?:criterion|dimension|checklist-left|checklist-right)-[\w-]+)"', page)))
    form = {"base_revision": "0", "time_spent_seconds": "30"}
    for name in names:
        form[name] = "yes" if name.startswith("checklist") else random.choice(("left", "same", "right"))
    return form


def _cpu_seconds(processes) -> dict[int, float]:
    """User + system CPU seconds so far, per process id."""
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def _server_processes(server_pid: int) -> list:
    """The gunicorn workers, this database's PostgreSQL backends and the Redis server (the cache; whatever else
    uses it during the run is counted too, so the figure errs high)."""
    import psycopg

    workers = psutil.Process(server_pid).children(recursive=True)
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        backend_pids = [
            row[0]
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [DATABASE]
            )
        ]
    backends = []
    for pid in backend_pids:
        try:
            backends.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    redis_servers = [process for process in psutil.process_iter(["name"]) if process.info["name"] == "redis-server"]
    return workers + backends + redis_servers


class Client:
    def __init__(self, username: str, timings: dict, lock: threading.Lock):
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{PORT}", follow_redirects=False, timeout=30)
        self.username = username
        self.timings = timings
        self.lock = lock

    def _record(self, name: str, response: httpx.Response, elapsed: float) -> None:
        match = re.search(r"app;dur=([\d.]+)", response.headers.get("server-timing", ""))
        with self.lock:
            self.timings[name]["client"].append(elapsed * 1000)
            if match:
                self.timings[name]["server"].append(float(match.group(1)))

    def request(self, name: str, method: str, url: str, **kwargs) -> httpx.Response:
        started = time.perf_counter()
        response = self.http.request(method, url, **kwargs)
        self._record(name, response, time.perf_counter() - started)
        if response.status_code >= 400:
            raise RuntimeError(f"{name} {url} -> {response.status_code}: {response.text[:300]}")
        return response

    def csrf(self) -> str:
        return self.http.cookies.get("csrftoken", "")

    def login(self) -> None:
        self.http.get("/accounts/login/")
        response = self.http.post(
            "/accounts/login/",
            data={"username": self.username, "password": "bench-password", "csrfmiddlewaretoken": self.csrf()},
        )
        assert response.status_code == 302, response.text[:300]

    def iteration(self) -> None:
        headers = {"X-CSRFToken": self.csrf()}
        next_response = self.request("next pair", "POST", "/work/next/", headers=headers)
        workbench_url = next_response.headers["location"]
        page = self.request("workbench page", "GET", workbench_url).text
        draft_url = workbench_url + "draft/"
        form = _form_from_page(page)
        self.request("draft autosave", "POST", draft_url, data=dict(list(form.items())[:10]), headers=headers)
        self.request("draft autosave", "POST", draft_url, data=form, headers=headers)
        self.request("submit", "POST", workbench_url + "submit/", data={**form, "then": "home"}, headers=headers)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10000)
    parser.add_argument("--experts", type=int, default=30)
    parser.add_argument("--judgments", type=int, default=50000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=15, help="Iterations per client.")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count(), help="gunicorn worker processes (default: one per core)."
    )
    parser.add_argument(
        "--scale",
        help="Scale mode instead: comma-separated campaign sizes in pairs (e.g. 10000,1000000), filled by COPY one "
        "after the other; next pair, the workbench page and submit are timed at each (benchmarks/workbench_scale.py).",
    )
    parser.add_argument("--judged-share", type=float, default=0.9, help="Scale mode: share of pairs fully judged.")
    parser.add_argument("--rounds", type=int, default=40, help="Scale mode: next/page/submit rounds per size.")
    parser.add_argument(
        "--queue-model-doubts",
        type=float,
        help="Scale mode: give the campaign a queue model (model-in-the-loop queue) that calls this share of pairs "
        "comparable, so the queue is ordered by its priorities.",
    )
    args = parser.parse_args()

    static_root = tempfile.mkdtemp(prefix="aeslab-bench-static-")
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DATABASE_URL": DATABASE_URL,
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-secret-key-benchmark-secret-key-benchmark-secret-key",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "STATIC_ROOT": static_root,
        "LOG_LEVEL": "WARNING",
        # Django's cache as deployed (docker-compose, README "Production"): shared by the workers in Redis, so the
        # session is read from it. BENCH_CACHE_URL=locmemcache:// measures a cache per process (sessions from the
        # database).
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/15"),
    }
    environment.pop("CELERY_BROKER_URL", None)
    os.environ.update(environment)
    from benchmarks.support import database_prepare

    if args.scale:
        environment["DATABASE_URL"] = os.environ["DATABASE_URL"] = SCALE_DATABASE_URL
    database_prepare(environment["DATABASE_URL"])
    if environment["CACHE_URL"].startswith("redis"):
        import redis

        redis.Redis.from_url(environment["CACHE_URL"]).flushdb()  # sessions and markup of an earlier run's database
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=environment, check=True
    )
    if args.scale:
        from benchmarks import workbench_scale

        sizes = [int(size) for size in args.scale.split(",")]
        workbench_scale.run(
            sizes=sizes,
            experts_count=args.experts,
            judged_share=args.judged_share,
            rounds=args.rounds,
            database_url=SCALE_DATABASE_URL,
            queue_model_doubts=args.queue_model_doubts,
        )
        return
    usernames = _seed(args.pairs, args.experts, args.judgments)
    # One cycle in-process by an expert who is not among the load's clients.
    cycle = _cycle_instrumented(usernames[-1])
    print(f"{'one cycle, in-process':<22} {'queries':>8} {'transactions':>13} {'bytes':>9}")
    for name, queries, transactions, size in cycle:
        print(f"{name:<22} {queries:>8} {transactions:>13} {size:>9,}")
    print(
        f"{'whole cycle':<22} {sum(row[1] for row in cycle):>8} {sum(row[2] for row in cycle):>13} "
        f"{sum(row[3] for row in cycle):>9,}"
    )
    from django.db import connection

    connection.close()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "webapp.wsgi:application",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            # A worker's first request imports the URL conf and its apps; on a busy machine that outlasts
            # gunicorn's default 30 s and the worker is killed over and over.
            "--timeout",
            "300",
        ],
        cwd=ROOT,
        env=environment,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{PORT}/accounts/login/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        timings: dict = defaultdict(lambda: {"client": [], "server": []})
        lock = threading.Lock()
        clients = [Client(username, timings, lock) for username in usernames[: args.clients]]
        for client in clients:
            client.login()
        errors: list[str] = []

        def run(client: Client) -> None:
            try:
                for _ in range(args.iterations):
                    client.iteration()
            except Exception as error:  # reported below; the benchmark must not hide failures
                errors.append(f"{client.username}: {error}")

        cpu_before = _cpu_seconds(_server_processes(server.pid))
        started = time.perf_counter()
        threads = [threading.Thread(target=run, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        cpu_after = _cpu_seconds(_server_processes(server.pid))
        server_cpu = sum(seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items())
    finally:
        server.terminate()
        server.wait(timeout=30)

    total = sum(len(t["client"]) for t in timings.values())
    print(
        f"{args.clients} clients x {args.iterations} iterations, {args.workers} gunicorn workers on "
        f"{os.cpu_count()} cores: {total} requests in {wall:.1f} s ({total / wall:.0f} req/s)"
    )
    print(f"{'endpoint':<16} {'n':>5} {'client p50':>11} {'client p95':>11} {'server p50':>11} {'server p95':>11}")
    for name in ("next pair", "workbench page", "draft autosave", "submit"):
        client_ms, server_ms = timings[name]["client"], timings[name]["server"]
        if not client_ms:
            continue
        print(
            f"{name:<16} {len(client_ms):>5} "
            f"{statistics.median(client_ms):>9.1f}ms {_percentile(client_ms, 0.95):>9.1f}ms "
            f"{statistics.median(server_ms):>9.1f}ms {_percentile(server_ms, 0.95):>9.1f}ms"
        )
    cycles = len(timings["submit"]["client"])
    if cycles:
        print(
            f"{cycles} full cycles in {wall:.1f} s: {cycles / wall:.1f} cycles/s; server CPU (gunicorn workers + "
            f"PostgreSQL backends + Redis) {server_cpu:.1f} s = {1000 * server_cpu / cycles:.1f} ms per cycle"
        )
    if errors:
        print(f"{len(errors)} clients failed; first: {errors[0]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
