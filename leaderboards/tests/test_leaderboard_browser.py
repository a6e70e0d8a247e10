"""A curator, in real Chromium, opens the leaderboard of a judged campaign from its page, sees the ranked table and
the chart, switches to a dimension, downloads the CSV, and opens the experts' reliability; both pages fit 1280 and
1920 px wide without sideways scroll.

Screenshots go to test-artifacts/leaderboard-*.png and reliability-*.png."""

from __future__ import annotations

import csv

import pytest
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot
from leaderboards.tests.factories import judged_generator_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORDER = ["sora-ckpt-3", "veo-nightly", "base-v1"]


def test_a_curator_reads_the_leaderboard_and_downloads_it(chromium, app_url, curator, tmp_path):
    campaign = judged_generator_campaign(members={curator: "curator"})
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", curator.username)
    page.fill("input[name=password]", "pw-" + curator.username)
    page.click("button[type=submit]")
    page.goto(f"{app_url}/campaigns/{campaign.pk}/")

    page.click("[data-leaderboard-link]")

    table = page.locator("[data-leaderboard-table] tbody tr")
    expect(table).to_have_count(3)
    assert [table.nth(index).get_attribute("data-generator") for index in range(3)] == ORDER
    expect(page.locator("[data-scores-chart]")).to_be_visible()
    expect(page.locator("[data-win-rate] img.chart")).to_be_visible()
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth"), width
        screenshot(page, f"leaderboard-{width}.png")

    page.select_option("select[name=target]", "VP")
    page.fill("input[name=resamples]", "40")
    page.click("[data-leaderboard-form] button[type=submit]")
    expect(page.locator("[data-leaderboard-table] h2")).to_contain_text("VP")
    with page.expect_download() as download_info:
        page.click("[data-download-csv]")
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)

    page.click("text=Expert reliability (Dawid-Skene)")
    expect(page.locator("[data-reliability] tbody tr")).to_have_count(3)
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth"), width
        screenshot(page, f"reliability-{width}.png")
    context.close()

    assert saved.name == "checkpoints-leaderboard-vp.csv"
    rows = list(csv.reader(saved.open()))
    assert rows[0] == ["rank", "generator", "score", "ci_low", "ci_high", "n"]
    assert [row[1] for row in rows[1:]] == ORDER
