"""The dashboard's report is computed in the background and stored: the page answers from the stored one, with its
age, asks for a recompute on a first visit, and judgments, gold answers, adjudications and the lock make it stale.
A burst of submits enqueues one recompute. The last test runs a real Celery worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agreement.models import DashboardReport
from agreement.services import (
    adjudication_record,
    dashboard_report_compute,
    dashboard_reports_mark_stale,
    gold_label_set,
)
from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.services import campaign_lock
from webapp.testing import wait_until


def dashboard(client, campaign, **params):
    return client.get(reverse("agreement-dashboard", args=[campaign.pk]), params)


def status(client, campaign, **params):
    return client.get(reverse("agreement-dashboard-status", args=[campaign.pk]), params)


def judged_campaign(curator, *, pairs: int = 3, name: str = "stored"):
    """Two experts agree on every pair but the last."""
    campaign = campaign_make(name=name, pairs=pairs, overlap=2, members={curator: "curator"})
    ann, ben = expert_make(f"ann-{name}", campaign), expert_make(f"ben-{name}", campaign)
    for index, pair in enumerate(campaign.pairs.order_by("pk")):
        judge(pair, ann, VA1=1, VP=1)
        judge(pair, ben, VA1=1 if index < pairs - 1 else -1, VP=1)
    return campaign


@pytest.fixture
def with_a_broker():
    """As in production, tasks are sent to a broker rather than run in the process (these tests capture them at
    commit and never send them)."""
    from webapp.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


def enqueued_by(committed, capture) -> list:
    """The tasks the on-commit callbacks of a change enqueue in their turn (each enqueues on commit too)."""
    sent = []
    for callback in committed:
        with capture() as more:
            callback()
        sent += more
    return sent


def computed(campaign) -> DashboardReport:
    """What the worker does for each requested report of the campaign (the default one asked for if need be)."""
    DashboardReport.objects.get_or_create(campaign=campaign, levels="")
    dashboard_reports_mark_stale(campaign_id=campaign.pk)
    for report_id in DashboardReport.objects.filter(campaign=campaign).values_list("pk", flat=True):
        dashboard_report_compute(report_id=report_id)
    return DashboardReport.objects.get(campaign=campaign, levels="")


@pytest.mark.django_db
class TestInProcess:
    def test_a_first_visit_asks_for_the_report_and_says_it_is_being_computed(
        self, client, curator, django_capture_on_commit_callbacks
    ):
        campaign = judged_campaign(curator)
        client.force_login(curator)

        with django_capture_on_commit_callbacks() as enqueued:
            response = dashboard(client, campaign)
        html = response.content.decode()

        assert response.status_code == 200
        assert len(enqueued) == 1
        assert DashboardReport.objects.get(campaign=campaign).requested_at is not None
        assert 'data-testid="first-computation"' in html and "Not computed yet" in html
        assert "every 2s" in html  # the status line polls until the report is there
        assert "data:image/svg+xml" not in html

    def test_once_computed_the_page_shows_the_figures_and_their_age_and_stops_polling(self, client, curator):
        campaign = judged_campaign(curator)
        client.force_login(curator)
        dashboard(client, campaign)
        computed(campaign)

        response = dashboard(client, campaign)
        html = response.content.decode()

        assert response.context["report"].n_judgments == 6
        assert "Computed <time" in html and "just now" in html and "up to date" in html
        assert "every 2s" not in html
        assert html.count("data:image/svg+xml") == 3

    def test_the_age_reads_in_minutes(self, client, curator):
        campaign = judged_campaign(curator)
        client.force_login(curator)
        dashboard(client, campaign)
        computed(campaign)
        DashboardReport.objects.filter(campaign=campaign).update(computed_at=timezone.now() - timedelta(minutes=2))

        assert "2 min ago" in dashboard(client, campaign).content.decode()

    def test_a_submit_makes_the_stored_report_stale_and_the_recompute_shows_the_new_judgment(
        self, client, curator, django_capture_on_commit_callbacks, with_a_broker
    ):
        campaign = judged_campaign(curator)
        client.force_login(curator)
        dashboard(client, campaign)
        computed(campaign)
        newcomer = expert_make("cat", campaign)

        with django_capture_on_commit_callbacks() as submitted:
            judge(campaign.pairs.order_by("pk").first(), newcomer, VA1=1)
        # The judgment is committed: annotation says so, agreement marks its report and enqueues the recompute.
        enqueued = enqueued_by(submitted, django_capture_on_commit_callbacks)
        stale = dashboard(client, campaign)

        assert len(enqueued) == 1
        assert stale.context["report"].n_judgments == 6  # the last report, shown while the new one is computed
        assert "recomputing with the latest judgments" in stale.content.decode()
        assert "every 2s" in stale.content.decode()
        assert dashboard_report_compute(report_id=DashboardReport.objects.get(campaign=campaign).pk)  # the worker
        assert dashboard(client, campaign).context["report"].n_judgments == 7

    def test_a_burst_of_submits_enqueues_one_recompute(
        self, curator, django_capture_on_commit_callbacks, with_a_broker
    ):
        campaign = judged_campaign(curator)
        computed(campaign)
        experts = [expert_make(f"burst-{index}", campaign) for index in range(3)]

        with django_capture_on_commit_callbacks() as submitted:
            for expert in experts:
                judge(campaign.pairs.order_by("pk").first(), expert, VA1=-1)

        assert len(submitted) == 3
        assert len(enqueued_by(submitted, django_capture_on_commit_callbacks)) == 1

    @pytest.mark.parametrize("change", ["gold", "adjudication", "lock"])
    def test_gold_answers_adjudications_and_the_lock_make_the_report_stale(
        self, curator, change, django_capture_on_commit_callbacks, with_a_broker
    ):
        campaign = judged_campaign(curator)
        computed(campaign)
        pair = campaign.pairs.order_by("pk").last()

        with django_capture_on_commit_callbacks() as committed:
            if change == "gold":
                gold_label_set(pair=pair, set_by=curator, criteria={"VA1": 1}, dimensions={})
            elif change == "adjudication":
                adjudication_record(pair=pair, adjudicated_by=curator, criteria={"VA1": 1}, dimensions={}, reason="A")
            else:
                campaign_lock(campaign=campaign)

        assert len(enqueued_by(committed, django_capture_on_commit_callbacks)) == 1
        assert DashboardReport.objects.get(campaign=campaign).requested_at is not None

    def test_without_a_broker_a_submit_only_marks_the_report_and_the_next_visit_computes_it(
        self, client, curator, django_capture_on_commit_callbacks
    ):
        """Tasks run in the process: a recompute per submit would slow every expert's submit (and every line of an
        import) down by the whole report."""
        campaign = judged_campaign(curator)
        client.force_login(curator)
        dashboard(client, campaign)
        computed(campaign)

        with django_capture_on_commit_callbacks() as submitted:
            judge(campaign.pairs.order_by("pk").first(), expert_make("cat", campaign), VA1=1)
        enqueued = enqueued_by(submitted, django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            page = dashboard(client, campaign)

        assert enqueued == []
        assert DashboardReport.objects.get(campaign=campaign).requested_at is None
        assert dashboard(client, campaign).context["report"].n_judgments == 7
        assert page.status_code == 200

    def test_a_recompute_delivered_twice_computes_once(self, curator):
        campaign = judged_campaign(curator)
        report = DashboardReport.objects.create(campaign=campaign, requested_at=timezone.now())

        assert dashboard_report_compute(report_id=report.pk) is True
        assert dashboard_report_compute(report_id=report.pk) is False

    def test_the_status_line_reloads_the_page_once_a_newer_report_is_stored(self, client, curator):
        campaign = judged_campaign(curator)
        client.force_login(curator)
        dashboard(client, campaign)
        before = DashboardReport.objects.get(campaign=campaign)
        computed(campaign)

        waiting = status(client, campaign, shown="")
        after = DashboardReport.objects.get(campaign=campaign)
        current = status(client, campaign, shown=after.computed_at.isoformat())

        assert before.computed_at is None
        assert waiting["HX-Refresh"] == "true"
        assert "HX-Refresh" not in current and "every 2s" not in current.content.decode()

    def test_a_request_lost_for_minutes_is_asked_again_on_the_next_visit(
        self, client, curator, django_capture_on_commit_callbacks, with_a_broker
    ):
        campaign = judged_campaign(curator)
        lost_at = timezone.now() - timedelta(minutes=6)
        DashboardReport.objects.create(campaign=campaign, requested_at=lost_at)  # the broker was down
        client.force_login(curator)

        with django_capture_on_commit_callbacks() as enqueued:
            dashboard(client, campaign)

        assert len(enqueued) == 1
        assert DashboardReport.objects.get(campaign=campaign).requested_at > lost_at

    def test_a_report_stored_in_an_older_format_is_computed_again(
        self, client, curator, django_capture_on_commit_callbacks
    ):
        campaign = judged_campaign(curator)
        DashboardReport.objects.create(campaign=campaign, content={"version": 0}, computed_at=timezone.now())
        client.force_login(curator)

        with django_capture_on_commit_callbacks() as enqueued:
            html = dashboard(client, campaign).content.decode()

        assert len(enqueued) == 1 and 'data-testid="first-computation"' in html

    def test_each_level_of_measurement_has_its_own_stored_report(self, client, curator):
        campaign = judged_campaign(curator)
        client.force_login(curator)
        dashboard(client, campaign)
        dashboard(client, campaign, verdict_level="nominal")
        dashboard(client, campaign, verdict_level="ordinal")  # the default: the same report as no override
        computed(campaign)

        assert sorted(DashboardReport.objects.values_list("levels", flat=True)) == ["", "verdicts=nominal"]
        assert "verdicts at the nominal level" in dashboard(client, campaign, verdict_level="nominal").content.decode()

    def test_the_page_makes_as_many_queries_at_thirty_pairs_as_at_three(
        self, client, curator, django_assert_max_num_queries
    ):
        small, large = judged_campaign(curator, pairs=3, name="small"), judged_campaign(curator, pairs=30, name="large")
        client.force_login(curator)
        for campaign in (small, large):
            dashboard(client, campaign)
            computed(campaign)
            gold_label_set(pair=campaign.pairs.first(), set_by=curator, criteria={"VA1": 1}, dimensions={})

        for campaign, pairs in ((small, 3), (large, 30)):
            with django_assert_max_num_queries(11):  # sign-in, rights, navigation, the stored report, gold pairs
                response = dashboard(client, campaign, first=0, second=1, variable="VA1")
            # ann said A better on every pair, ben too except on the last (B better)
            assert response.context["confusion"].rows[2] == ["A better", 1, 0, pairs - 1]


@pytest.mark.worker
def test_a_submit_makes_the_worker_recompute_and_the_page_shows_the_new_figures(client, curator, start_worker):
    campaign = judged_campaign(curator)
    worker = start_worker()
    client.force_login(curator)

    dashboard(client, campaign)  # the first visit sends the first computation to the worker
    first = wait_until(
        lambda: DashboardReport.objects.filter(campaign=campaign, computed_at__isnull=False).first(),
        timeout=90,
        message="the first report",
    )
    assert dashboard(client, campaign).context["report"].n_judgments == 6

    for name in ("cat", "dan", "eve"):  # a burst: one recompute for all three
        judge(campaign.pairs.order_by("pk").first(), expert_make(name, campaign), VA1=1)
    assert "recomputing with the latest judgments" in dashboard(client, campaign).content.decode()

    wait_until(
        lambda: DashboardReport.objects.filter(
            campaign=campaign, computed_at__gt=first.computed_at, requested_at=None, started_at=None
        ).exists(),
        timeout=90,
        message="the recomputed report",
    )
    page = dashboard(client, campaign)
    computations = [line for line in worker.log().splitlines() if "dashboard_report_compute_task" in line]

    assert page.context["report"].n_judgments == 9
    assert "up to date" in page.content.decode()
    assert sum("succeeded" in line and line.endswith(": True") for line in computations) == 2
