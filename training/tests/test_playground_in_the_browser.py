"""An ML engineer in real Chromium goes from a registered model's page to the playground (served with the rest of
the app by uvicorn), which opens with that model and a test pair picked, judges it and shows the verdicts beside
the experts' labels. Screenshot: test-artifacts/playground.png."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_engineer_opens_the_playground_from_the_registry_and_judges_a_test_pair(
    playground_url, registered_model, ml_engineer, chromium
):
    page = chromium.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(f"{playground_url}/playground/")
    expect(page.locator("input[name=username]")).to_be_visible()  # signed out: sent to the login page first
    page.fill("input[name=username]", ml_engineer.username)
    page.fill("input[name=password]", "pw-" + ml_engineer.username)
    page.click("button[type=submit]")

    page.goto(f"{playground_url}/training/models/{registered_model.pk}/")
    page.click("[data-playground]")
    expect(page.get_by_text("AesLab model playground")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("combobox", name="Model")).to_have_value(
        f"{registered_model.name} · aesrm-base · judges uploaded videos", timeout=30_000
    )
    first_pair = json.loads((Path(registered_model.snapshot.path) / "test.jsonl").read_text().splitlines()[0])
    expect(page.get_by_role("combobox", name="Test-split pair (with the experts' labels)")).to_have_value(
        re.compile(rf"^pair {first_pair['pair_id']}\b"), timeout=30_000
    )

    page.get_by_role("button", name="Judge").click()

    aesthetics = page.get_by_role("grid", name="Dimension verdicts").get_by_role("row").filter(
        has=page.get_by_role("gridcell", name="VA Visual aesthetics", exact=True)
    )
    expect(aesthetics).to_be_visible(timeout=60_000)
    experts = {"A": "A better", "B": "B better", "tie": "comparable"}[first_pair["labels"]["VA"]]
    expect(aesthetics.get_by_role("gridcell").nth(4)).to_have_text(experts)
    expect(page.get_by_role("grid", name="Critique per criterion").get_by_role("row")).to_have_count(16)  # + header
    expect(page.get_by_role("textbox", name="What the model wrote")).to_have_value(re.compile("--- B shown first"))
    screenshot(page, "playground.png")
    page.close()
