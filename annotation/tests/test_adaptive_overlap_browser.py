"""A curator sets adaptive overlap in real Chromium: creates a campaign with an overlap of 2 and a maximum of 4, sees
how many of its pairs are at the overlap, raised and at the maximum, and lowers the maximum from the campaign page.
Both pages fit 1280 and 1920 px wide. Screenshots go to test-artifacts/adaptive-overlap-*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.models import Campaign, VideoPair
from annotation.tests.conftest import screenshot, sign_in
from annotation.tests.factories import VideoPairFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 1920)


def _fits(page, width: int) -> bool:
    page.set_viewport_size({"width": width, "height": 900})
    return page.evaluate("() => document.documentElement.scrollWidth") <= width


def test_a_curator_sets_adaptive_overlap_and_follows_its_pairs(chromium, app_url, curator):
    campaign_make(name="earlier", pairs=0, members={curator: "curator"})  # a curator somewhere may create one
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_url, curator)

    page.click("[data-new-campaign]")
    page.fill("input[name=name]", "adaptive harbours")
    page.select_option("select[name=checklist]", label="None: rubric verdicts only")
    page.fill("input[name=overlap]", "2")
    page.fill("input[name=max_overlap]", "1")
    page.get_by_role("button", name="Create the campaign").click()
    expect(page.locator(".errorlist")).to_contain_text("The maximum overlap cannot be below the overlap.")
    for width in WIDTHS:
        assert _fits(page, width), f"the new-campaign page scrolls sideways at {width} px"
        screenshot(page, f"adaptive-overlap-new-{width}.png")

    page.fill("input[name=max_overlap]", "4")
    page.get_by_role("button", name="Create the campaign").click()
    expect(page.locator("[data-campaign-summary]")).to_contain_text("2 to 4 experts per pair (adaptive)")
    campaign = Campaign.objects.get(name="adaptive harbours")
    assert (campaign.overlap, campaign.max_overlap) == (2, 4)

    # Three pairs: one agreed at the overlap, one disputed once (raised to 3), one disputed twice (at 4).
    experts = [expert_make(f"judge-{i}", campaign) for i in range(4)]
    agreed, disputed, split = (VideoPairFactory(campaign=campaign) for _ in range(3))
    for pair, verdicts in ((agreed, (1, 1)), (disputed, (1, -1, 1)), (split, (1, -1, 0, 0))):
        for expert, verdict in zip(experts, verdicts, strict=False):
            judge(pair, expert, VA=verdict)
    assert [VideoPair.objects.get(pk=pair.pk).extra_overlap for pair in (agreed, disputed, split)] == [0, 1, 2]

    page.goto(f"{app_url}/campaigns/{campaign.pk}/")
    counts = page.locator("[data-overlap-counts]")
    expect(counts.locator("[data-at-minimum]")).to_have_text("1")
    expect(counts.locator("[data-raised]")).to_have_text("1")
    expect(counts.locator("[data-at-maximum]")).to_have_text("1")
    for width in WIDTHS:
        assert _fits(page, width), f"the campaign page scrolls sideways at {width} px"
        page.locator("[data-overlap]").scroll_into_view_if_needed()
        screenshot(page, f"adaptive-overlap-campaign-{width}.png")

    page.fill("[data-overlap-form] input[name=max_overlap]", "3")
    page.get_by_role("button", name="Save the overlap").click()
    expect(page.locator(".message")).to_contain_text("Overlap of adaptive harbours saved.")
    expect(page.locator("[data-overlap-counts] [data-at-maximum]")).to_have_text("2")
    campaign.refresh_from_db()
    assert campaign.max_overlap == 3
    context.close()
