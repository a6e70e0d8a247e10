"""A curator puts a reward model in the loop in real Chromium: chooses it as the campaign's queue model, sees how
many pairs it puts first, and an expert's "Next pair" then opens the pair the model doubts. The campaign page fits
1280 and 1920 px wide. Screenshots go to test-artifacts/model-in-the-loop-*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agreement.tests.factories import campaign_make
from annotation.models import Assignment, Campaign
from annotation.tests.conftest import screenshot, sign_in
from annotation.tests.factories import VideoPairFactory
from leaderboards.models import ModelJudgmentRun, ModelPairVerdict
from leaderboards.tests.factories import registered_model_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 1920)


def _fits(page, width: int) -> bool:
    page.set_viewport_size({"width": width, "height": 900})
    return page.evaluate("() => document.documentElement.scrollWidth") <= width


def test_a_curator_puts_a_model_in_the_loop_and_the_expert_gets_the_pair_it_doubts(
    chromium, app_url, curator, expert, tmp_path
):
    campaign = campaign_make(name="harbours at dusk", pairs=0, members={curator: "curator", expert: "expert"})
    sure, doubted = VideoPairFactory(campaign=campaign), VideoPairFactory(campaign=campaign)
    model = registered_model_make(campaign, tmp_path / "run", name="aesrm-base-harbours")
    run = ModelJudgmentRun.objects.create(model=model, campaign=campaign, status=ModelJudgmentRun.Status.SUCCEEDED)
    ModelPairVerdict.objects.create(run=run, pair=sure, overall=1)
    ModelPairVerdict.objects.create(run=run, pair=doubted, overall=0)

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_url, curator)
    page.goto(f"{app_url}/campaigns/{campaign.pk}/")
    expect(page.locator("[data-queue-model-name]")).to_contain_text("No queue model")
    page.select_option("[data-queue-model-form] select[name=queue_model]", label="aesrm-base-harbours")
    page.get_by_role("button", name="Save the queue model").click()
    expect(page.locator(".message")).to_contain_text("The queue of harbours at dusk now follows aesrm-base-harbours.")
    expect(page.locator("[data-queue-model-name]")).to_contain_text("The queue follows aesrm-base-harbours")
    counts = page.locator("[data-model-priority-counts]")
    expect(counts.locator("[data-prioritised]")).to_have_text("1")
    expect(counts.locator("[data-uncertain]")).to_have_text("1")
    expect(counts.locator("[data-disputed]")).to_have_text("0")
    assert Campaign.objects.get(pk=campaign.pk).queue_model_id == model.pk
    for width in WIDTHS:
        assert _fits(page, width), f"the campaign page scrolls sideways at {width} px"
        page.locator("[data-queue-model]").scroll_into_view_if_needed()
        screenshot(page, f"model-in-the-loop-campaign-{width}.png")
    context.close()

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_url, expert)
    page.goto(f"{app_url}/")
    page.click("[data-next-pair]")
    page.wait_for_url("**/work/assignments/*/")
    assignment = Assignment.objects.get(expert=expert)
    assert page.url.endswith(f"/work/assignments/{assignment.pk}/")
    assert assignment.pair_id == doubted.pk, "the pair added later, but doubted by the model, comes first"
    context.close()
