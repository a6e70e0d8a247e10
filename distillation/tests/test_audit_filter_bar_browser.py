"""The audit queue's filter bar in Chromium: four labelled filters on one compact row, usable by their labels,
with a reset and a count; no sideways scroll at 1280 and 1920 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot, sign_in
from distillation import services
from distillation.tests.factories import clean_text_for, item_create, uniform_labels

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_filters_are_labelled_and_fit_one_row(chromium, app_url, curator, campaign, labelled_pairs):
    labels = uniform_labels(campaign.rubric, 1)
    first, second = labelled_pairs([labels] * 2)
    text = clean_text_for(campaign.rubric, labels)
    disagreeing = text.replace("<answer>VA: 1", "<answer>VA: -1")
    services.critique_record(item=item_create(pair=first, labels=labels), sample_index=0, text=text)
    services.critique_record(item=item_create(pair=second, labels=labels), sample_index=0, text=disagreeing)
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    try:
        sign_in(page, app_url, curator)
        page.goto(f"{app_url}/distillation/audit/")
        bar = page.locator("[data-audit-filters]")
        for label in ("Automatic filters", "Curator review", "Endpoint", "Job"):
            expect(bar.get_by_label(label)).to_be_visible()
        expect(page.locator("[data-audit-count]")).to_have_text("2 critiques")
        tops = [box["y"] for box in (field.bounding_box() for field in bar.locator("select").all())]
        assert max(tops) - min(tops) < 2  # one row
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        screenshot(page, "distillation-audit-filters-1280.png")

        bar.get_by_label("Automatic filters").select_option(label="Caught: alignment")
        bar.get_by_role("button", name="Apply").click()
        expect(page.locator("[data-audit-queue] tbody tr")).to_have_count(1)
        expect(page.locator("[data-audit-count]")).to_have_text("1 critique")
        expect(bar.get_by_label("Automatic filters")).to_have_value("alignment")

        page.set_viewport_size({"width": 1920, "height": 1080})
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        screenshot(page, "distillation-audit-filters-1920.png")
        bar.locator("[data-audit-filters-reset]").click()
        expect(page.locator("[data-audit-count]")).to_have_text("2 critiques")
    finally:
        page.close()
