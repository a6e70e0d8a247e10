"""An expert's whole session in real Chromium: sign in, next pair, watch in sync, step, flip, judge everything
by keyboard, reload mid-way, submit; the stored verdicts are canonical although the pair was shown swapped.

Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from annotation.models import Assignment, ChecklistAnswer, PairJudgment, Video
from annotation.services import assignment_create, campaign_member_add
from annotation.tests.conftest import render_clip, screenshot
from pipelines.ingest import IncomingVideo, pair_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FPS = 24
PLAYER = "document.querySelector('[data-pair-player]').aeslabPlayer"
VIDEOS = "[...document.querySelectorAll('[data-pair-player] video')]"
VERDICT_ROWS = 18  # 15 criteria and 3 dimension verdicts


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("workbench-clips")
    return render_clip(folder / "a.mp4"), render_clip(folder / "b.mp4", "hue=h=140:s=1.6", "gblur=sigma=2")


@pytest.fixture
def swapped_assignment(campaign, clips, expert):
    """A pair whose display order is swapped: video B on the left."""
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pair, _ = pair_ingest(
        campaign=campaign,
        prompt="a test card drifting through colours",
        video_a=IncomingVideo(path=clips[0], original_name="veo-nightly-take1.mp4", source_model="veo-nightly"),
        video_b=IncomingVideo(path=clips[1], original_name="sora-ckpt-take7.mp4", source_model="sora-ckpt"),
        external_id="veo-nightly-vs-sora-ckpt-0001",
    )
    assert set(Video.objects.values_list("status", flat=True)) == {Video.Status.READY}
    pair.video_a.refresh_from_db()
    pair.video_b.refresh_from_db()
    return assignment_create(pair=pair, expert=expert, swapped=True)


def _sign_in(page: Page, app_url: str, user) -> None:
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-" + user.username)
    page.click("button[type=submit]")
    expect(page.locator("[data-next-pair]")).to_be_visible()


def _wait_for_player(page: Page) -> None:
    page.wait_for_function(
        f"() => window.AesLabPairPlayer && {PLAYER} && {VIDEOS}.every(v => v.readyState >= 3)", timeout=15_000
    )


def _checked_verdicts(page: Page) -> dict[str, str]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.wb-row[data-row=verdict]')]
            .map(row => [row.dataset.code, (row.querySelector('input:checked') || {}).value || null]))"""
    )


def test_an_expert_judges_a_swapped_pair_entirely_from_the_keyboard(chromium, app_url, expert, swapped_assignment):
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    _sign_in(page, app_url, expert)
    screenshot(page, "home-expert.png")

    page.click("[data-next-pair]")
    page.wait_for_url(f"**/work/assignments/{swapped_assignment.pk}/")
    _wait_for_player(page)
    # Swapped: the left player shows video B's proxy.
    left_source = page.evaluate(f"() => {VIDEOS}[0].currentSrc")
    assert left_source.endswith(swapped_assignment.pair.video_b.proxy.url)
    screenshot(page, "workbench.png")
    # Blind: the page the expert sees, its title and its media URLs name neither the pair nor a generator.
    seen = page.title() + page.content() + " ".join(page.evaluate(f"() => {VIDEOS}.map(v => v.currentSrc)"))
    for secret in ("veo-nightly", "sora-ckpt", "take1", "take7"):
        assert secret not in seen
    assert page.title().startswith("Task ")

    # Play: both advance and stay within one frame of each other.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("Space")
    page.wait_for_function(f"() => {VIDEOS}.every(v => !v.paused && v.currentTime > 0.8)", timeout=10_000)
    drifts = []
    for _ in range(8):
        drifts.append(page.evaluate(f"() => Math.abs({PLAYER}.drift())"))
        page.wait_for_timeout(100)
    assert max(drifts) < 1 / FPS
    page.keyboard.press("Space")
    page.wait_for_function(f"() => {VIDEOS}.every(v => v.paused)")

    # Frame step forward on both.
    page.wait_for_function(f"() => {VIDEOS}.every(v => !v.seeking)")
    before = page.evaluate(f"() => {VIDEOS}.map(v => v.currentTime)")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"([t]) => {VIDEOS}.every(v => !v.seeking && Math.abs(v.currentTime - t - {1 / FPS}) < 0.01)", arg=[before[0]]
    )

    # Flip shows one side at a time in the same place.
    page.keyboard.press("f")
    showing = page.evaluate(f"() => {PLAYER}.flipShowing()")
    assert showing in ("left", "right")
    screenshot(page, "workbench-flip.png")
    page.keyboard.press("f")
    assert page.evaluate(f"() => {PLAYER}.flipShowing()") != showing
    page.evaluate(f"() => {{ const p = {PLAYER}; while (p.flipShowing()) p.toggleFlip(); }}")

    # Judge the first nine rows "left better" by keyboard, then reload: the autosaved draft is intact.
    page.locator(".wb-row[data-code=VA1]").click()
    for _ in range(9):
        page.keyboard.press("1")
    expect(page.locator("[data-save-status]")).to_contain_text("Draft saved", timeout=5_000)
    page.reload()
    _wait_for_player(page)
    restored = _checked_verdicts(page)
    assert sum(value == "left" for value in restored.values()) == 9
    assert sum(value is None for value in restored.values()) == VERDICT_ROWS - 9

    # Finish the rubric by keyboard: j skips over judged rows, 1 judges and moves on.
    page.locator(".wb-row[data-code=VA1]").click()
    for _ in range(9):
        page.keyboard.press("j")
    for _ in range(VERDICT_ROWS - 9):
        page.keyboard.press("1")
    assert set(_checked_verdicts(page).values()) == {"left"}

    # A severe-violation flag for VP on the left video, by keyboard.
    page.locator(".wb-row[data-code=VP]").click()
    page.keyboard.press("q")

    # Submitting with the checklist unanswered lists what is missing and stores nothing.
    page.keyboard.press("Control+Enter")
    expect(page.locator("[data-missing]")).to_contain_text("checklist questions on the left video")
    assert not PairJudgment.objects.exists()

    # The checklist by keyboard: c switches to it, y answers yes and moves on, t switches video.
    page.keyboard.press("c")
    for side in ("left", "right"):
        rows = page.locator(f"[data-checklist-side={side}] .cl-row:not([hidden])").count()
        for _ in range(rows):
            page.keyboard.press("y")
        if side == "left":
            page.keyboard.press("t")
    assert page.locator("[data-checklist-progress]").inner_text() == "128 / 128 answered"
    screenshot(page, "workbench-complete.png")

    page.keyboard.press("Control+Enter")
    expect(page.locator(".message.success")).to_contain_text("saved", timeout=10_000)

    judgment = PairJudgment.objects.get(assignment=swapped_assignment)
    # "Left better" on a swapped pair means video B is better: -1 in canonical terms.
    assert set(judgment.criteria.values()) == {-1} and len(judgment.criteria) == 15
    assert judgment.dimensions == {"VA": -1, "VF": -1, "VP": -1}
    assert judgment.severe["B"]["VP"] is True and not any(judgment.severe["A"].values())
    assignment = Assignment.objects.get(pk=swapped_assignment.pk)
    assert assignment.status == Assignment.Status.SUBMITTED and assignment.time_spent_seconds > 0
    assert ChecklistAnswer.objects.filter(assignment=assignment, answer="yes").count() == 128
    context.close()


def test_a_second_tab_submitting_the_same_pair_gets_a_clear_message(chromium, app_url, expert, swapped_assignment):
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    first, second = context.new_page(), context.new_page()
    _sign_in(first, app_url, expert)
    url = f"{app_url}/work/assignments/{swapped_assignment.pk}/"
    for page in (first, second):
        page.goto(url)
        page.evaluate(
            """() => document.querySelectorAll('.wb-row input[value=same], .cl-row input[value=yes]')
                .forEach(input => { input.checked = true; })"""
        )
    first.click("[data-submit]")
    expect(first.locator(".message.success")).to_contain_text("saved")
    second.click("[data-submit]")
    expect(second.locator("[data-error]")).to_contain_text("already submitted from another tab or device")
    screenshot(second, "workbench-second-tab.png")
    assert PairJudgment.objects.filter(assignment=swapped_assignment).count() == 1
    context.close()


def test_a_video_from_an_earlier_pair_opens_pre_filled_and_a_locked_campaign_opens_read_only(
    chromium, app_url, campaign, expert, swapped_assignment
):
    from annotation.models import VideoPair
    from annotation.services import campaign_lock, pair_judgment_submit
    from annotation.tests.factories import all_checklist_yes, all_verdicts

    first_pair = swapped_assignment.pair
    criteria, dimensions = all_verdicts(campaign, 1)
    pair_judgment_submit(
        assignment=swapped_assignment,
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(campaign, first_pair),
    )
    again = VideoPair.objects.create(
        campaign=campaign, external_id="same-clips-again", prompt=first_pair.prompt,
        video_a=first_pair.video_a, video_b=first_pair.video_b,
    )  # fmt: skip
    second = assignment_create(pair=again, expert=expert, swapped=False)
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    _sign_in(page, app_url, expert)

    page.goto(f"{app_url}/work/assignments/{second.pk}/")
    expect(page.locator("[data-prefill-note]")).to_contain_text("earlier answers to these videos in another pair")
    expect(page.locator("[data-checklist-progress]")).to_have_text("128 / 128 answered")
    screenshot(page, "workbench-prefilled.png")
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        # The checklist scrolls inside its panel; nothing pushes the page sideways.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width, f"sideways scroll at {width} px"
        screenshot(page, f"workbench-prefilled-{width}.png")

    campaign_lock(campaign=campaign)
    page.reload()
    expect(page.locator("[data-locked]")).to_contain_text(f"Campaign {campaign.name} is locked")
    assert page.locator("[data-submit]").count() == 0
    assert page.evaluate("() => [...document.querySelectorAll('#workbench input[name], #workbench textarea')]"
                         ".filter(i => i.type !== 'hidden' && !i.disabled).length") == 0  # fmt: skip
    screenshot(page, "workbench-locked.png")
    assert Assignment.objects.get(pk=second.pk).draft == {}
    context.close()


def test_the_page_restores_the_draft_from_its_json_payload(chromium, app_url, campaign, expert, swapped_assignment):
    from annotation.services import assignment_draft_save
    from annotation.tests.factories import workbench_form

    draft = workbench_form(campaign, verdict="right", criterion_verdict="same", notes="judged half")
    draft["severe-left-VA"] = "on"
    assignment_draft_save(assignment=swapped_assignment, draft=draft)
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    _sign_in(page, app_url, expert)

    page.goto(f"{app_url}/work/assignments/{swapped_assignment.pk}/")

    # The server sends the form unchosen; the script checks what the draft says.
    payload = page.evaluate("() => JSON.parse(document.getElementById('workbench-state').textContent)")
    assert payload["values"]["dimension-VA"] == "right" and payload["values"]["severe-left-VA"] == "on"
    verdicts = _checked_verdicts(page)
    assert len(verdicts) == VERDICT_ROWS
    assert {code: value for code, value in verdicts.items() if code in ("VA", "VF", "VP")} == dict.fromkeys(
        ("VA", "VF", "VP"), "right"
    )
    assert set(value for code, value in verdicts.items() if code not in ("VA", "VF", "VP")) == {"same"}
    assert page.is_checked('input[name="severe-left-VA"]') and not page.is_checked('input[name="severe-right-VA"]')
    expect(page.locator("[data-checklist-progress]")).to_have_text("128 / 128 answered")
    expect(page.locator("textarea[name=notes]")).to_have_value("judged half")
    expect(page.locator("[data-save-status]")).to_have_text("Draft restored")
    context.close()
