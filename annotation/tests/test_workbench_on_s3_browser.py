"""The workbench in real Chromium with media on S3: both players load their proxies from the bucket through
presigned URLs, and the bucket answers Chromium's Range requests with 206 Partial Content.

Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIDEOS = "[...document.querySelectorAll('[data-pair-player] video')]"


@pytest.mark.parametrize("width", [1280, 1920])
def test_the_workbench_player_loads_both_proxies_from_the_bucket(
    chromium, app_url, expert, s3_media, assignment_on_s3, width
):
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    bucket_responses = []
    page.on(
        "response",
        lambda response: (
            bucket_responses.append(response)
            if response.url.startswith(f"{s3_media.endpoint_url}/{s3_media.name}/videos/proxy/")
            else None
        ),
    )
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", expert.username)
    page.fill("input[name=password]", "pw-" + expert.username)
    page.click("button[type=submit]")
    expect(page.locator("[data-next-pair]")).to_be_visible()

    page.goto(f"{app_url}/work/assignments/{assignment_on_s3.pk}/")
    page.wait_for_function(f"() => {VIDEOS}.length === 2 && {VIDEOS}.every(v => v.readyState >= 1)", timeout=15_000)

    sources = page.evaluate(f"() => {VIDEOS}.map(v => v.currentSrc)")
    for source, video in zip(sources, (assignment_on_s3.pair.video_a, assignment_on_s3.pair.video_b), strict=True):
        assert source.startswith(f"{s3_media.endpoint_url}/{s3_media.name}/{video.proxy.name}?")
        assert "X-Amz-Signature=" in source
    durations = page.evaluate(f"() => {VIDEOS}.map(v => v.duration)")
    assert all(abs(duration - 4.0) < 0.2 for duration in durations), durations
    assert any(response.status == 206 for response in bucket_responses), [r.status for r in bucket_responses]
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"workbench-media-on-s3-{width}.png")
    context.close()
