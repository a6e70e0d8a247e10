"""The agreement dashboard in Chromium with a real Celery worker: a first visit shows the computation in progress
and fills in by itself; after a submit the last report stays on screen with its age and "recomputing…", and the
page reloads itself with the new figures once the worker has stored them. Screenshots at 1280 and 1920 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from agreement.tests.factories import expert_make, judge
from agreement.tests.test_dashboard_report import judged_campaign
from annotation.tests.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def _charts_at_their_own_size(page: Page) -> None:
    """Charts are not shrunk below the size their text was made for (at least 11 px, see plots.py)."""
    for chart in page.locator("img.chart").all():
        natural, shown = chart.evaluate("image => [image.naturalWidth, image.getBoundingClientRect().width]")
        assert shown >= natural - 1, (natural, shown)


def test_the_dashboard_shows_its_age_and_recomputes_after_a_submit(chromium, app_url, curator, start_worker):
    campaign = judged_campaign(curator)
    worker = start_worker()
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, app_url, curator)
        page.goto(f"{app_url}/campaigns/{campaign.pk}/agreement/")
        # Either still computing, or the worker was quicker than the page: both end with the figures shown.
        expect(page.locator("[data-report-summary]")).to_contain_text("6 judgments by 2 experts", timeout=90_000)
        status = page.locator("[data-testid=report-status]")
        expect(status).to_contain_text("Computed")
        expect(status).to_contain_text("up to date")
        expect(page.locator("img.chart")).to_have_count(3)
        _no_sideways_scroll(page)
        _charts_at_their_own_size(page)
        screenshot(page, "agreement-dashboard-1280.png")

        worker.kill()  # so the recompute waits, and the page can be seen while it does
        judge(campaign.pairs.order_by("pk").first(), expert_make("cat", campaign), VA1=1)
        page.reload()
        expect(status).to_contain_text("recomputing with the latest judgments")
        expect(page.locator("[data-report-summary]")).to_contain_text("6 judgments")  # the last report meanwhile
        screenshot(page, "agreement-dashboard-recomputing-1280.png")

        start_worker()  # it finds the queued recompute; the polling status line reloads the page
        expect(page.locator("[data-report-summary]")).to_contain_text("7 judgments by 3 experts", timeout=90_000)
        expect(status).to_contain_text("up to date")

        page.set_viewport_size({"width": 1920, "height": 1080})
        _no_sideways_scroll(page)
        _charts_at_their_own_size(page)
        screenshot(page, "agreement-dashboard-1920.png")
    finally:
        page.close()


def test_a_first_visit_says_the_report_is_being_computed(chromium, app_url, curator):
    """No worker: the request stays queued, and the page says what is happening instead of an empty dashboard."""
    from webapp.celery import app

    campaign = judged_campaign(curator)
    app.conf.task_always_eager = False  # sent to the test broker, where no worker listens
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, app_url, curator)
        page.goto(f"{app_url}/campaigns/{campaign.pk}/agreement/")
        expect(page.locator("[data-testid=first-computation]")).to_contain_text("Computing the agreement report")
        expect(page.locator("[data-testid=report-status]")).to_contain_text("computing…")
        _no_sideways_scroll(page)
        screenshot(page, "agreement-dashboard-first-visit-1280.png")
    finally:
        page.close()
        app.conf.task_always_eager = True
