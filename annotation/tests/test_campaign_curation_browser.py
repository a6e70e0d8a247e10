"""A curator's day in real Chromium: create a rubric-only campaign, import a manifest with its videos (a bad line
shown beside the field), add an expert and a second curator by username, read the expert's throughput, remove the
second curator, and lock the campaign after its confirmation step.

Screenshots go to test-artifacts/campaign-*.png."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.models import Campaign, VideoPair
from annotation.tests.conftest import render_clip, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def manifest_folder(tmp_path_factory):
    """Two clips and a manifest naming them by file name, plus a line whose second video was never uploaded."""
    folder = tmp_path_factory.mktemp("curator-manifest")
    render_clip(folder / "harbour.mp4", seconds=1, size="160x96")
    render_clip(folder / "harbour-tinted.mp4", "hue=h=120", seconds=1, size="160x96")
    lines = [
        {"pair_id": "h1", "prompt": "a harbour at noon", "video_a": "harbour.mp4", "video_b": "harbour-tinted.mp4"},
        {"pair_id": "h2", "prompt": "a harbour at noon", "video_a": "harbour.mp4", "video_b": "harbour-night.mp4"},
    ]
    (folder / "pairs.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    return folder


def test_a_curator_creates_fills_staffs_follows_and_locks_a_campaign(
    chromium, app_url, curator, other_expert, manifest_folder
):
    campaign_make(name="earlier", pairs=0, members={curator: "curator"})  # a curator somewhere may create one
    second_curator = expert_make("curator-eve")
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_url, curator)

    page.click("[data-new-campaign]")
    page.fill("input[name=name]", "harbours")
    page.select_option("select[name=checklist]", label="None: rubric verdicts only")
    page.fill("input[name=overlap]", "2")
    page.fill("input[name=agreement_threshold]", "0.75")
    page.fill("textarea[name=guidelines]", "# Harbours\n\nJudge the water's motion first.")
    screenshot(page, "campaign-new-1280.png")
    page.get_by_role("button", name="Create the campaign").click()

    expect(page.locator(".message")).to_contain_text("Campaign harbours created; you are its curator.")
    expect(page.locator("[data-campaign-summary]")).to_contain_text("no checklist (rubric verdicts only)")
    campaign = Campaign.objects.get(name="harbours")
    assert (campaign.checklist_id, campaign.overlap, campaign.agreement_threshold) == (None, 2, 0.75)

    page.set_input_files("input[name=manifest]", str(manifest_folder / "pairs.jsonl"))
    page.set_input_files(
        "input[name=videos]", [str(manifest_folder / "harbour.mp4"), str(manifest_folder / "harbour-tinted.mp4")]
    )
    page.get_by_role("button", name="Import the manifest").click()
    manifest_errors = page.locator("[data-manifest-form] .errorlist")
    expect(manifest_errors).to_contain_text("line 2:")
    expect(manifest_errors).to_contain_text("harbour-night.mp4")
    expect(manifest_errors).to_contain_text("1 pairs added")
    screenshot(page, "campaign-manifest-error-1280.png")
    assert list(VideoPair.objects.filter(campaign=campaign).values_list("external_id", flat=True)) == ["h1"]

    for username, role in ((other_expert.username, "Expert"), ("curator-eve", "Curator"), ("nobody", "Expert")):
        page.fill("[data-member-form] input[name=username]", username)
        page.select_option("[data-member-form] select[name=role]", label=role)
        page.get_by_role("button", name="Add the member").click()
    expect(page.locator("[data-member-form] .errorlist")).to_contain_text("No active user is called 'nobody'.")
    expect(page.locator(f"[data-member='{other_expert.username}-expert']")).to_be_visible()

    judge(VideoPair.objects.get(campaign=campaign), other_expert)
    page.goto(f"{app_url}/campaigns/{campaign.pk}/")
    throughput = page.locator(f"[data-throughput] [data-expert='{other_expert.username}'] td")
    expect(throughput.nth(1)).to_have_text("1")
    screenshot(page, "campaign-page-1280.png")

    page.get_by_role("button", name=f"Remove {second_curator.username} as Curator").click()
    expect(page.locator(".message")).to_contain_text("curator-eve is no longer Curator of harbours.")
    expect(page.locator("[data-member='curator-eve-curator']")).to_have_count(0)

    page.click("[data-lock-link]")
    expect(page.locator("[data-lock-confirm] h1")).to_have_text("Lock harbours?")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE  # nothing happens before the confirmation
    screenshot(page, "campaign-lock-confirm-1280.png")
    page.click("[data-confirm-lock]")
    expect(page.locator(".message")).to_contain_text("Campaign harbours locked: judgments are final.")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.LOCKED
    context.close()
