"""Time-stamped comments and the guidelines page in real Chromium, as experts and curators use them.

Screenshots (1280 and 1920 px wide) go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from annotation.models import TimedComment
from annotation.services import (
    assignment_create,
    campaign_guidelines_set,
    campaign_member_add,
    pair_judgment_submit,
)
from annotation.tests.conftest import render_clip, screenshot
from annotation.tests.factories import all_checklist_yes, all_verdicts
from annotation.tests.test_workbench_browser import PLAYER, _sign_in, _wait_for_player
from pipelines.ingest import IncomingVideo, pair_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 1920)
MARKERS = "[data-pair-player] [data-comment-marker]"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("comment-clips")
    return render_clip(folder / "a.mp4", seconds=2), render_clip(folder / "b.mp4", "hue=h=140", seconds=2)


def _pair(campaign, clips, external_id: str, prompt: str):
    pair, _ = pair_ingest(
        campaign=campaign,
        prompt=prompt,
        video_a=IncomingVideo(path=clips[0], original_name="a.mp4"),
        video_b=IncomingVideo(path=clips[1], original_name="b.mp4"),
        external_id=external_id,
    )
    return pair


@pytest.fixture
def swapped_assignment(campaign, clips, expert):
    """Video B on the left, so a note on the left side is stored as B."""
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pair = _pair(campaign, clips, "harbour-vs-harbour-0001", "a harbour at dawn, boats rocking")
    return assignment_create(pair=pair, expert=expert, swapped=True)


def _no_page_scroll_sideways(page: Page) -> bool:
    return page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")


def _sign_in_as_curator(page: Page, app_url: str, curator) -> None:
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", curator.username)
    page.fill("input[name=password]", "pw-" + curator.username)
    page.click("button[type=submit]")
    expect(page.locator("main")).to_be_visible()


def _note_at(page: Page, seconds: float, text: str) -> None:
    page.evaluate(f"() => {PLAYER}.seek({seconds})")
    page.locator(".wb-prompt").click()  # the keyboard belongs to the page, not to a text field
    page.keyboard.press("m")
    expect(page.locator("[data-comment-form] textarea")).to_be_focused()
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    expect(page.locator("[data-comment-list]")).to_contain_text(text)


def test_an_expert_pins_notes_to_moments_and_a_curator_reads_them_in_adjudication(
    chromium, app_url, campaign, expert, curator, swapped_assignment
):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, app_url, expert)
    page.goto(f"{app_url}/work/assignments/{swapped_assignment.pk}/")
    _wait_for_player(page)

    page.keyboard.press("?")
    expect(page.locator("#help-overlay")).to_contain_text("Pin a note to the current moment")
    page.keyboard.press("Escape")

    _note_at(page, 1.0, "the boats jump between frames")
    expect(page.locator(MARKERS)).to_have_count(1)
    # In flip mode the note is for the side on show: here the left one, which is video B.
    page.keyboard.press("f")
    assert page.evaluate(f"() => {PLAYER}.flipShowing()") == "left"
    _note_at(page, 0.5, "a mast bends like rubber")
    page.keyboard.press("f")
    page.keyboard.press("f")
    expect(page.locator(MARKERS)).to_have_count(2)
    stored = {comment.text: comment for comment in TimedComment.objects.all()}
    assert stored["the boats jump between frames"].side == "both"
    assert abs(stored["the boats jump between frames"].seconds - 1.0) < 0.05
    assert stored["a mast bends like rubber"].side == "B"
    assert abs(stored["a mast bends like rubber"].seconds - 0.5) < 0.05

    # Esc abandons a note; the page never scrolls sideways.
    page.keyboard.press("m")
    page.keyboard.type("never mind")
    screenshot(page, "workbench-timed-comment-typing-1280.png")
    page.keyboard.press("Escape")
    expect(page.locator("[data-comment-form]")).to_be_hidden()
    assert TimedComment.objects.count() == 2

    page.reload()
    _wait_for_player(page)
    expect(page.locator(MARKERS)).to_have_count(2)
    # A marker seeks the player to its moment and shows its note.
    page.locator(f"[data-comment-marker='{stored['a mast bends like rubber'].pk}']").click()
    expect(page.locator("[data-comment-shown]")).to_contain_text("a mast bends like rubber")
    expect(page.locator("[data-comment-shown]")).to_contain_text("left")
    page.wait_for_function(f"() => Math.abs({PLAYER}.currentTime() - 0.5) < 0.05")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert _no_page_scroll_sideways(page), width
        screenshot(page, f"workbench-timed-comments-{width}.png")

    # The author deletes a note while the assignment is open.
    page.get_by_role("button", name="Delete the note at 1.000 s").click()
    expect(page.locator(MARKERS)).to_have_count(1)
    assert list(TimedComment.objects.values_list("text", flat=True)) == ["a mast bends like rubber"]
    page.get_by_role("button", name="Add a note at this time").click()
    page.keyboard.type("a gull flies through the hull")
    page.get_by_role("button", name="Save the note").click()
    expect(page.locator(MARKERS)).to_have_count(2)

    # Submitted: the notes stay, but none can be added or deleted.
    criteria, dimensions = all_verdicts(campaign)
    pair_judgment_submit(
        assignment=swapped_assignment,
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, swapped_assignment.pair),
    )
    page.reload()
    _wait_for_player(page)
    expect(page.locator(MARKERS)).to_have_count(2)
    page.locator(".wb-prompt").click()
    page.keyboard.press("m")
    expect(page.locator("[data-comment-form]")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete the note at 0.500 s")).to_have_count(0)
    context.close()

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in_as_curator(page, app_url, curator)
    page.goto(app_url + reverse("agreement-pair", args=[campaign.pk, swapped_assignment.pair.pk]))
    notes = page.locator("[data-comments-of='expert-ada']")
    expect(notes).to_contain_text("a mast bends like rubber")
    expect(notes).to_contain_text("a gull flies through the hull")
    expect(notes.locator("[data-side='B']")).to_contain_text("a mast bends like rubber")
    _wait_for_player(page)
    expect(page.locator(MARKERS)).to_have_count(2)
    notes.locator("li", has_text="a mast bends like rubber").get_by_role("button", name="0.500 s").click()
    shown = page.locator("[data-timed-comments-review] [data-comment-shown]")
    expect(shown).to_contain_text("expert-ada · 0.500 s · video B a mast bends like rubber")
    page.wait_for_function(f"() => Math.abs({PLAYER}.currentTime() - 0.5) < 0.05")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert _no_page_scroll_sideways(page), width
        page.locator("[data-timed-comments-review]").scroll_into_view_if_needed()
        screenshot(page, f"adjudication-timed-comments-{width}.png")
    context.close()


def test_the_guidelines_open_on_the_first_visit_to_the_workbench_only(chromium, app_url, campaign, clips, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    _pair(campaign, clips, "harbour-0001", "a harbour at dawn, boats rocking")
    _pair(campaign, clips, "harbour-example-0002", "a lighthouse in fog")
    campaign_guidelines_set(
        campaign=campaign,
        guidelines=(
            "# Judge motion first\n\nLook at how the **boats** move before anything else.\n\n"
            "[[pair:harbour-example-0002 | The fog should drift, not flicker.]]\n\n"
            "<script>document.title = 'owned'</script>[Report a problem](javascript:alert(1))"
        ),
    )
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, app_url, expert)

    page.click("[data-next-pair]")
    page.wait_for_url("**/guidelines/?next=*")
    expect(page.get_by_role("heading", name="Judge motion first")).to_be_visible()
    expect(page.locator("[data-example-pair]")).to_contain_text("The fog should drift, not flicker.")
    expect(page.locator("[data-example-pair]")).to_contain_text("a lighthouse in fog")
    assert "harbour-example-0002" not in page.content()
    assert "owned" not in page.title()
    assert page.locator("[data-guidelines-body] a", has_text="Report a problem").get_attribute("href") is None
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert _no_page_scroll_sideways(page), width
        screenshot(page, f"guidelines-{width}.png")

    page.click("[data-start-judging]")
    page.wait_for_url("**/work/assignments/*/")
    workbench = page.url
    _wait_for_player(page)
    page.goto(f"{app_url}/")
    page.click("[data-next-pair]")
    page.wait_for_url(workbench)
    _wait_for_player(page)
    # Still one click away from the workbench.
    page.click("[data-guidelines-link]")
    expect(page.get_by_role("heading", name="Judge motion first")).to_be_visible()
    page.click("[data-start-judging]")
    page.wait_for_url(workbench)
    context.close()
