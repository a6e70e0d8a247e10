"""Endpoints in Chromium: a curator finds the endpoints page from the jobs page, adds one, tests it (answer and
latency, then a failing server's error), edits it, sees a hanging server given up on; an expert is refused.
Screenshots at 1280 and 1920 px."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from annotation.services import campaign_member_add
from annotation.tests.conftest import screenshot, sign_in
from distillation.models import Endpoint
from distillation.selectors import endpoint_api_key
from distillation.tests import fake_llm as script

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = "sk-browser-test-key-7Q4z"
WIDTHS = (1280, 1920)


def _no_horizontal_page_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls {overflow} px sideways at {page.viewport_size['width']} px"


def _at_each_width(page: Page, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        _no_horizontal_page_scroll(page)
        screenshot(page, f"{name}-{width}.png")


def test_a_curator_adds_tests_and_edits_an_endpoint(chromium, app_url, curator, campaign, fake_llm):
    fake_llm.latency = 0.15
    fake_llm.answers["unknown"] = "Vertical colour bars over a grey gradient, with a moving circle."
    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    try:
        sign_in(page, app_url, curator)
        page.goto(f"{app_url}/distillation/")
        expect(page.locator("main")).not_to_contain_text("in the admin")
        page.locator("[data-endpoints]").scroll_into_view_if_needed()
        _at_each_width(page, "distillation-index-no-endpoints")
        page.click("[data-manage-endpoints]")

        expect(page.locator("[data-endpoint-intro]")).to_contain_text("vLLM")
        expect(page.locator("[data-endpoints]")).to_contain_text("No endpoints yet")
        _at_each_width(page, "distillation-endpoints-empty")
        page.click("[data-endpoint-add]")

        # A wrong scheme is refused next to the field, then corrected.
        page.fill("input[name=name]", "qwen-local")
        page.fill("input[name=base_url]", "ftp://127.0.0.1/v1")
        page.fill("input[name=model]", "Qwen/Qwen2.5-VL-7B-Instruct")
        page.fill("input[name=api_key]", KEY)
        page.click("[data-endpoint-form] button[type=submit]")
        expect(page.locator("[data-field=base_url] .errorlist")).to_contain_text("http:// or https://")
        _at_each_width(page, "distillation-endpoint-new-invalid")
        page.fill("input[name=base_url]", fake_llm.url)
        page.fill("input[name=api_key]", KEY)
        page.click("[data-endpoint-form] button[type=submit]")

        expect(page.locator(".message.success")).to_contain_text("qwen-local added")
        expect(page.locator("[data-field=api_key]")).to_contain_text("ending in …7Q4z")
        assert KEY not in page.content()

        # Test: the answer and the latency appear in the page.
        page.fill("input[name=question]", "What is in this image?")
        page.click("[data-endpoint-test] button[type=submit]")
        result = page.locator("[data-probe-result=ok]")
        expect(result).to_be_visible()
        expect(result.locator("[data-probe-answer]")).to_have_text(fake_llm.answers["unknown"])
        assert int(result.locator("[data-latency-ms]").inner_text()) >= 150
        sent = json.loads(fake_llm.requests[-1].body)["messages"][0]["content"]
        assert [part["type"] for part in sent] == ["text", "image_url"] and sent[0]["text"] == "What is in this image?"
        _at_each_width(page, "distillation-endpoint-test-answer")

        # A server failing is shown as such, with a hint.
        fake_llm.script("unknown", script.status(500))
        page.set_viewport_size({"width": 1280, "height": 1000})
        page.click("[data-endpoint-test] button[type=submit]")
        expect(page.locator("[data-probe-result=error]")).to_contain_text("HTTP 500")
        expect(page.locator("[data-probe-hint]")).to_contain_text("failed while answering")
        _at_each_width(page, "distillation-endpoint-test-error")

        # Edit: a new model name and limits, the key kept (the field left blank).
        page.set_viewport_size({"width": 1280, "height": 1000})
        page.fill("input[name=model]", "Qwen/Qwen2.5-VL-72B-Instruct")
        page.fill("input[name=max_concurrency]", "16")
        page.fill("input[name=timeout_seconds]", "2")
        page.click("[data-endpoint-form] button[type=submit]")
        expect(page.locator(".message.success")).to_contain_text("qwen-local saved")
        expect(page.locator("[data-field=api_key]")).to_contain_text("ending in …7Q4z")

        # A hanging server: the page says it is waiting, then gives up at the (edited) timeout.
        fake_llm.script("unknown", script.hang(6.0))
        page.click("[data-endpoint-test] button[type=submit]")
        expect(page.locator("#endpoint-test-waiting")).to_be_visible()
        expect(page.locator("[data-endpoint-test] button[type=submit]")).to_be_disabled()
        expect(page.locator("[data-probe-error]")).to_have_text("timeout after 2 s", timeout=10_000)
        expect(page.locator("[data-probe-hint]")).to_contain_text("No answer in time")
        page.click("text=Endpoints")
        row = page.locator("[data-endpoint=qwen-local]")
        expect(row).to_contain_text("Qwen/Qwen2.5-VL-72B-Instruct")
        expect(row).to_contain_text("ending in …7Q4z")
        _at_each_width(page, "distillation-endpoints")
        page.click("text=Distillation >> nth=1")  # the breadcrumb, not the top bar
        expect(page.locator("[data-endpoints] a:text-is('qwen-local')")).to_be_visible()
        page.locator("[data-endpoints]").scroll_into_view_if_needed()
        _at_each_width(page, "distillation-index-with-endpoint")
    finally:
        page.close()

    endpoint = Endpoint.objects.get(name="qwen-local")
    assert (endpoint.model, endpoint.max_concurrency, endpoint.timeout_seconds) == (
        "Qwen/Qwen2.5-VL-72B-Instruct",
        16,
        2.0,
    )
    assert endpoint_api_key(endpoint=endpoint) == KEY


def test_an_expert_is_refused_the_endpoints_page(chromium, app_url, expert, campaign):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, app_url, expert)
        response = page.goto(f"{app_url}/distillation/endpoints/")
        assert response.status == 403
        expect(page.locator("body")).to_contain_text("curator or ML engineer")
        response = page.goto(f"{app_url}/distillation/endpoints/new/")
        assert response.status == 403
        screenshot(page, "distillation-endpoints-refused.png")
    finally:
        page.close()
