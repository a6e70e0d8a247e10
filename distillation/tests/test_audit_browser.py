"""The curator's audit in Chromium: flagged spans highlighted beside the pair player; accept, edit, reject."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot, sign_in
from distillation import services
from distillation.models import Critique, CritiqueRevision
from distillation.selectors import critiques_for_export
from distillation.tests.factories import clean_text_for, item_create, uniform_labels

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_curator_accepts_edits_away_a_leak_and_rejects_in_the_browser(
    chromium, app_url, curator, campaign, labelled_pairs
):
    labels = uniform_labels(campaign.rubric, 1)
    clean_pair, leaky_pair, wrong_pair = labelled_pairs([labels] * 3)
    text = clean_text_for(campaign.rubric, labels)
    leak = "Rated highly by the expert, the frame"
    leaky_text = text.replace(
        "VA2 Colour harmony and grading: A: The frame", f"VA2 Colour harmony and grading: A: {leak}"
    )
    critiques = [
        services.critique_record(item=item_create(pair=pair, labels=labels), sample_index=0, text=body)
        for pair, body in (
            (clean_pair, text),
            (leaky_pair, leaky_text),
            (wrong_pair, text.replace("<answer>VA: 1", "<answer>VA: -1")),
        )
    ]
    assert [c.passed for c in critiques] == [True, False, False]

    page = chromium.new_page(viewport={"width": 1600, "height": 1000})
    try:
        sign_in(page, app_url, curator)
        page.goto(f"{app_url}/distillation/audit/?review=pending")
        expect(page.locator("[data-audit-queue] tbody tr")).to_have_count(3)
        page.click(f"[data-audit-queue] a:text-is('#{critiques[0].pk}')")

        # 1. The clean critique: nothing flagged, the pair player beside it; accept.
        expect(page.locator("[data-pair-player]")).to_be_visible()
        expect(page.locator("[data-critique-text] mark")).to_have_count(0)
        page.click("button[value=accept]")

        # 2. The leaky one comes next: the leaked words are highlighted with the reason.
        expect(page).to_have_url(f"{app_url}/distillation/critiques/{critiques[1].pk}/?review=pending")
        flagged = page.locator("[data-critique-text] mark.flag-leakage")
        expect(flagged).to_have_text(["Rated", "the expert"])
        expect(page.locator("[data-reasons] li[data-filter=leakage]").first).to_contain_text("label_reference")
        screenshot(page, "distillation-audit.png")
        page.click("button[value=accept]")
        expect(page.locator("main")).to_contain_text("does not pass the filters")
        page.fill("textarea[name=text]", leaky_text.replace(leak, "The frame"))
        page.click("button[value=accept]")

        # 3. The misaligned one: reject with a note.
        expect(page).to_have_url(f"{app_url}/distillation/critiques/{critiques[2].pk}/?review=pending")
        expect(page.locator("[data-reasons] li[data-filter=alignment]")).to_contain_text("dimension_mismatch")
        page.fill("input[name=note]", "concludes the wrong way on VA")
        page.click("button[value=reject]")
        expect(page).to_have_url(f"{app_url}/distillation/audit/?review=pending")
        expect(page.locator("[data-audit-queue]")).to_contain_text("Nothing to audit")
        expect(page.locator("main")).to_contain_text(curator.username)  # throughput table
    finally:
        page.close()

    assert critiques_for_export(campaign=campaign) == {
        clean_pair.id: text,
        leaky_pair.id: leaky_text.replace(leak, "The frame"),
    }
    reviews = dict(Critique.objects.values_list("item__pair_id", "review"))
    assert reviews == {clean_pair.id: "accepted", leaky_pair.id: "accepted", wrong_pair.id: "rejected"}
    history = list(CritiqueRevision.objects.order_by("id").values_list("critique_id", "action", "user_id"))
    assert history == [
        (critiques[0].pk, "accept", curator.pk),
        (critiques[1].pk, "edit", curator.pk),
        (critiques[1].pk, "accept", curator.pk),
        (critiques[2].pk, "reject", curator.pk),
    ]
    assert CritiqueRevision.objects.get(action="reject").note == "concludes the wrong way on VA"
    edited = Critique.objects.get(pk=critiques[1].pk)
    assert edited.raw_text == leaky_text and edited.edited


def test_the_job_page_updates_itself_while_the_job_runs_and_stops_polling_when_done(
    chromium, app_url, ml_engineer, campaign, labelled_pairs
):
    from django.utils import timezone

    from distillation.models import DistillationItem
    from distillation.tests.factories import endpoint_create

    labels = uniform_labels(campaign.rubric, 1)
    labelled_pairs([labels] * 2)
    job = services.job_create(campaign=campaign, endpoint=endpoint_create())  # items pending, nothing enqueued
    page = chromium.new_page()
    try:
        sign_in(page, app_url, ml_engineer)
        page.goto(f"{app_url}/distillation/jobs/{job.pk}/")
        expect(page.locator("[data-field=done]")).to_have_text("0 / 2")

        first, second = job.items.order_by("id")
        services.critique_record(item=first, sample_index=0, text=clean_text_for(campaign.rubric, labels))
        DistillationItem.objects.filter(pk=first.pk).update(status="done", finished_at=timezone.now())
        expect(page.locator("[data-field=done]")).to_have_text("1 / 2", timeout=10_000)
        expect(page.locator("[data-field=passed]")).to_have_text("1 of 1")

        DistillationItem.objects.filter(pk=second.pk).update(status="done", finished_at=timezone.now())
        services.job_finish_if_complete(job_id=job.pk)
        expect(page.locator("#job-progress")).to_have_attribute("data-status", "done", timeout=10_000)
        expect(page.locator("[data-field=done]")).to_have_text("2 / 2")
        expect(page.locator("#job-progress")).not_to_have_attribute("hx-trigger", "every 2s")
        screenshot(page, "distillation-job.png")
    finally:
        page.close()
