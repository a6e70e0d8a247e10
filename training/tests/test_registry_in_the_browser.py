"""An ML engineer in real Chromium: reads the registry's metric columns, sorts and filters them, selects two
models trained on one export, evaluates both on another export's test split with "Evaluate all on this snapshot"
(a real Celery worker on the gpu queue runs the evaluations), and reads their figures on that same split; the
compare view shows them on it too. No sideways page scroll at 1280 or 1920 px. Screenshots in test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation.services import campaign_member_add
from annotation.tests.conftest import screenshot
from training.models import ModelEvaluation, TrainingJob
from training.services import registered_model_tag, training_job_create, training_job_run
from training.tests.conftest import judged_campaign_make, snapshot_make
from webapp.testing import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def trained(snapshot, **overrides):
    job = training_job_run(job_id=training_job_create(snapshot=snapshot, recipe="checklist-linear", **overrides).pk)
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    return job.registered_model


def no_sideways_scroll(page) -> bool:
    return page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")


def test_engineer_sorts_filters_and_evaluates_all_selected_models_on_one_split(
    gpu_worker, pairwise_snapshot, ml_engineer, tmp_path, chromium, app_url
):
    baseline = trained(pairwise_snapshot)
    regularised = trained(pairwise_snapshot, overrides={"checklist.l2": "10"})
    registered_model_tag(model=regularised, tags=["regularised"], promoted=False)
    held_out = judged_campaign_make(name="held-out", pairs=8)
    campaign_member_add(campaign=held_out, user=ml_engineer, role="ml_engineer")
    other = snapshot_make(campaign=held_out, export_format="aesrm-pairwise", folder=tmp_path / "held-out")

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", ml_engineer.username)
    page.fill("input[name=password]", "pw-" + ml_engineer.username)
    page.click("button[type=submit]")
    page.goto(f"{app_url}/training/models/")
    expect(page.locator("[data-split-note]")).to_contain_text("its own export's test split")
    expect(page.locator(f"[data-model='{baseline.pk}'] [data-split]")).to_have_text(
        f"own test split (#{pairwise_snapshot.pk})"
    )
    expect(page.locator(f"[data-model='{baseline.pk}'] [data-figure=VA_with_ties]")).to_have_text(
        f"{baseline.metrics['test']['dimensions']['VA']['accuracy_with_ties']:.3f}"
    )

    model_names = page.locator("[data-registry] tbody tr td:nth-child(2) > a")
    names = sorted([baseline.name, regularised.name], key=str.casefold)
    page.click("[data-sort=name]")  # names A to Z; sorting reloads the page, so wait for it
    expect(page.locator("[data-sort=name]")).to_contain_text("▲")
    expect(model_names).to_have_text(names)
    page.click("[data-sort=name]")  # a second click reverses
    expect(page.locator("[data-sort=name]")).to_contain_text("▼")
    expect(model_names).to_have_text(names[::-1])

    page.select_option("select[name=tag]", "regularised")
    page.click("[data-registry-filters] button[type=submit]")
    expect(page.locator("[data-registry] tbody tr")).to_have_count(1)
    expect(page.locator(f"[data-model='{regularised.pk}']")).to_be_visible()
    page.click("text=Clear")
    expect(page.locator("[data-registry] tbody tr")).to_have_count(2)

    page.check(f"[data-model='{baseline.pk}'] input[name=ids]")
    page.check(f"[data-model='{regularised.pk}'] input[name=ids]")
    page.select_option("[data-evaluate-snapshot]", str(other.pk))
    page.click("[data-evaluate-on]")
    expect(page.locator("[data-evaluate-batch]")).to_contain_text(
        f"Queued 2 evaluations on the test split of export #{other.pk}"
    )
    screenshot(page, "registry-evaluate-all-queued-1280.png")
    wait_until(
        lambda: ModelEvaluation.objects.filter(snapshot=other).count() == 2,
        timeout=120,
        message="both evaluations to finish on the worker",
    )

    page.click("[data-show-on]")
    expect(page.locator("[data-split-note]")).to_contain_text(f"test split of export #{other.pk}")
    for model in (baseline, regularised):
        evaluation = ModelEvaluation.objects.get(model=model, snapshot=other)
        row = page.locator(f"[data-model='{model.pk}']")
        expect(row.locator("[data-split]")).to_have_text(f"test split of #{other.pk}")
        expect(row.locator("[data-figure=VP_without_ties]")).to_have_text(
            f"{evaluation.metrics['dimensions']['VP']['accuracy_without_ties']:.3f}"
        )
    page.click("[data-sort=VA_with_ties]")
    expect(page.locator("[data-sort=VA_with_ties]")).to_contain_text("▼")
    assert no_sideways_scroll(page)
    screenshot(page, "registry-on-one-split-1280.png")
    page.set_viewport_size({"width": 1920, "height": 1000})
    assert no_sideways_scroll(page)
    screenshot(page, "registry-on-one-split-1920.png")

    page.check(f"[data-model='{baseline.pk}'] input[name=ids]")
    page.check(f"[data-model='{regularised.pk}'] input[name=ids]")
    page.click("text=Compare selected")
    expect(page.locator("[data-compare-split]")).to_contain_text(f"every model on the test split of export #{other.pk}")
    expect(page.locator("[data-compare]")).to_contain_text("VA")
    assert no_sideways_scroll(page)
    screenshot(page, "registry-compare-on-one-split-1920.png")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert no_sideways_scroll(page)
    screenshot(page, "registry-compare-on-one-split-1280.png")
