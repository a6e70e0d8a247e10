"""The synchronised pair player in real Chromium: two ingested clips, the real include, the real media view.

Each test ingests a pair through `pair_ingest` (proxies and posters made by real ffmpeg), signs an expert in,
and drives annotation/_pair_player.html through a test-only harness page (annotation/tests/player_harness).
Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import Page

from annotation.models import Video, VideoPair
from annotation.services import campaign_member_add
from annotation.tests.conftest import render_clip, screenshot
from pipelines.ingest import IncomingVideo, pair_ingest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("annotation.tests.player_harness.urls"),
]

FPS = 24
FRAME = 1 / FPS
CLIP_SECONDS = 4
PLAYER = "document.querySelector('[data-pair-player]').aeslabPlayer"
VIDEOS = "[...document.querySelector('[data-pair-player]').querySelectorAll('video')]"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    """Two four-second clips of the same scene; the right one hue-shifted so the sides look different."""
    folder = tmp_path_factory.mktemp("player-clips")
    return (
        render_clip(folder / "plain.mp4", fps=FPS, seconds=CLIP_SECONDS),
        render_clip(folder / "hue-shifted.mp4", "hue=h=140:s=1.6", fps=FPS, seconds=CLIP_SECONDS),
    )


@pytest.fixture
def pair(campaign, clips) -> VideoPair:
    plain, shifted = clips
    pair, _created = pair_ingest(
        campaign=campaign,
        prompt="a test card drifting through colours",
        video_a=IncomingVideo(path=plain, original_name=plain.name),
        video_b=IncomingVideo(path=shifted, original_name=shifted.name),
    )
    for video in (pair.video_a, pair.video_b):
        video.refresh_from_db()
        assert video.status == Video.Status.READY, video.error
        assert video.fps == FPS
    return pair


@pytest.fixture
def open_player(chromium, app_url, client, expert, pair):
    """Open the harness page signed in as an expert of the pair's campaign (media are served to its members);
    returns the page once both videos can play."""
    campaign_member_add(campaign=pair.campaign, user=expert, role="expert")
    client.force_login(expert)
    session_id = client.cookies["sessionid"].value
    contexts = []

    def open_page(query: str = "") -> Page:
        context = chromium.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        context.add_cookies([{"name": "sessionid", "value": session_id, "url": app_url}])
        page = context.new_page()
        page.goto(f"{app_url}/harness/pair-player/{pair.pk}/{query}")
        page.wait_for_function(
            f"() => window.AesLabPairPlayer && {PLAYER} && {VIDEOS}.every(video => video.readyState >= 3)",
            timeout=15_000,
        )
        return page

    yield open_page
    for context in contexts:
        context.close()


def _times(page: Page) -> list[float]:
    return page.evaluate(f"() => {VIDEOS}.map(video => video.currentTime)")


def _wait_until_settled(page: Page) -> None:
    """Until neither video is mid-seek, so currentTime is the frame on screen."""
    page.wait_for_function(f"() => {VIDEOS}.every(video => !video.seeking && video.readyState >= 2)")


def test_posters_show_before_playback_and_proxies_answer_range_requests(open_player, pair):
    page = open_player()
    before = page.evaluate(
        f"""() => {VIDEOS}.map(video => ({{
            poster: video.getAttribute('poster'), paused: video.paused, played: video.played.length,
            time: video.currentTime, muted: video.muted, preload: video.preload,
            inline: video.hasAttribute('playsinline'),
        }}))"""
    )
    assert [side["poster"] for side in before] == [pair.video_a.poster.url, pair.video_b.poster.url]
    for side in before:
        assert side["poster"].endswith(".jpg")
        assert (side["paused"], side["played"], side["time"]) == (True, 0, 0)
        assert (side["muted"], side["preload"], side["inline"]) == (True, "auto", True)
    screenshot(page, "pair-player-posters.png")

    poster_sizes = page.evaluate(
        f"""() => Promise.all({VIDEOS}.map(video => new Promise((resolve, reject) => {{
            const image = new Image();
            image.onload = () => resolve([image.naturalWidth, image.naturalHeight]);
            image.onerror = reject;
            image.src = video.poster;
        }})))"""
    )
    assert poster_sizes == [[320, 180], [320, 180]]

    ranged = page.evaluate(
        f"""async () => {{
            const options = {{headers: {{Range: 'bytes=100-199'}}, cache: 'no-store'}};
            const response = await fetch({VIDEOS}[1].currentSrc, options);
            const body = await response.arrayBuffer();
            return {{status: response.status, range: response.headers.get('Content-Range'), length: body.byteLength}};
        }}"""
    )
    size = pair.video_b.proxy.size
    assert ranged == {"status": 206, "range": f"bytes 100-199/{size}", "length": 100}
    seekable_ends = page.evaluate(f"() => {VIDEOS}.map(video => video.seekable.end(0))")
    assert seekable_ends == [pytest.approx(CLIP_SECONDS, abs=0.05)] * 2
    anonymous = Client().get(pair.video_b.proxy.url, HTTP_RANGE="bytes=0-99")
    assert anonymous.status_code == 302, "media need a signed-in user"


def test_space_plays_both_within_a_frame_of_each_other_corrects_drift_and_pauses_both(open_player):
    page = open_player()
    page.keyboard.press("Space")
    sampled = page.evaluate(
        f"""async () => {{
            const player = {PLAYER};
            const videos = {VIDEOS};
            const drifts = [];
            const started = performance.now();
            while (performance.now() - started < 2000) {{
                await new Promise(resolve => setTimeout(resolve, 100));
                drifts.push(player.drift());
            }}
            return {{drifts, times: videos.map(video => video.currentTime), playing: videos.map(v => !v.paused)}};
        }}"""
    )
    assert len(sampled["drifts"]) >= 15
    assert max(abs(drift) for drift in sampled["drifts"]) < FRAME, sampled["drifts"]
    assert sampled["playing"] == [True, True]
    assert all(time > 1.0 for time in sampled["times"]), sampled["times"]
    assert page.get_attribute('[data-action="play"]', "aria-pressed") == "true"

    page.keyboard.press("Space")
    _wait_until_settled(page)
    left, right = _times(page)
    assert page.evaluate(f"() => {VIDEOS}.map(video => video.paused)") == [True, True]
    assert left == pytest.approx(right, abs=1e-3), "a paused pair shows the same instant"
    assert page.evaluate(f"() => {PLAYER}.isPlaying()") is False
    screenshot(page, "pair-player.png")
    page.set_viewport_size({"width": 1920, "height": 1080})
    screenshot(page, "pair-player-1920.png")

    # Knock the follower half a second ahead while playing, as a decoder hiccup would: the player pulls it back.
    page.evaluate(f"() => {{ {PLAYER}.seek(0.2); {PLAYER}.play(); }}")
    page.wait_for_function(f"() => {VIDEOS}.every(video => !video.paused && video.currentTime > 0.4)")
    page.evaluate(f"() => {{ const [left, right] = {VIDEOS}; right.currentTime = left.currentTime + 0.5; }}")
    page.wait_for_timeout(800)
    corrected = page.evaluate(f"() => ({{drift: {PLAYER}.drift(), stats: {PLAYER}.stats()}})")
    assert abs(corrected["drift"]) < FRAME / 4, corrected
    assert corrected["stats"]["hardSeeks"] >= 1
    assert page.evaluate(f"() => {VIDEOS}.map(video => video.paused)") == [False, False]

    # The right video runs out of data: the left one waits for it, and both go on together.
    held = page.evaluate(
        f"""() => {{
            const [left, right] = {VIDEOS};
            right.dispatchEvent(new Event('waiting'));
            return {{paused: [left.paused, right.paused], stalled: {PLAYER}.stats().stalled}};
        }}"""
    )
    assert held == {"paused": [True, True], "stalled": True}
    page.wait_for_function(f"() => {VIDEOS}.every(video => !video.paused) && !{PLAYER}.stats().stalled")
    assert page.evaluate(f"() => {PLAYER}.isPlaying()") is True


def test_scrubber_seeks_both_and_frame_steps_move_both_by_one_frame_and_pause(open_player):
    page = open_player()
    page.fill("[data-scrubber]", "2.5")
    _wait_until_settled(page)
    start = _times(page)
    assert start == [pytest.approx(2.5, abs=1e-3)] * 2
    assert page.text_content("[data-time]") == "2.500 / 4.000 s"
    assert page.text_content("[data-frame]") == f"frame 61 / {FPS * CLIP_SECONDS}"

    page.keyboard.press("ArrowRight")
    _wait_until_settled(page)
    after_forward = _times(page)
    for before, after in zip(start, after_forward, strict=True):
        assert after - before == pytest.approx(FRAME, abs=0.003)
    assert page.text_content("[data-frame]") == f"frame 62 / {FPS * CLIP_SECONDS}"

    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    _wait_until_settled(page)
    for before, after in zip(start, _times(page), strict=True):
        assert after - before == pytest.approx(-FRAME, abs=0.003)

    page.keyboard.press("Space")
    page.wait_for_function(f"() => {VIDEOS}.every(video => !video.paused)")
    page.keyboard.press("ArrowRight")
    _wait_until_settled(page)
    assert page.evaluate(f"() => {VIDEOS}.map(video => video.paused)") == [True, True]
    left, right = _times(page)
    assert left == pytest.approx(right, abs=1e-3)
    assert page.evaluate("() => window.scrollY") == 0, "the arrows must not scroll the page"


def test_speed_select_and_bracket_keys_apply_to_both_videos(open_player):
    page = open_player()
    rates = f"() => {VIDEOS}.map(video => video.playbackRate)"
    page.select_option("[data-rate]", "0.5")
    assert page.evaluate(rates) == [0.5, 0.5]
    page.keyboard.press("]")
    assert page.evaluate(rates) == [1, 1]
    page.keyboard.press("]")
    assert page.evaluate(rates) == [1.5, 1.5]
    assert page.input_value("[data-rate]") == "1.5"
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert page.evaluate(rates) == [0.5, 0.5]

    page.select_option("[data-rate]", "2")
    page.keyboard.press("Space")
    page.wait_for_function(f"() => {VIDEOS}.every(video => video.currentTime > 0.5)")
    master_rate, follower_rate = page.evaluate(rates)
    assert master_rate == 2
    assert follower_rate == pytest.approx(2, rel=0.1), "the follower runs at the chosen speed, give or take its nudge"
    assert page.evaluate(f"() => {PLAYER}.rate()") == 2


def test_flip_shows_one_side_at_a_time_and_f_swaps_it(open_player):
    page = open_player()
    left, right = '[data-side="left"]', '[data-side="right"]'
    assert page.evaluate(f"() => {PLAYER}.flipShowing()") is None
    assert page.is_hidden("[data-flip-label]")
    page.evaluate(f"() => {PLAYER}.seek(1.5)")
    _wait_until_settled(page)

    page.keyboard.press("f")
    assert page.evaluate(f"() => {PLAYER}.flipShowing()") == "left"
    assert (page.is_visible(left), page.is_visible(right)) == (True, False)
    assert page.text_content("[data-flip-label]") == "Showing LEFT · f: right"
    left_box, right_box = page.locator(left).bounding_box(), page.locator(right).bounding_box()
    assert (left_box["x"], left_box["y"]) == (right_box["x"], right_box["y"]), "flip shows both in the same place"

    page.keyboard.press("f")
    assert page.evaluate(f"() => {PLAYER}.flipShowing()") == "right"
    assert (page.is_visible(left), page.is_visible(right)) == (False, True)
    assert page.text_content("[data-flip-label]") == "Showing RIGHT · f: side by side"
    screenshot(page, "pair-player-flip.png")

    # Typing in the judgment form's notes never reaches the player.
    page.click("textarea[name=notes]")
    page.keyboard.type("fl ")
    assert page.input_value("textarea[name=notes]") == "fl "
    assert page.evaluate(f"() => [{PLAYER}.flipShowing(), {PLAYER}.isPlaying()]") == ["right", False]
    assert page.get_attribute('[data-action="loop"]', "aria-pressed") == "false"

    page.click("[data-flip-label]")  # the label swaps sides in place
    assert page.evaluate(f"() => {PLAYER}.flipShowing()") == "left"
    page.click("h1")
    page.keyboard.press("f")
    page.keyboard.press("f")
    assert page.evaluate(f"() => {PLAYER}.flipShowing()") is None, "f cycles left, right, then side by side"
    assert (page.is_visible(left), page.is_visible(right)) == (True, True)
    assert page.is_hidden("[data-flip-label]")


def test_loop_restarts_both_videos_together(open_player):
    page = open_player()
    page.evaluate(
        """() => {
            window.loops = 0;
            document.querySelector('[data-pair-player]').addEventListener('pairplayer:loop', () => window.loops++);
        }"""
    )
    page.keyboard.press("l")
    assert page.get_attribute('[data-action="loop"]', "aria-pressed") == "true"
    page.evaluate(f"() => {PLAYER}.seek({CLIP_SECONDS} - 0.4)")
    _wait_until_settled(page)
    page.keyboard.press("Space")
    page.wait_for_function("() => window.loops === 1", timeout=5000)
    page.wait_for_function(f"() => {VIDEOS}.every(video => !video.paused && video.currentTime > 0.2)")
    state = page.evaluate(f"() => ({{times: {VIDEOS}.map(v => v.currentTime), drift: {PLAYER}.drift()}})")
    assert all(time < 1.5 for time in state["times"]), state
    assert abs(state["drift"]) < FRAME, state
    assert page.evaluate(f"() => {PLAYER}.isPlaying()") is True


def test_zoom_full_screen_and_only_the_first_player_takes_keys(open_player):
    page = open_player("?players=2")
    assert page.evaluate("() => window.AesLabPairPlayer.players().length") == 2
    second = "document.querySelector('[data-second-player] [data-pair-player]').aeslabPlayer"

    transforms = f"() => {VIDEOS}.map(video => getComputedStyle(video).transform).join(' | ')"
    page.keyboard.press("z")
    page.wait_for_function(f"() => ({transforms})() === 'matrix(2, 0, 0, 2, 0, 0) | none'", timeout=2000)
    page.keyboard.press("x")
    page.keyboard.press("z")
    page.wait_for_function(f"() => ({transforms})() === 'none | matrix(2, 0, 0, 2, 0, 0)'", timeout=2000)
    assert page.get_attribute('[data-side="right"] [data-action="zoom"]', "aria-pressed") == "true"
    # A click on the zoomed video moves the zoom's focus to the clicked point.
    page.locator('[data-side="right"] [data-viewport]').first.click(position={"x": 32, "y": 18})
    origin = page.evaluate(f"() => {VIDEOS}[1].style.transformOrigin")
    assert [float(value.rstrip("%")) for value in origin.split()] == [pytest.approx(5, abs=1)] * 2
    screenshot(page, "pair-player-zoom.png")

    page.keyboard.press("Space")
    page.keyboard.press("1")  # digits belong to the judgment form
    assert page.evaluate(f"() => [{PLAYER}.isPlaying(), {second}.isPlaying(), {second}.rate()]") == [True, False, 1]
    page.keyboard.press("Space")

    page.click('[data-side="left"] [data-action="fullscreen"]')
    page.wait_for_function("() => document.fullscreenElement !== null")
    assert page.evaluate("() => document.fullscreenElement.dataset.side") == "left"
    page.evaluate(f"() => {PLAYER}.fullscreen('left')")
    page.wait_for_function("() => document.fullscreenElement === null")
