"""An ML engineer in real Chromium: open an export's Train page, launch aesrm-base on a tiny random Qwen2.5-VL,
watch the job's progress, see it succeed with test metrics, and find the model in the registry. The job runs on a
real Celery worker consuming the gpu queue (Redis, the test PostgreSQL database).

Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotation.services import campaign_member_add
from annotation.tests.conftest import screenshot
from rm_training.tiny import save_tiny_qwen2_5_vl
from training.models import RegisteredModel, TrainingJob
from training.tests.conftest import judged_clips_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TINY_RUN = {
    "hp__optim__batch_size": "2",
    "hp__optim__learning_rate": "0.003",
    "hp__stages__atomic_steps": "2",
    "hp__stages__sft_steps": "4",
}
EXTRA = "video.fps=4\nvideo.max_frames=4\nvideo.max_pixels=3136\ngrpo.max_new_tokens=16"


def test_engineer_launches_a_tiny_model_run_watches_it_and_finds_it_in_the_registry(
    four_scenes,
    django_user_model,
    ml_engineer,
    start_worker,
    gpu_queue,
    monkeypatch,
    settings,
    tmp_path,
    chromium,
    app_url,
):
    from webapp.celery import app

    app.conf.task_always_eager = True  # proxies are made in this process before the gpu worker starts
    snapshot = judged_clips_snapshot(four_scenes, django_user_model, tmp_path / "base-sft")
    campaign_member_add(campaign=snapshot.campaign, user=ml_engineer, role="ml_engineer")
    app.conf.task_always_eager = False
    model = save_tiny_qwen2_5_vl(tmp_path / "models" / "tiny-qwen")
    settings.TRAINING_MODEL_DIRS = [str(tmp_path / "models")]
    monkeypatch.setenv("TRAINING_HEARTBEAT_SECONDS", "0.3")
    start_worker(queues=(gpu_queue,))

    page = chromium.new_page()
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", ml_engineer.username)
    page.fill("input[name=password]", "pw-" + ml_engineer.username)
    page.click("button[type=submit]")
    page.click("nav >> text=Training")
    page.click(f"[data-train='{snapshot.pk}']")
    page.select_option("select[name=recipe]", "aesrm-base")
    # choosing a recipe reloads the form through htmx: fill the reloaded one, once htmx has swapped it in
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    expect(page.locator("[data-train-form]")).to_have_attribute("data-recipe", "aesrm-base")
    expect(page.locator("input[name=hp__checklist__max_epochs]")).to_have_count(0)
    page.select_option("select[name=model_path]", str(model))
    for name, value in TINY_RUN.items():
        page.fill(f"input[name={name}]", value)
    page.fill("textarea[name=extra]", EXTRA)
    page.click("[data-launch]")

    expect(page.locator("[data-step]")).to_have_text(re.compile(r"^\s*[1-6] / 6"), timeout=90_000)
    expect(page.locator("[data-loss]")).to_have_text(re.compile(r"\d\.\d{4}"))
    expect(page.locator("[data-curves] svg")).to_contain_text("loss", timeout=30_000)
    screenshot(page, "training-job-progress.png")
    expect(page.locator("[data-job-status]")).to_have_text("Succeeded", timeout=120_000)
    expect(page.locator("[data-step]")).to_contain_text("6 / 6")
    expect(page.locator("[data-metrics]")).to_contain_text("VA")
    curves = page.locator("[data-curves][data-status='succeeded'] svg")
    expect(curves).to_contain_text("learning rate", timeout=30_000)
    assert curves.locator("path[clip-path]").count() >= 2  # the loss and learning-rate lines are drawn
    screenshot(page, "training-job-succeeded.png")

    job = TrainingJob.objects.get()
    assert job.status == TrainingJob.Status.SUCCEEDED and job.loss is not None and job.total_steps == 6
    assert job.overrides["stages.sft_steps"] == "4" and job.overrides["video.max_frames"] == "4"
    registered = RegisteredModel.objects.get(job=job)
    assert registered.model_path == str(model) and set(registered.metrics["test"]["dimensions"]) == {"VA", "VF", "VP"}

    page.click("[data-registered]")
    expect(page.locator("[data-metrics]")).to_contain_text("VF")
    page.click("text=← Model registry")
    expect(page.locator(f"[data-model='{registered.pk}']")).to_contain_text("aesrm-base")
    page.close()
