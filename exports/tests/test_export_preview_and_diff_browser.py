"""An ML engineer in real Chromium opens an export, reads its first rows as a table, picks an earlier export of the
same campaign and reads what changed: pairs added, removed and relabelled. No sideways page scroll at 1280 or 1920
px. Screenshots in test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot
from exports.tests.test_export_preview_and_diff import pair_row, snapshot_written

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_engineer_previews_an_export_and_diffs_it_against_an_earlier_one(
    chromium, app_url, ml_engineer, export_campaign, tmp_path
):
    earlier = snapshot_written(
        export_campaign,
        tmp_path / "earlier",
        "aesrm-pairwise",
        {"train": [pair_row(f"pair-{index:03}") for index in range(14)], "test": [pair_row("pair-100")]},
        minutes_ago=30,
    )
    later_rows = [pair_row(f"pair-{index:03}", vp="A" if index % 5 == 0 else "tie") for index in range(2, 16)]
    later = snapshot_written(
        export_campaign, tmp_path / "later", "aesrm-pairwise", {"train": later_rows, "test": [pair_row("pair-100")]}
    )

    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", ml_engineer.username)
    page.fill("input[name=password]", "pw-" + ml_engineer.username)
    page.click("button[type=submit]")
    page.goto(f"{app_url}/exports/{later.pk}/")

    preview = page.locator("[data-preview]")
    expect(preview.locator("tbody tr")).to_have_count(10)
    expect(preview.locator("thead")).to_contain_text("labels")
    expect(preview.locator("tbody tr").first).to_contain_text("pair-002")
    expect(preview.locator("tbody tr").first).to_contain_text("VA A · VF B · VP tie")
    expect(page.locator("main")).to_contain_text("The first 10 of 14 rows of train.jsonl")

    page.select_option("[data-diff-form] select[name=diff]", str(earlier.pk))
    page.click("[data-diff-form] button[type=submit]")
    expect(page.locator("[data-diff-added]")).to_have_text("2 added")  # pair-014, pair-015
    expect(page.locator("[data-diff-removed]")).to_have_text("2 removed")  # pair-000, pair-001
    expect(page.locator("[data-diff-changed]")).to_have_text("2 with changed labels")  # 005, 010; 015 is new
    expect(page.locator("[data-diff-changes]")).to_contain_text("pair-005")
    expect(page.locator("[data-diff-changes]")).to_contain_text("VP tie → A")
    expect(page.locator("[data-diff-removed-list]")).to_have_text("pair-000, pair-001")
    page.locator("[data-diff]").scroll_into_view_if_needed()
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")
    screenshot(page, "export-preview-and-diff-1280.png")
    page.set_viewport_size({"width": 1920, "height": 1000})
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")
    page.locator("[data-preview]").scroll_into_view_if_needed()
    screenshot(page, "export-preview-1920.png")
