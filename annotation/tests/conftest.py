"""Browser-test fixtures: Debian's Chromium through Playwright against a live server of the real app."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test.testcases import LiveServerThread
from playwright.sync_api import Browser, sync_playwright

from annotation.services import assignment_create, campaign_member_add
from pipelines.ingest import IncomingVideo, pair_ingest
from webapp.testing import RequestsInFlight, lavfi_render

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def render_clip(out: Path, *filters: str, fps: int = 24, seconds: int = 4, size: str = "320x180") -> Path:
    vf = ["-vf", ",".join(filters)] if filters else []
    return lavfi_render(
        out,
        f"testsrc2=size={size}:rate={fps}",
        seconds=seconds,
        output_args=[*vf, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
    )


def sign_in(page, app_url: str, user) -> None:
    """Sign in through the login form as a test user (password "pw-" + username) and wait to leave the form."""
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-" + user.username)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=False)
    return path


@pytest.fixture(scope="module")
def django_orm_beside_playwright():
    # Playwright's sync API keeps an asyncio loop in this thread, which Django's ORM guard mistakes for async code.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def chromium(django_orm_beside_playwright) -> Browser:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _static_files_over_the_app(media_shortcut) -> RequestsInFlight:
    """Static files, then the app itself: /media/ goes through the app's URLconf (login, Range support)
    instead of LiveServerThread's own media shortcut. Counted, so a test's end can wait for its last request."""
    counted = RequestsInFlight(StaticFilesHandler(media_shortcut.application))
    RequestsInFlight.servers.append(counted)
    return counted


@pytest.fixture(scope="module")
def app_url(django_db_setup) -> str:
    thread = LiveServerThread("localhost", static_handler=_static_files_over_the_app)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://localhost:{thread.port}"
    thread.terminate()
    RequestsInFlight.servers.clear()


@pytest.fixture(scope="module")
def s3_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s3-clips")
    return render_clip(folder / "a.mp4"), render_clip(folder / "b.mp4", "hue=h=140:s=1.6")


@pytest.fixture
def assignment_on_s3(s3_media, campaign, s3_clips, expert):
    """An expert's assignment of a pair ingested with media on S3 (the `s3_media` fixture), unswapped."""
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pair, _ = pair_ingest(
        campaign=campaign,
        prompt="a test card drifting through colours",
        video_a=IncomingVideo(path=s3_clips[0], original_name="a.mp4"),
        video_b=IncomingVideo(path=s3_clips[1], original_name="b.mp4"),
    )
    pair.video_a.refresh_from_db()
    pair.video_b.refresh_from_db()
    return assignment_create(pair=pair, expert=expert, swapped=False)
