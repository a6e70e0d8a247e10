"""Every page each role can open, in real Chromium at 1280 and 1920 px wide, fits the window: no sideways scroll,
no server error. The data is the awkward case: one video in two pairs of one campaign and in a second campaign,
one pair judged (its checklist pre-fills the other), one pair never judged, and a finished export.

Screenshots go to test-artifacts/page-ROLE-NAME-WIDTH.png.
"""

from __future__ import annotations

import pytest

from annotation.models import Assignment, Campaign
from annotation.services import (
    assignment_create,
    campaign_create,
    campaign_member_add,
    pair_flag,
    pair_judgment_submit,
)
from annotation.tests.conftest import render_clip, screenshot, sign_in
from annotation.tests.factories import all_checklist_yes, all_verdicts
from exports.services import export_request
from exports.tests.factories import experts_make, judge, pair_make
from pipelines.ingest import IncomingVideo, pair_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 1920)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page-clips")
    return (
        render_clip(folder / "shared.mp4", seconds=2),
        render_clip(folder / "blurred.mp4", "gblur=sigma=3", seconds=2),
        render_clip(folder / "tinted.mp4", "hue=h=90", seconds=2),
    )


@pytest.fixture
def site(clips, expert, curator, ml_engineer):
    """Two campaigns sharing one video, every role a member of both; a finished export of a third."""
    shared, blurred, tinted = (IncomingVideo(path=path, original_name=path.name) for path in clips)
    spring, summer = campaign_create(name="spring", overlap=2), campaign_create(name="summer", overlap=2)
    for campaign in (spring, summer):
        for user, role in ((expert, "expert"), (curator, "curator"), (ml_engineer, "ml_engineer")):
            campaign_member_add(campaign=campaign, user=user, role=role)
    judged, _ = pair_ingest(campaign=spring, prompt="a test card", video_a=shared, video_b=blurred, external_id="s1")
    again, _ = pair_ingest(campaign=spring, prompt="a test card", video_a=shared, video_b=tinted, external_id="s2")
    elsewhere, _ = pair_ingest(
        campaign=summer, prompt="a test card", video_a=shared, video_b=blurred, external_id="u1"
    )
    criteria, dimensions = all_verdicts(spring, 1)
    pair_judgment_submit(
        assignment=assignment_create(pair=judged, expert=expert, swapped=False),
        criteria=criteria,
        dimensions=dimensions,
        checklist=all_checklist_yes(spring, judged),
    )
    open_assignment = assignment_create(pair=again, expert=expert, swapped=True)
    pair_flag(assignment=open_assignment, reason="other", text="the right video stutters")  # its panel shows open
    # An export needs enough prompt groups for three splits: ten more pairs, judged, in a third campaign.
    autumn = campaign_create(name="autumn", overlap=1)
    Campaign.objects.filter(pk=autumn.pk).update(checklist=None)  # verdicts only
    autumn.refresh_from_db()
    campaign_member_add(campaign=autumn, user=ml_engineer, role="ml_engineer")
    (rater,) = experts_make(1, autumn)
    for index in range(10):
        judge(pair_make(autumn, prompt=f"prompt {index}"), rater, value=1 if index % 2 else -1)
    snapshot = export_request(campaign=autumn, export_format="aesrm-pairwise", options={}, created_by=ml_engineer)
    snapshot.refresh_from_db()
    assert snapshot.status == snapshot.Status.SUCCEEDED, snapshot.error
    return {
        "spring": spring,
        "summer": summer,
        "judged": judged,
        "elsewhere": elsewhere,
        "open_assignment": open_assignment,
        "judged_assignment": Assignment.objects.get(pair=judged),
        "snapshot": snapshot,
    }


def _pages(site) -> dict[str, list[tuple[str, str, int]]]:
    """Role -> (name, path, expected status)."""
    spring, summer = site["spring"].pk, site["summer"].pk
    return {
        "expert": [
            ("home", "/", 200),
            ("workbench-prefilled", f"/work/assignments/{site['open_assignment'].pk}/", 200),
            ("workbench-submitted", f"/work/assignments/{site['judged_assignment'].pk}/", 200),
            ("agreement-refused", "/agreement/", 403),
            ("pair-browser-refused", f"/campaigns/{spring}/pairs/", 403),
            ("leaderboard-refused", f"/campaigns/{spring}/leaderboard/", 403),
            ("pairing-refused", f"/campaigns/{spring}/pairing/", 403),
        ],
        "curator": [
            ("home", "/", 200),
            ("agreement", "/agreement/", 200),
            ("agreement-dashboard", f"/campaigns/{spring}/agreement/", 200),
            ("adjudication-queue", f"/campaigns/{spring}/adjudication/", 200),
            ("flag-queue", f"/campaigns/{spring}/flags/", 200),
            ("pair-browser", f"/campaigns/{spring}/pairs/", 200),
            ("pair-browser-other-campaign", f"/campaigns/{summer}/pairs/", 200),
            ("leaderboard", f"/campaigns/{spring}/leaderboard/", 200),
            ("reliability", f"/campaigns/{spring}/reliability/", 200),
            ("pairing", f"/campaigns/{spring}/pairing/", 200),
            ("pair-review", f"/campaigns/{spring}/adjudication/{site['judged'].pk}/", 200),
            ("pair-review-unjudged", f"/campaigns/{summer}/adjudication/{site['elsewhere'].pk}/", 200),
            ("upload", f"/campaigns/{summer}/upload/", 200),
            ("campaign-new", "/campaigns/new/", 200),
            ("campaign-page", f"/campaigns/{spring}/", 200),
            ("campaign-lock-confirm", f"/campaigns/{spring}/lock/confirm/", 200),
            ("workbench-read-only", f"/work/assignments/{site['judged_assignment'].pk}/", 200),
            ("exports", "/exports/", 200),
            ("distillation", "/distillation/", 200),
            ("distillation-audit", "/distillation/audit/", 200),
        ],
        "ml_engineer": [
            ("exports", "/exports/", 200),
            ("export-detail", f"/exports/{site['snapshot'].pk}/", 200),
            ("train", f"/exports/{site['snapshot'].pk}/train/", 200),
            ("training", "/training/", 200),
            ("registry", "/training/models/", 200),
            ("distillation", "/distillation/", 200),
            ("api-docs", "/api/docs/", 200),
        ],
    }


def _widest_overflow(page, width: int) -> list[str]:
    return page.evaluate(
        """(width) => [...document.querySelectorAll('body *')]
            .filter((element) => element.getBoundingClientRect().right > width + 1)
            .slice(0, 5).map((element) => `${element.tagName}.${element.className}`)""",
        width,
    )


def test_every_page_of_every_role_fits_1280_and_1920_pixels(
    chromium, app_url, site, expert, curator, ml_engineer
):
    users = {"expert": expert, "curator": curator, "ml_engineer": ml_engineer}
    problems = []
    for role, pages in _pages(site).items():
        context = chromium.new_context(viewport={"width": WIDTHS[0], "height": 900})
        page = context.new_page()
        sign_in(page, app_url, users[role])
        for name, path, expected_status in pages:
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                response = page.goto(f"{app_url}{path}")
                page.wait_for_load_state("networkidle")
                if response.status != expected_status:
                    problems.append(f"{role} {path} at {width}: HTTP {response.status}, expected {expected_status}")
                scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
                if scroll_width > width:
                    problems.append(
                        f"{role} {path} at {width}: page is {scroll_width} px wide ({_widest_overflow(page, width)})"
                    )
                screenshot(page, f"page-{role}-{name}-{width}.png")
        context.close()
    assert problems == []
