"""A curator in real Chromium: filters a campaign's pairs, opens one, records an adjudication without a reason (the
error shows beside the field, which has the focus), then with one (back to the filtered pairs); from the queue, a
gold answer leads to the next pair. The page fits 1280 and 1920 px with the judgments beside the player.

Screenshots go to test-artifacts/pair-browser-*.png and pair-review-*.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from agreement.models import Adjudication, GoldLabel
from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.services import campaign_member_add
from annotation.tests.conftest import render_clip, screenshot, sign_in
from pipelines.ingest import IncomingVideo, pair_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 1920)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-clips")
    return (
        render_clip(folder / "shared.mp4", seconds=1),
        render_clip(folder / "blurred.mp4", "gblur=sigma=3", seconds=1),
        render_clip(folder / "tinted.mp4", "hue=h=90", seconds=1),
    )


@pytest.fixture
def spring(clips, curator):
    """spring: s1-s3 each split three ways on one code (the adjudication queue, in that order), s4 agreed; one video
    is in s1, s2 and in summer's only pair, u1, judged there once."""
    spring = campaign_make(name="spring", pairs=0, overlap=3, members={curator: "curator"})
    summer = campaign_make(name="summer", pairs=0, overlap=3, members={curator: "curator"})
    shared, blurred, tinted = (
        IncomingVideo(path=path, original_name=path.name, source_model=source)
        for path, source in zip(clips, ("sora", "veo-3", "kling"), strict=True)
    )
    pairs = {
        "s1": ("a kite over the dunes", shared, blurred, "VP2"),
        "s2": ("a lighthouse at dusk", shared, tinted, "VA1"),
        "s3": ("a kite at noon", tinted, blurred, "VF1"),
        "s4": ("a kite in the rain", blurred, tinted, None),
    }
    experts = [expert_make(name, spring) for name in ("ann", "ben", "cal")]
    for external_id, (prompt, video_a, video_b, disputed) in pairs.items():
        pair, _ = pair_ingest(campaign=spring, prompt=prompt, video_a=video_a, video_b=video_b, external_id=external_id)
        for expert, verdict in zip(experts, (1, 0, -1), strict=True):
            judge(pair, expert, **({disputed: verdict} if disputed else {}))
    elsewhere, _ = pair_ingest(campaign=summer, prompt="a kite", video_a=shared, video_b=blurred, external_id="u1")
    campaign_member_add(campaign=summer, user=experts[0], role="expert")
    judge(elsewhere, experts[0], VA1=1)
    return spring


def _fits_the_window(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def _rows(page) -> list[str]:
    return page.locator("[data-pair]").evaluate_all("rows => rows.map(row => row.dataset.pair)")


def test_a_curator_filters_the_pairs_adjudicates_one_and_sets_gold_on_the_next(chromium, app_url, curator, spring):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_url, curator)
    page.goto(f"{app_url}/campaigns/{spring.pk}/")
    page.click("[data-pair-browser-link]")
    assert _rows(page) == ["s1", "s2", "s3", "s4"]
    expect(page.locator("[data-pair='s1']")).to_contain_text("sora · veo-3")
    expect(page.locator("[data-pair='s1']")).to_contain_text("3 / 3")

    page.get_by_label("Agreement").select_option("awaiting")
    expect(page.locator("[data-pair='s4']")).to_have_count(0)  # swapped in by htmx, no reload
    page.get_by_label("Prompt or pair id").fill("kite")
    expect(page.locator("[data-pair='s2']")).to_have_count(0)
    assert _rows(page) == ["s1", "s3"]
    assert "agreement=awaiting" in page.url and "text=kite" in page.url
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert _fits_the_window(page), width
        screenshot(page, f"pair-browser-{width}.png")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="s1", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Pair s1")
    expect(page.locator("[data-review-player] video").first).to_be_visible()  # laid out before it is measured
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        player = page.locator("[data-review-player]").bounding_box()
        judgments = page.locator("[data-review-judgments]").bounding_box()
        assert judgments["x"] >= player["x"] + player["width"] - 1, width  # beside the player, not below it
        assert judgments["y"] < player["y"] + player["height"], width
        expect(page.locator("[data-judgment]")).to_have_count(3)
        assert _fits_the_window(page), width
        screenshot(page, f"pair-review-{width}.png")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("select[name=verdict_VP2]").select_option("1")
    page.get_by_role("button", name="Record adjudication").click()
    expect(page.locator("[data-reason-errors]")).to_contain_text("Say why")
    assert page.evaluate("() => document.activeElement.name") == "reason"
    in_view = page.evaluate(
        """() => { const box = document.querySelector('[data-reason-errors]').getBoundingClientRect();
                   return box.top >= 0 && box.bottom <= window.innerHeight; }"""
    )
    assert in_view  # the error is on screen where the curator is, not 1,600 px down
    screenshot(page, "pair-review-missing-reason-1280.png")
    assert not Adjudication.objects.exists()

    page.locator("select[name=verdict_VP2]").select_option("1")
    page.fill("textarea[name=reason]", "A's kite keeps its shape")
    page.get_by_role("button", name="Record adjudication").click()
    expect(page.locator(".message.success")).to_contain_text("Adjudication of pair s1 recorded")
    assert re.search(r"/pairs/\?.*agreement=awaiting", page.url) and "text=kite" in page.url
    expect(page.get_by_label("Agreement")).to_have_value("awaiting")
    assert _rows(page) == ["s3"]

    page.goto(f"{app_url}/campaigns/{spring.pk}/adjudication/")
    page.get_by_role("link", name="s2", exact=True).click()
    page.locator("select[name=verdict_VA1]").select_option("-1")
    page.get_by_role("button", name="Save as gold answer").click()
    expect(page.locator(".message.success")).to_contain_text("Pair s2 is now a gold pair")
    expect(page.locator("h1")).to_contain_text("Pair s3")  # the next pair of the queue
    assert GoldLabel.objects.get().pair.external_id == "s2"
    context.close()


def test_one_video_in_two_pairs_and_two_campaigns_shows_in_each_campaigns_browser(chromium, app_url, curator, spring):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_url, curator)
    summer = spring.__class__.objects.get(name="summer")

    page.goto(f"{app_url}/campaigns/{spring.pk}/pairs/?source=sora")
    assert _rows(page) == ["s1", "s2"]
    page.goto(f"{app_url}/campaigns/{summer.pk}/pairs/?source=sora")
    assert _rows(page) == ["u1"]
    expect(page.locator("[data-pair='u1']")).to_contain_text("1 / 3")
    expect(page.locator("[data-pair='u1']")).to_contain_text("sora · veo-3")
    screenshot(page, "pair-browser-shared-video-1280.png")

    page.get_by_role("link", name="u1", exact=True).click()
    expect(page.locator("[data-judgment]")).to_have_count(1)
    expect(page.locator("[data-back-to-browser]")).to_have_attribute("href", re.compile(r"source=sora"))
    context.close()
