"""The workbench with the default VisionReward checklist at its real size (64 questions for each of two videos), in
real Chromium: one column that scrolls inside its panel, titles that name each level once, a definition box that
explains the question, a cursor that survives a reload, and a poster that is the frame the player names.

Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from annotation.models import Video
from annotation.services import assignment_create, campaign_member_add
from annotation.tests.conftest import render_clip, screenshot
from annotation.tests.test_workbench_browser import _sign_in, _wait_for_player
from pipelines.ingest import IncomingVideo, pair_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTIONS = 64
BOX = "[data-checklist-side]:not([hidden])"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checklist-clips")
    return render_clip(folder / "a.mp4"), render_clip(folder / "b.mp4", "hue=h=140:s=1.6")


@pytest.fixture
def assignment(campaign, clips, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pair, _ = pair_ingest(
        campaign=campaign,
        prompt="a lighthouse at dusk",
        video_a=IncomingVideo(path=clips[0], original_name="a.mp4"),
        video_b=IncomingVideo(path=clips[1], original_name="b.mp4"),
    )
    assert set(Video.objects.values_list("status", flat=True)) == {Video.Status.READY}
    return assignment_create(pair=pair, expert=expert, swapped=False)


@pytest.fixture
def workbench(chromium, app_url, expert, assignment):
    """A signed-in expert's page on the assignment, 900 px high; the width is set by each test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, app_url, expert)
    page.goto(f"{app_url}/work/assignments/{assignment.pk}/")
    yield page
    context.close()


def _active_question(page: Page) -> dict:
    return page.evaluate(
        """() => { const row = document.querySelector('.cl-row.active');
            return { question: row.dataset.question, side: row.closest('[data-checklist-side]').dataset.checklistSide,
                     position: [...row.closest('[data-checklist-side]').querySelectorAll('.cl-row:not([hidden])')]
                         .indexOf(row) + 1 }; }"""
    )


def _active_row_is_seen_in_the_box(page: Page) -> bool:
    """The active row lies inside the box's visible rectangle (to a pixel: layout is in fractions of one, scrolling
    in whole ones), and what is drawn at its middle is the row itself (not the sticky dimension title over it)."""
    return page.evaluate(
        f"""() => {{ const box = document.querySelector('{BOX}'), row = box.querySelector('.cl-row.active');
            const b = box.getBoundingClientRect(), r = row.getBoundingClientRect();
            const inside = r.top >= b.top - 1 && r.bottom <= b.bottom + 1 && r.left >= b.left && r.right <= b.right;
            const seen = document.elementFromPoint(r.left + 5, r.top + r.height / 2);
            return inside && row.contains(seen); }}"""
    )


@pytest.mark.parametrize("width", [1280, 1920])
def test_the_full_checklist_is_one_column_that_scrolls_inside_its_panel(workbench, width):
    page = workbench
    page.set_viewport_size({"width": width, "height": 900})
    page.keyboard.press("c")
    assert page.locator(f"{BOX} .cl-row:not([hidden])").count() == QUESTIONS

    # One column: every question starts at the same x; nothing is wider than the box or the window.
    lefts = page.evaluate(
        f"() => [...document.querySelectorAll('{BOX} .cl-row')].map(r => r.getBoundingClientRect().left)"
    )
    assert len(set(lefts)) == 1
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")
    box = page.evaluate(f"() => {{ const b = document.querySelector('{BOX}'); return [b.scrollWidth, b.clientWidth, "
                        "b.scrollHeight, b.clientHeight]; }")  # fmt: skip
    scroll_width, client_width, scroll_height, client_height = box
    assert scroll_width <= client_width and scroll_height > client_height

    # The mouse wheel over the box scrolls the box, not the page sideways.
    bounds = page.locator(BOX).bounding_box()
    page.mouse.move(bounds["x"] + bounds["width"] / 2, bounds["y"] + bounds["height"] / 2)
    page.mouse.wheel(0, 300)
    page.wait_for_function(f"() => document.querySelector('{BOX}').scrollTop > 0")
    assert page.evaluate("() => window.scrollX") == 0

    # Walking down to question 40 by keyboard keeps the current question in view inside the box.
    page.evaluate(f"() => document.querySelector('{BOX}').scrollTop = 0")
    page.keyboard.press("c")
    page.keyboard.press("c")  # back to the checklist: the cursor starts on its first question
    assert _active_question(page)["position"] == 1
    for _ in range(39):
        page.keyboard.press("j")
    assert _active_question(page)["position"] == 40
    assert _active_row_is_seen_in_the_box(page)
    # And back up to question 3, under the sticky dimension title.
    for _ in range(37):
        page.keyboard.press("k")
    assert _active_question(page)["position"] == 3
    assert _active_row_is_seen_in_the_box(page)
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")
    # Beside the form, the player's controls wrap rather than run past its panel (Restart and Flip stay reachable).
    clipped = page.evaluate(
        """() => { const panel = document.querySelector('.wb-media').getBoundingClientRect();
            return [...document.querySelectorAll('.pp-controls > *')]
                .filter(control => control.getBoundingClientRect().right > panel.right + 1)
                .map(control => control.textContent.trim()); }"""
    )
    assert clipped == []
    screenshot(page, f"workbench-checklist-{width}.png")


def test_titles_name_each_level_once_and_the_definition_box_explains_the_question(workbench):
    page = workbench
    titles = page.evaluate(
        f"""() => [...document.querySelectorAll('{BOX} .cl-dimension')].map(section => [
            section.querySelector('.cl-dimension-title').textContent,
            [...section.querySelectorAll('.cl-group-title')].map(title => title.textContent)])"""
    )
    dimensions = [dimension for dimension, _ in titles]
    assert dimensions == [
        "Alignment", "Composition", "Quality", "Fidelity", "Safety",
        "Stability", "Preservation", "Dynamic", "Physics",
    ]  # fmt: skip
    assert dict(titles)["Alignment"] == [] and dict(titles)["Safety"] == []
    assert dict(titles)["Quality"] == ["Color", "Lighting Accurate", "Lighting Aes", "Clear"]
    assert "Alignment Alignment" not in page.locator(BOX).inner_text()

    # The lighting's "normal" option: level 2 of 3, and not applicable when there is no lighting at all.
    page.locator(f"{BOX} .cl-row", has_text="Does the lighting have no obvious errors?").click()
    expect(page.locator("[data-definition]")).to_have_text(
        "Quality › Lighting Accurate: option “normal”, level 2 of 3. Yes also answers its weaker options yes; "
        "no answers its stronger options no. Not applicable when “Is there any lighting present?” is answered no."
    )
    # A sub-dimension named like its dimension is named once.
    page.locator(f"{BOX} .cl-row", has_text="Is the composition aesthetically pleasing?").click()
    expect(page.locator("[data-definition]")).to_have_text(
        "Composition: option “good”, level 2 of 2. Yes also answers its weaker options yes; "
        "no answers its stronger options no."
    )
    screenshot(page, "workbench-checklist-definition.png")


def test_after_a_reload_the_cursor_returns_where_the_expert_was(workbench, assignment):
    page = workbench
    page.keyboard.press("c")
    page.keyboard.press("t")  # the right video's checklist
    for _ in range(29):
        page.keyboard.press("j")
    before = _active_question(page)
    assert before["side"] == "right" and before["position"] == 30

    page.reload()
    expect(page.locator(".cl-row.active")).to_have_count(1)
    assert _active_question(page) == before
    expect(page.locator(".wb-tab.active")).to_have_attribute("data-side", "right")
    assert _active_row_is_seen_in_the_box(page)
    # The keyboard carries on from there, in checklist mode.
    page.keyboard.press("y")
    assert _active_question(page)["position"] == 31
    answered = page.locator(f"[data-checklist-side=right] .cl-row[data-question='{before['question']}'] input:checked")
    expect(answered).to_have_value("yes")

    # In the rubric the cursor returns to the row, too; another assignment starts at its top.
    page.locator(".wb-row[data-code=VF2]").click()
    page.reload()
    expect(page.locator(".wb-row.active")).to_have_attribute("data-code", "VF2")
    stored = page.evaluate("() => Object.keys(localStorage).filter(key => key.startsWith('aeslab-workbench-cursor-'))")
    assert stored == [f"aeslab-workbench-cursor-{assignment.pk}"]
    screenshot(page, "workbench-cursor-restored.png")


def _mean_difference_from_poster(page: Page, side_index: int) -> float:
    """Mean absolute difference (0-255) between a video's poster and the frame its element shows now, both drawn
    at 64x36."""
    return page.evaluate(
        """async (index) => {
            const video = document.querySelectorAll('[data-pair-player] video')[index];
            const poster = new Image();
            poster.src = video.poster;
            await poster.decode();
            const pixels = (source) => {
                const canvas = document.createElement('canvas');
                canvas.width = 64; canvas.height = 36;
                const context = canvas.getContext('2d');
                context.drawImage(source, 0, 0, 64, 36);
                return context.getImageData(0, 0, 64, 36).data;
            };
            const a = pixels(poster), b = pixels(video);
            let total = 0, count = 0;
            for (let i = 0; i < a.length; i += 4) {
                for (let c = 0; c < 3; c++) { total += Math.abs(a[i + c] - b[i + c]); count++; }
            }
            return total / count;
        }""",
        side_index,
    )


def test_the_poster_is_the_frame_the_player_says_it_shows(workbench):
    page = workbench
    _wait_for_player(page)
    expect(page.locator("[data-frame]")).to_have_text("frame 1 / 96")
    first = [_mean_difference_from_poster(page, index) for index in (0, 1)]
    # The test card moves: one second in, the picture differs from the poster far more than JPEG noise does.
    page.evaluate("() => document.querySelector('[data-pair-player]').aeslabPlayer.seek(1.0)")
    page.wait_for_function("() => [...document.querySelectorAll('[data-pair-player] video')].every(v => !v.seeking)")
    expect(page.locator("[data-frame]")).to_have_text("frame 25 / 96")
    later = [_mean_difference_from_poster(page, index) for index in (0, 1)]
    for at_frame_1, at_frame_25 in zip(first, later, strict=True):
        assert at_frame_1 < 8 and at_frame_25 > 3 * at_frame_1, (first, later)
