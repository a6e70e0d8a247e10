"""The experts' leaderboard is fitted in the background and stored (LeaderboardResult): the page, its downloads, the
API and the reliability page answer from the stored result with its age, and never fit in the request. A first
visit asks for the fit; judgments and adjudications make the result with the default options stale (one recompute
per burst); a result with other options is asked again when a visit finds the judgments changed since. The last
test runs a real Celery worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agreement.services import adjudication_record
from agreement.tests.factories import expert_make, judge
from leaderboards import ranking, reliability
from leaderboards.models import LeaderboardResult
from leaderboards.services import leaderboard_result_compute, leaderboard_results_mark_stale
from leaderboards.tests.factories import generator_campaign, judged_generator_campaign
from webapp.testing import wait_until

ORDER = ["sora-ckpt-3", "veo-nightly", "base-v1"]


def page(client, campaign, **params):
    return client.get(reverse("leaderboard", args=[campaign.pk]), params)


def status(client, campaign, **params):
    return client.get(reverse("leaderboard-status", args=[campaign.pk]), params)


def generators_shown(response) -> list[str]:
    return [row["generator"] for row in response.context["rows"]]


def flipping_campaign(curator, *, name: str = "flip"):
    """Two pairs of pixel-one (video A) against pixel-two (B), judged by one expert who prefers pixel-one on every
    code: the leaderboard reads [pixel-one, pixel-two] until two more experts prefer pixel-two (majority of 3)."""
    campaign = generator_campaign(name=name, matchups=[("pixel-one", "pixel-two")] * 2, members={curator: "curator"})
    ann = expert_make(f"ann-{name}", campaign)
    for pair in campaign.pairs.order_by("pk"):
        judge(pair, ann, default=1)
    return campaign


def overturn(campaign, *, name: str = "flip") -> None:
    for expert in (expert_make(f"ben-{name}", campaign), expert_make(f"cat-{name}", campaign)):
        for pair in campaign.pairs.order_by("pk"):
            judge(pair, expert, default=-1)


@pytest.fixture
def no_fit_in_the_request(monkeypatch):
    """The Davidson fit and Dawid-Skene raise: a page that still answers read a stored result."""

    def refuse(*args, **kwargs):
        raise AssertionError("fitted in the request")

    monkeypatch.setattr(ranking, "ranking_fit", refuse)
    monkeypatch.setattr(reliability, "dawid_skene", refuse)


def enqueued_by(committed, capture) -> list:
    """The tasks the on-commit callbacks of a change enqueue in their turn (each enqueues on commit too)."""
    sent = []
    for callback in committed:
        with capture() as more:
            callback()
        sent += more
    return sent


def computed(campaign) -> None:
    """What the worker does for each requested result of the campaign."""
    for result_id in LeaderboardResult.objects.filter(campaign=campaign, requested_at__isnull=False).values_list(
        "pk", flat=True
    ):
        leaderboard_result_compute(result_id=result_id)


@pytest.mark.django_db
class TestWithABroker:
    def test_a_first_visit_asks_for_the_fit_and_says_it_is_being_computed(
        self, client, curator, with_a_broker, django_capture_on_commit_callbacks, no_fit_in_the_request
    ):
        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)

        with django_capture_on_commit_callbacks() as enqueued:
            response = page(client, campaign)
        html = response.content.decode()

        assert response.status_code == 200
        assert len(enqueued) == 1
        assert LeaderboardResult.objects.get(campaign=campaign).requested_at is not None
        assert 'data-testid="first-computation"' in html and "Not computed yet" in html
        assert "every 2s" in html  # the status line polls until the result is there
        assert "data-leaderboard-table" not in html

    def test_once_computed_the_page_shows_the_ranking_and_its_age_without_fitting(
        self, client, curator, with_a_broker, monkeypatch
    ):
        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)
        page(client, campaign)
        computed(campaign)
        monkeypatch.setattr(ranking, "ranking_fit", lambda *args, **kwargs: pytest.fail("fitted in the request"))

        response = page(client, campaign)
        html = response.content.decode()

        assert response.status_code == 200
        assert generators_shown(response) == ORDER
        assert "Computed <time" in html and "just now" in html and "up to date" in html
        assert "every 2s" not in html
        assert html.count("data:image/svg+xml") == 2  # the scores chart and the win-rate heatmap, stored

    def test_the_stored_ranking_reads_back_as_fitted(self, curator, with_a_broker, client):
        """The same numbers as a fit in the process: scores, intervals, win rates (NaN where two never met)."""
        from leaderboards.selectors import leaderboard_for

        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)
        page(client, campaign, resamples=30)
        computed(campaign)

        stored = page(client, campaign, resamples=30).context["leaderboard"]
        fitted = leaderboard_for(campaigns=[campaign], n_resamples=30)

        assert stored.ranking.rows() == fitted.ranking.rows()
        assert stored.as_json() == fitted.as_json()

    def test_the_age_reads_in_minutes(self, client, curator, with_a_broker):
        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)
        page(client, campaign)
        computed(campaign)
        LeaderboardResult.objects.filter(campaign=campaign).update(computed_at=timezone.now() - timedelta(minutes=2))

        assert "2 min ago" in page(client, campaign).content.decode()

    def test_a_judgment_makes_the_default_leaderboard_stale_and_the_recompute_shows_the_new_ranking(
        self, client, curator, with_a_broker, django_capture_on_commit_callbacks
    ):
        campaign = flipping_campaign(curator)
        client.force_login(curator)
        page(client, campaign)
        computed(campaign)

        with django_capture_on_commit_callbacks() as submitted:
            overturn(campaign)
        enqueued = enqueued_by(submitted, django_capture_on_commit_callbacks)
        stale = page(client, campaign)

        assert len(enqueued) == 1  # four submits, one recompute
        assert generators_shown(stale) == ["pixel-one", "pixel-two"]  # the last result, while the new one is fitted
        assert "recomputing with the latest judgments" in stale.content.decode()
        computed(campaign)  # the worker
        assert generators_shown(page(client, campaign)) == ["pixel-two", "pixel-one"]

    def test_an_adjudication_makes_the_default_leaderboard_stale(
        self, client, curator, with_a_broker, django_capture_on_commit_callbacks
    ):
        campaign = flipping_campaign(curator)
        client.force_login(curator)
        page(client, campaign)
        computed(campaign)

        with django_capture_on_commit_callbacks() as committed:
            for pair in campaign.pairs.all():
                adjudication_record(
                    pair=pair,
                    adjudicated_by=curator,
                    criteria={},
                    dimensions={"VA": -1, "VF": -1, "VP": -1},
                    reason="B is better",
                )

        assert len(enqueued_by(committed, django_capture_on_commit_callbacks)) == 1
        computed(campaign)
        assert generators_shown(page(client, campaign)) == ["pixel-two", "pixel-one"]

    def test_other_options_are_not_recomputed_on_a_change_but_on_the_next_visit(
        self, client, curator, with_a_broker, django_capture_on_commit_callbacks
    ):
        campaign = flipping_campaign(curator)
        client.force_login(curator)
        page(client, campaign, target="VA", resamples=20)
        computed(campaign)

        with django_capture_on_commit_callbacks() as submitted:
            overturn(campaign)
        with django_capture_on_commit_callbacks() as asked:
            stale = page(client, campaign, target="VA", resamples=20)

        assert enqueued_by(submitted, django_capture_on_commit_callbacks) == []
        assert len(asked) == 1
        assert generators_shown(stale) == ["pixel-one", "pixel-two"]
        assert "recomputing with the latest judgments" in stale.content.decode()
        computed(campaign)
        assert generators_shown(page(client, campaign, target="VA", resamples=20)) == ["pixel-two", "pixel-one"]

    def test_each_set_of_options_has_its_own_stored_result(self, client, curator, with_a_broker):
        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)
        page(client, campaign)
        page(client, campaign, target="overall", source="consensus", resamples=200, seed=0)  # the defaults spelled
        page(client, campaign, source="weighted")

        keys = sorted(LeaderboardResult.objects.values_list("options_key", flat=True))

        assert keys == [
            f"leaderboard|{campaign.pk}|overall|consensus|200|0",
            f"leaderboard|{campaign.pk}|overall|weighted|200|0",
        ]

    def test_a_recompute_delivered_twice_computes_once(self, curator, with_a_broker, client):
        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)
        page(client, campaign)
        result = LeaderboardResult.objects.get(campaign=campaign)

        assert leaderboard_result_compute(result_id=result.pk) is True
        assert leaderboard_result_compute(result_id=result.pk) is False

    def test_the_status_line_reloads_the_page_once_a_newer_result_is_stored(self, client, curator, with_a_broker):
        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)
        page(client, campaign)
        computed(campaign)
        stored = LeaderboardResult.objects.get(campaign=campaign)

        waiting = status(client, campaign, shown="")
        current = status(client, campaign, shown=stored.computed_at.isoformat())

        assert waiting["HX-Refresh"] == "true"
        assert "HX-Refresh" not in current and "up to date" in current.content.decode()

    def test_a_request_lost_for_minutes_is_asked_again_on_the_next_visit(
        self, client, curator, with_a_broker, django_capture_on_commit_callbacks
    ):
        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)
        page(client, campaign)
        lost_at = timezone.now() - timedelta(minutes=6)
        LeaderboardResult.objects.filter(campaign=campaign).update(requested_at=lost_at)  # the broker was down

        with django_capture_on_commit_callbacks() as enqueued:
            page(client, campaign)

        assert len(enqueued) == 1
        assert LeaderboardResult.objects.get(campaign=campaign).requested_at > lost_at

    def test_downloads_and_the_api_wait_for_the_first_fit_then_give_the_stored_one(
        self, client, curator, with_a_broker
    ):
        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)
        api = reverse("api-leaderboard", args=[campaign.pk])

        first = client.get(api)
        csv_first = client.get(reverse("leaderboard-csv", args=[campaign.pk, "leaderboard"]))
        computed(campaign)
        answered = client.get(api).json()
        stored = LeaderboardResult.objects.get(campaign=campaign)

        assert first.status_code == 202 and first.json()["status"] == "computing"
        assert csv_first.status_code == 202
        assert [row["generator"] for row in answered["generators"]] == ORDER
        assert answered["recomputing"] is False
        assert answered["computed_at"].startswith(stored.computed_at.strftime("%Y-%m-%dT%H:%M:%S"))
        csv_text = client.get(reverse("leaderboard-csv", args=[campaign.pk, "leaderboard"])).content.decode()
        assert csv_text.splitlines()[1].startswith("1,sora-ckpt-3,")

    def test_the_reliability_page_reads_the_stored_dawid_skene_fit(self, client, curator, with_a_broker, monkeypatch):
        campaign = judged_generator_campaign(members={curator: "curator"})
        client.force_login(curator)
        url = reverse("leaderboard-reliability", args=[campaign.pk])

        waiting = client.get(url).content.decode()
        computed(campaign)
        monkeypatch.setattr(reliability, "dawid_skene", lambda *args, **kwargs: pytest.fail("fitted in the request"))
        shown = client.get(url).content.decode()

        assert 'data-testid="first-computation"' in waiting and "every 2s" in waiting
        assert shown.count("<tr data-expert=") == 3 and "up to date" in shown

    def test_a_change_to_a_pooled_campaign_is_seen_by_the_pooled_result(self, client, curator, with_a_broker):
        campaign = flipping_campaign(curator, name="first")
        other = flipping_campaign(curator, name="second")
        client.force_login(curator)
        page(client, campaign, also=other.pk)
        computed(campaign)
        pooled = LeaderboardResult.objects.get(campaign=campaign)

        overturn(other, name="second")
        revisited = page(client, campaign, also=other.pk)

        assert list(pooled.pooled.values_list("pk", flat=True)) == [other.pk]
        assert revisited.context["stored"].recomputing
        assert len(revisited.context["leaderboard"].campaigns) == 2

    def test_the_page_makes_as_many_queries_at_forty_pairs_as_at_two(
        self, client, curator, with_a_broker, django_assert_max_num_queries
    ):
        small = flipping_campaign(curator, name="small")
        large = generator_campaign(
            name="large", matchups=[("pixel-one", "pixel-two")] * 40, members={curator: "curator"}
        )
        expert = expert_make("ann-large", large)
        for pair in large.pairs.all():
            judge(pair, expert, default=1)
        client.force_login(curator)
        for campaign in (small, large):
            page(client, campaign)
            computed(campaign)

        counts = []
        for campaign in (small, large):
            with django_assert_max_num_queries(40) as captured:
                page(client, campaign)
            counts.append(len(captured))

        assert counts[0] == counts[1]


def test_without_a_broker_the_page_fits_in_the_request_as_before(client, curator, db):
    """Tasks run in the process (the embedded default, and the rest of this suite): no result to wait for."""
    campaign = judged_generator_campaign(members={curator: "curator"})
    client.force_login(curator)

    response = page(client, campaign)

    assert generators_shown(response) == ORDER
    assert response.context["stored"].computed_at is not None


def test_a_change_marks_results_with_other_options_only_through_their_fingerprint(curator, db):
    """Without a broker nothing is enqueued; the default result is marked so the next visit fits it."""
    campaign = flipping_campaign(curator)
    default = LeaderboardResult.objects.create(
        campaign=campaign, options_key=f"leaderboard|{campaign.pk}|overall|consensus|200|0"
    )
    other = LeaderboardResult.objects.create(
        campaign=campaign, options_key=f"leaderboard|{campaign.pk}|VA|weighted|5|1"
    )

    leaderboard_results_mark_stale(campaign_id=campaign.pk)

    default.refresh_from_db()
    other.refresh_from_db()
    assert default.requested_at is not None
    assert other.requested_at is None


@pytest.mark.worker
def test_a_judgment_makes_the_worker_refit_and_the_page_shows_the_new_ranking(client, curator, start_worker):
    campaign = flipping_campaign(curator)
    worker = start_worker()
    client.force_login(curator)

    page(client, campaign)  # the first visit sends the first fit to the worker
    first = wait_until(
        lambda: LeaderboardResult.objects.filter(campaign=campaign, computed_at__isnull=False).first(),
        timeout=90,
        message="the first leaderboard",
    )
    assert generators_shown(page(client, campaign)) == ["pixel-one", "pixel-two"]

    overturn(campaign)  # a burst of four submits: one refit
    assert "recomputing with the latest judgments" in page(client, campaign).content.decode()
    wait_until(
        lambda: LeaderboardResult.objects.filter(
            campaign=campaign, computed_at__gt=first.computed_at, requested_at=None, started_at=None
        ).exists(),
        timeout=90,
        message="the refitted leaderboard",
    )
    with_the_new_ranking = page(client, campaign)
    fits = [line for line in worker.log().splitlines() if "leaderboard_result_compute_task" in line]

    assert generators_shown(with_the_new_ranking) == ["pixel-two", "pixel-one"]
    assert "up to date" in with_the_new_ranking.content.decode()
    assert sum("succeeded" in line and line.endswith(": True") for line in fits) == 2


def test_the_command_fits_in_its_process_and_stores_what_the_page_then_shows(
    client, curator, db, with_a_broker, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import call_command

    campaign = judged_generator_campaign(members={curator: "curator"})
    printed = StringIO()
    call_command("leaderboard", campaign=campaign.name, target="VA", resamples=20, stdout=printed)
    client.force_login(curator)

    with django_capture_on_commit_callbacks() as enqueued:
        response = page(client, campaign, target="VA", resamples=20)

    assert enqueued == []  # stored and current: nothing to ask a worker
    assert generators_shown(response) == ORDER
    assert printed.getvalue().index("sora-ckpt-3") < printed.getvalue().index("base-v1")
