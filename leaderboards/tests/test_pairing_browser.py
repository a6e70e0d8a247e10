"""A curator, in real Chromium, opens "Pairs from generations" from the campaign page, previews all pairs within each
prompt, switches to k random opponents, applies, and sees the pairs added and nothing left to add on a second look;
then previews an active round with the generator pairs it chose and applies it. The page fits 1280 and 1920 px wide
without sideways scroll.

Screenshots go to test-artifacts/pairing-*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot
from leaderboards.tests.test_pairing import generations_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fits(page) -> bool:
    return page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")


def test_a_curator_previews_then_applies_a_pairing_strategy(chromium, app_url, curator):
    campaign = generations_campaign(prompts=3, members={curator: "curator"})
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", curator.username)
    page.fill("input[name=password]", "pw-" + curator.username)
    page.click("button[type=submit]")
    page.goto(f"{app_url}/campaigns/{campaign.pk}/")

    page.click("[data-pairing-link]")

    expect(page.locator("[data-new-pairs]")).to_have_attribute("data-new-pairs", "9")
    expect(page.locator("[data-pairing-table] tbody tr")).to_have_count(9)
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        assert _fits(page), width
        screenshot(page, f"pairing-preview-{width}.png")

    page.select_option("select[name=strategy]", "random_opponents")
    page.fill("input[name=opponents]", "1")
    page.fill("input[name=seed]", "5")
    with page.expect_navigation():
        page.click("[data-pairing-form] button[type=submit]")
    previewed = int(page.locator("[data-new-pairs]").get_attribute("data-new-pairs"))
    assert 3 <= previewed < 9
    assert campaign.pairs.count() == 0

    page.click("[data-pairing-apply] button[type=submit]")

    expect(page.locator(".message")).to_contain_text(f"{previewed} pair")
    expect(page.locator("[data-existing-pairs]")).to_have_attribute("data-existing-pairs", str(previewed))
    expect(page.locator("[data-nothing-to-add]")).to_be_visible()
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        assert _fits(page), width
        screenshot(page, f"pairing-applied-{width}.png")
    page.close()
    assert campaign.pairs.count() == previewed


def test_a_curator_previews_an_active_round_with_its_reasons_then_applies_it(chromium, app_url, curator):
    campaign = generations_campaign(prompts=4, members={curator: "curator"})
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", curator.username)
    page.fill("input[name=password]", "pw-" + curator.username)
    page.click("button[type=submit]")
    page.goto(f"{app_url}/campaigns/{campaign.pk}/pairing/")

    page.select_option("select[name=strategy]", "active")
    page.fill("input[name=round_size]", "6")
    page.select_option("select[name=target]", "overall")
    page.click("[data-pairing-form] button[type=submit]")

    # Nothing judged yet: round-robin over the three generator pairs, two pairs each.
    expect(page.locator("[data-new-pairs]")).to_have_attribute("data-new-pairs", "6")
    expect(page.locator("[data-judged-comparisons]")).to_have_attribute("data-judged-comparisons", "0")
    expect(page.locator("[data-active-choices] tbody tr")).to_have_count(3)
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        assert _fits(page), width
        screenshot(page, f"pairing-active-preview-{width}.png")
    assert campaign.pairs.count() == 0

    page.click("[data-pairing-apply] button[type=submit]")

    expect(page.locator(".message")).to_contain_text("6 pairs added")
    expect(page.locator("[data-awaiting-judgment]")).to_have_attribute("data-awaiting-judgment", "6")
    expect(page.locator("[data-existing-pairs]")).to_have_attribute("data-existing-pairs", "6")
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        assert _fits(page), width
        screenshot(page, f"pairing-active-applied-{width}.png")
    page.close()
    assert campaign.pairs.count() == 6
    assert {pair.metadata["pairing"] for pair in campaign.pairs.all()} == {"active"}
