"""The demo's last stage, once with its demo-sized VLM: `manage.py demo_setup` trains a descore model on a tiny random
Qwen2.5-VL (the only test that does; annotation/tests/test_demo_setup.py passes --without-vlm), whose job leaves
curves, and which judges two uploaded videos through the playground service and, in real Chromium, in the
playground: the app's look, a link back to the app, upload mode starting with empty players.
Screenshots: test-artifacts/playground-demo-{1280,1920}.png (a test pair), playground-demo-upload-{1280,1920}.png."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot
from training import judging
from training.models import RegisteredModel, TrainingJob
from training.playground import APP_COLOURS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

JUDGE_SECONDS = 120_000  # loading the model and scoring two videos on a loaded 2-core machine


def _rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[index : index + 2], 16) for index in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


@pytest.fixture
def demo(settings, tmp_path):
    """What `./run demo` sets up, with the demo's base-model folder declared as ./run declares it."""
    settings.BASE_DIR = tmp_path
    settings.TRAINING_MODEL_DIRS = [str(tmp_path / ".demo" / "models")]
    call_command("demo_setup", scenes=4)
    return tmp_path / ".demo"


def test_the_demo_vlm_has_curves_and_judges_uploaded_videos_in_the_playground_in_the_apps_look(
    demo, playground_url, chromium
):
    job = TrainingJob.objects.get(recipe="descore")
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    steps = [json.loads(line) for line in (Path(job.run_dir) / "metrics.jsonl").read_text().splitlines()]
    assert [step["step"] for step in steps] == list(range(1, job.total_steps + 1))
    assert all("loss" in step and "bt/pair_accuracy" in step for step in steps)  # the job page's two curves
    registered = RegisteredModel.objects.get(job=job)
    assert registered.name.startswith("Demo-sized descore") and registered.promoted
    assert set(registered.tags) == {"demo", "demo-sized"}

    clips = sorted((demo / "clips").glob("*.mp4"))
    model = judging.registry_models(queryset=RegisteredModel.objects.all())[0]  # promoted first
    assert model.key == f"model:{registered.pk}" and model.judges_uploads
    uploaded = judging.uploaded_pair(model, video_a=str(clips[0]), video_b=str(clips[1]), prompt="a demo scene")
    judgement = judging.pair_judge(model, uploaded)
    assert set(judgement.original.verdicts) == {"VA", "VF", "VP"} and set(judgement.rewards_a) == {"VA", "VF", "VP"}

    page = chromium.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(f"{playground_url}/playground/")
    page.fill("input[name=username]", "mlengineer")
    page.fill("input[name=password]", "aeslab-ml")
    page.click("button[type=submit]")
    expect(page.get_by_text("AesLab model playground")).to_be_visible(timeout=30_000)

    # the app's look and the way back to it
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == _rgb(APP_COLOURS["background"])
    judge_button = page.get_by_role("button", name="Judge")
    assert judge_button.evaluate("e => getComputedStyle(e).backgroundColor") == _rgb(APP_COLOURS["accent"])
    assert "system-ui" in page.evaluate("getComputedStyle(document.querySelector('.gradio-container')).fontFamily")
    back = page.get_by_role("link", name=re.compile("Back to the app"))
    expect(back).to_be_visible()
    expect(back).to_have_attribute("href", "/training/")

    # the model list says what each model can judge; the demo VLM comes first, with a test pair in the players
    model_list = page.get_by_role("combobox", name="Model")
    expect(model_list).to_have_value(re.compile(r"^★ Demo-sized descore .* · descore · judges uploaded videos$"))
    expect(page.get_by_text("Of these models, 1 can judge uploaded videos.")).to_be_visible()
    expect(page.locator("#video-a video")).to_have_count(1, timeout=30_000)
    expect(page.locator("#video-b video")).to_have_count(1)
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1100})
        assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth"), width
        screenshot(page, f"playground-demo-{width}.png")
    page.set_viewport_size({"width": 1280, "height": 1100})

    # upload mode starts empty: the test pair's videos are not judged as if they were uploads
    page.get_by_label("Upload two videos").check()
    expect(page.locator("#video-a video")).to_have_count(0)
    expect(page.locator("#video-b video")).to_have_count(0)
    expect(page.get_by_role("combobox", name="Test-split pair (with the experts' labels)")).to_be_hidden()
    page.locator("#video-a input[type=file]").set_input_files(clips[0])
    page.locator("#video-b input[type=file]").set_input_files(clips[1])
    expect(page.locator("#video-b video")).to_have_count(1, timeout=30_000)
    page.get_by_label("Prompt the videos were generated from (uploads)").fill("a demo scene")
    judge_button.click()

    result = page.get_by_role("heading", name="Uploaded pair: a demo scene")
    expect(result).to_be_visible(timeout=JUDGE_SECONDS)
    verdicts = page.get_by_role("grid", name="Dimension verdicts")
    for dimension in ("VA Visual aesthetics", "VF Visual fidelity", "VP Visual plausibility"):
        expect(verdicts.get_by_role("gridcell", name=dimension, exact=True)).to_be_visible()
    expect(page.get_by_role("textbox", name="What the model wrote")).to_have_value(
        re.compile("this model writes no text: it scores")
    )
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1100})
        assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth"), width
        verdicts.scroll_into_view_if_needed()
        screenshot(page, f"playground-demo-upload-{width}.png")
    page.close()
