"""A curator, in real Chromium, picks a tiny registered reward model on the leaderboard page, starts scoring, watches
the progress line until a real worker is done (the page reloads itself), and reads the model's leaderboard beside
the experts' with Kendall's tau, Spearman and the agreements; the page fits 1280 and 1920 px without sideways
scroll. An expert of the campaign is refused the page.

Screenshots go to test-artifacts/leaderboard-reward-model-*.png."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotation.models import Video
from annotation.services import campaign_member_add
from annotation.tests.conftest import screenshot, sign_in
from leaderboards.tests.conftest import judged_demo_campaign
from leaderboards.tests.factories import registered_model_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_curator_scores_the_campaign_with_a_reward_model_and_compares_it_with_the_experts(
    chromium, app_url, curator, demo_set, campaign, tiny_descore_run, gpu_queue, start_worker, django_user_model
):
    judged_demo_campaign(demo_set, campaign)
    model = registered_model_make(campaign, tiny_descore_run, name="tiny-descore")
    # the clean clip and the degradations each scene drew (two scenes may draw the same one)
    generators = set(Video.objects.filter(pairs_as_a__campaign=campaign).values_list("source_model", flat=True))
    generators |= set(Video.objects.filter(pairs_as_b__campaign=campaign).values_list("source_model", flat=True))
    start_worker(queues=(gpu_queue,))
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(page, app_url, curator)
    page.goto(f"{app_url}/campaigns/{campaign.pk}/leaderboard/?resamples=40")

    section = page.locator("[data-reward-model]")
    expect(section.locator("select[name=model]")).to_have_value(str(model.pk))
    section.locator("[data-start-scoring]").click()

    expect(page.locator("[data-testid=model-run-status]")).to_contain_text(
        re.compile(r"waiting for a worker|scoring|scored"), timeout=30_000
    )
    assert "resamples=40" in page.url and f"model={model.pk}" in page.url
    expect(page.locator("[data-scoring-done]")).to_have_text("scored 6 of 6 pairs", timeout=240_000)
    expect(section.locator("[data-board=experts] tbody tr")).to_have_count(len(generators))
    expect(section.locator("[data-board=experts] tbody tr").first).to_have_attribute("data-generator", "lavfi-clean")
    expect(section.locator("[data-board=model] tbody tr")).to_have_count(len(generators))
    for figure in ("kendall_tau", "spearman", "order_agreement", "verdict_agreement"):
        expect(section.locator(f"[data-figure={figure}] td").nth(2)).to_contain_text(" to ")
    expect(section.locator("[data-figure=verdict_agreement]")).to_contain_text("6 judged by both")
    section.scroll_into_view_if_needed()
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth"), width
        screenshot(page, f"leaderboard-reward-model-{width}.png")

    expert = django_user_model.objects.get(username="sim-1")
    expert.set_password("pw-sim-1")
    expert.save(update_fields=["password"])
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    other = chromium.new_context().new_page()
    sign_in(other, app_url, expert)
    response = other.goto(f"{app_url}/campaigns/{campaign.pk}/leaderboard/?model={model.pk}")
    assert response.status == 403 and "lavfi-clean" not in other.content()
