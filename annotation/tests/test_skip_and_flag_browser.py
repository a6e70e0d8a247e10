"""Progress, skip and flag in real Chromium, as an expert and then a curator would use them.

Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation import selectors
from annotation.models import Assignment, PairFlag, PairJudgment
from annotation.services import campaign_member_add
from annotation.tests.conftest import render_clip, screenshot
from annotation.tests.test_workbench_browser import _sign_in
from pipelines.ingest import IncomingVideo, pair_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flag-clips")
    return render_clip(folder / "a.mp4", seconds=1), render_clip(folder / "b.mp4", "hue=h=140", seconds=1)


@pytest.fixture
def three_pairs(campaign, clips, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pairs = []
    for index in range(3):
        pair, _ = pair_ingest(
            campaign=campaign,
            prompt=f"a lighthouse at dusk, take {index}",
            video_a=IncomingVideo(path=clips[0], original_name="a.mp4"),
            video_b=IncomingVideo(path=clips[1], original_name="b.mp4"),
            external_id=f"dusk-{index}",
        )
        pairs.append(pair)
    return pairs


def test_an_expert_skips_one_pair_and_flags_another_and_a_curator_sees_the_flag(
    chromium, app_url, expert, curator, campaign, three_pairs
):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, app_url, expert)
    page.click("[data-next-pair]")
    expect(page.locator("[data-progress]")).to_have_text("pair 1 of 3 · your pace shows after your first judgment")
    first = Assignment.objects.get(expert=expert)

    page.click("[data-skip]")
    expect(page.locator(".message")).to_contain_text("skipped: it comes back after your new pairs")
    second = Assignment.objects.get(expert=expert, skipped_at=None)
    assert page.url.endswith(f"/work/assignments/{second.pk}/")

    page.locator("[data-flag-panel] summary").click()
    page.get_by_role("radio", name="Other").check()
    page.fill("[data-flag-panel] textarea[name=text]", "")
    page.click("[data-flag-submit]")
    expect(page.locator("[data-error]")).to_contain_text("Say what is wrong with the pair.")
    expect(page.locator("[data-flag-panel] summary")).to_have_text("Flag a bad pair…")  # nothing was stored
    page.get_by_role("radio", name="Identical videos").check()
    page.fill("[data-flag-panel] textarea[name=text]", "both sides show the same take")
    screenshot(page, "workbench-flag.png")
    page.click("[data-flag-submit]")
    expect(page.locator(".message.success")).to_contain_text("flagged for the curators")
    third = Assignment.objects.get(expert=expert, skipped_at=None)
    assert third.pk not in (first.pk, second.pk) and page.url.endswith(f"/work/assignments/{third.pk}/")
    screenshot(page, "workbench-after-flag.png")
    assert not PairJudgment.objects.exists()
    context.close()

    flag = PairFlag.objects.get()
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", curator.username)
    page.fill("input[name=password]", "pw-" + curator.username)
    page.click("button[type=submit]")
    page.get_by_role("link", name="Flagged pairs").click()
    row = page.locator(f"[data-flag='{flag.pk}']")
    expect(row).to_contain_text(second.pair.external_id)
    expect(row).to_contain_text("Identical videos")
    expect(row).to_contain_text("both sides show the same take")
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")
    screenshot(page, "flag-queue.png")
    context.close()


def test_past_the_count_limit_the_progress_line_says_over_and_fits_the_header(
    chromium, app_url, expert, three_pairs, monkeypatch
):
    """Count limit 1 (200 live): one pair held, two more open, so the counts stop and the line says "over"."""
    monkeypatch.setattr(selectors, "PROGRESS_COUNT_LIMIT", 1)
    for width in (1280, 1920):
        context = chromium.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        _sign_in(page, app_url, expert)
        page.click("[data-next-pair]")
        expect(page.locator("[data-progress]")).to_have_text(
            "over 1 pair left · your pace shows after your first judgment"
        )
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, f"workbench-progress-over-limit-{width}.png")
        context.close()
