"""The leaderboard in Chromium with a real Celery worker: a first visit while no worker runs says the fit is being
computed; once a worker starts, the page fills in by itself. After experts overturn the ranking the last one stays
on screen with its age and "recomputing…", and the page reloads itself with the new ranking once the worker has
stored it. Every state fits 1280 and 1920 px without sideways scroll. A page slower to render than the status
line's polling interval is reloaded once when its result is stored, not again at every poll.

Screenshots: test-artifacts/leaderboard-computing-*.png, leaderboard-recomputing-*.png, leaderboard-stored-*.png."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from annotation.tests.conftest import screenshot, sign_in
from leaderboards.tests.test_leaderboard_result import computed, flipping_campaign, overturn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fits_both_widths(page: Page, name: str) -> None:
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), width
        screenshot(page, f"{name}-{width}.png")


def _ranked(page: Page) -> list[str]:
    rows = page.locator("[data-leaderboard-table] tbody tr")
    return [rows.nth(index).get_attribute("data-generator") for index in range(rows.count())]


@pytest.mark.worker
def test_the_leaderboard_is_computed_in_the_background_and_recomputed_after_judgments(
    chromium, app_url, curator, start_worker
):
    from webapp.celery import app

    campaign = flipping_campaign(curator)
    app.conf.task_always_eager = False  # sent to the test broker, where no worker listens yet
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, app_url, curator)
        page.goto(f"{app_url}/campaigns/{campaign.pk}/leaderboard/")
        status = page.locator("[data-testid=result-status]")
        expect(page.locator("[data-testid=first-computation]")).to_contain_text("Computing the leaderboard")
        expect(status).to_contain_text("computing in the background")
        _fits_both_widths(page, "leaderboard-computing")

        worker = start_worker()  # it finds the queued fit; the polling status line reloads the page
        expect(page.locator("[data-leaderboard-table] tbody tr")).to_have_count(2, timeout=90_000)
        assert _ranked(page) == ["pixel-one", "pixel-two"]
        expect(status).to_contain_text("up to date")

        worker.kill()  # so the refit waits, and the page can be seen while it does
        overturn(campaign)
        page.reload()
        expect(status).to_contain_text("recomputing with the latest judgments")
        assert _ranked(page) == ["pixel-one", "pixel-two"]  # the last ranking meanwhile
        _fits_both_widths(page, "leaderboard-recomputing")

        start_worker()
        expect(page.locator("[data-leaderboard-table] tbody tr").first).to_have_attribute(
            "data-generator", "pixel-two", timeout=90_000
        )
        expect(status).to_contain_text("up to date")
        expect(page.locator("[data-scores-chart]")).to_be_visible()
        _fits_both_widths(page, "leaderboard-stored")
    finally:
        page.close()
        app.conf.task_always_eager = True


def test_a_page_slower_than_the_polling_interval_is_reloaded_once_when_its_result_is_stored(
    chromium, app_url, curator, monkeypatch, with_a_broker
):
    from leaderboards import services, views

    campaign = flipping_campaign(curator, name="slow")
    monkeypatch.setattr(services, "_recompute_enqueue_on_commit", lambda result_id, *, delay_seconds: None)
    renders = []
    reward_model_context = views._reward_model_context

    def slow_reward_model_context(*args, **kwargs):
        renders.append(time.monotonic())
        time.sleep(3)  # the status line polls every 2 s
        return reward_model_context(*args, **kwargs)

    monkeypatch.setattr(views, "_reward_model_context", slow_reward_model_context)
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, app_url, curator)
    page.goto(f"{app_url}/campaigns/{campaign.pk}/leaderboard/")
    expect(page.locator("[data-testid=result-status]")).to_contain_text("computing in the background")

    computed(campaign)  # what the worker does; the next poll answers HX-Refresh
    expect(page.locator("[data-leaderboard-table] tbody tr")).to_have_count(2, timeout=30_000)
    page.wait_for_timeout(4_000)  # polls of the old page during the reload would have started more reloads
    assert len(renders) == 2, [round(at - renders[0], 1) for at in renders]
    expect(page.locator("[data-testid=result-status]")).to_contain_text("up to date")
