"""Experts judge blind: no page, message, API answer or media address shows them a pair's id (it names the models in
real campaigns), a video's source or file name, or which video is A. They know an assignment as "Task N".
Curators and ML engineers of the campaign keep the full view. Media are served to members of a campaign with the
video only (staff: every video); any other file under the media folder is a 404.

The pair is ingested for real (ffmpeg proxies and posters), so media addresses are the ones production makes.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.services import assignment_create, campaign_create, campaign_member_add
from annotation.tests.conftest import render_clip
from annotation.tests.test_workbench_views import _complete_form
from pipelines.ingest import IncomingVideo, pair_ingest
from webapp.testing import lavfi_render

pytestmark = pytest.mark.django_db

PAIR_ID = "sora-v2-vs-veo-3-take-17"
SOURCES = ("sora-v2-internal", "veo-3-preview")
NAMES = ("sora_take17_final.mp4", "veo3_take17_final.mp4")
SECRETS = (PAIR_ID, *SOURCES, *NAMES, "sora", "veo")


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret.lower() in text.lower()]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blind-clips")
    return [render_clip(folder / f"{index}.mp4", f"hue=h={40 * index}", seconds=1, size="160x96") for index in range(4)]


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    """ingest(campaign, clips, external_id=..., names=..., sources=...) -> a pair with its proxies and posters made."""

    def ingest_pair(campaign, clips, *, external_id: str, names=NAMES, sources=SOURCES):
        with django_capture_on_commit_callbacks(execute=True):
            pair, _ = pair_ingest(
                campaign=campaign,
                prompt="a fox crossing a snowy field",
                external_id=external_id,
                video_a=IncomingVideo(path=clips[0], original_name=names[0], source_model=sources[0]),
                video_b=IncomingVideo(path=clips[1], original_name=names[1], source_model=sources[1]),
            )
        pair.video_a.refresh_from_db()
        pair.video_b.refresh_from_db()
        assert pair.video_a.proxy and pair.video_b.poster
        return pair

    return ingest_pair


@pytest.fixture
def named_pair(campaign, clips, expert, ingest):
    """A pair whose id, sources and file names name the generators; `expert` judges in its campaign."""
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    return ingest(campaign, clips[:2], external_id=PAIR_ID)


@pytest.fixture
def other_pair(clips, ingest):
    """A pair of another campaign, with videos of its own."""
    return ingest(campaign_create(name="other-campaign"), clips[2:], external_id="other-1", names=("c.mp4", "d.mp4"))


def test_the_workbench_names_the_task_never_the_pair_its_sources_or_file_names(client, expert, named_pair):
    client.force_login(expert)
    opened = client.post(reverse("assignment-next"), follow=True)
    page = opened.content.decode()

    assert opened.status_code == 200 and "data-pair-player" in page
    assert "<title>Task 1 · test-campaign · AesLab</title>" in page
    assert named_pair.video_a.proxy.url in page and named_pair.video_b.poster.url in page
    assert leaks(page) == []


def test_after_a_submit_the_message_and_the_home_list_name_the_task_only(client, expert, named_pair):
    assignment = assignment_create(pair=named_pair, expert=expert, swapped=False)
    client.force_login(expert)

    home = client.post(reverse("judgment-submit", args=[assignment.pk]), _complete_form(assignment), follow=True)
    page = home.content.decode()

    assert home.redirect_chain[-1][0] == reverse("home")
    assert "Judgment of Task 1 in test-campaign saved." in page
    assert "test-campaign · Task 1</a>" in page  # the recent list
    assert leaks(page) == []


def test_an_incomplete_checklist_is_named_by_side_not_by_video_id(client, expert, named_pair):
    assignment = assignment_create(pair=named_pair, expert=expert, swapped=True)
    form = {key: value for key, value in _complete_form(assignment).items() if not key.startswith("checklist-right-")}
    client.force_login(expert)

    refused = client.post(reverse("judgment-submit", args=[assignment.pk]), form)
    error = refused.context["error"]

    assert refused.status_code == 400 and error.startswith("right video: ") and "questions unanswered" in error
    assert f"video {named_pair.video_a_id}" not in error and f"video {named_pair.video_b_id}" not in error


def test_task_numbers_count_the_experts_assignments_in_each_campaign(client, expert, named_pair, clips, ingest):
    second = ingest(named_pair.campaign, [clips[1], clips[2]], external_id="sora-vs-kling", names=("e", "f"))
    assignment_create(pair=named_pair, expert=expert, swapped=False)
    later = assignment_create(pair=second, expert=expert, swapped=True)
    client.force_login(expert)

    page = client.get(reverse("workbench", args=[later.pk])).content.decode()

    assert "<title>Task 2 · test-campaign · AesLab</title>" in page and "sora-vs-kling" not in page


def test_an_expert_may_not_list_pairs_or_read_video_records_through_the_api(client, expert, named_pair):
    client.force_login(expert)

    listing = client.get(reverse("api-pairs"))
    filtered = client.get(reverse("api-pairs"), {"campaign": named_pair.campaign.name})
    video = client.get(reverse("api-video-detail", args=[named_pair.video_a_id]))

    assert (listing.status_code, filtered.status_code, video.status_code) == (403, 403, 403)
    assert leaks(listing.content.decode() + filtered.content.decode() + video.content.decode()) == []


def test_curators_of_the_campaign_keep_the_full_view(client, curator, expert, named_pair):
    assignment = assignment_create(pair=named_pair, expert=expert, swapped=False)
    client.force_login(curator)

    listing = client.get(reverse("api-pairs")).json()
    workbench = client.get(reverse("workbench", args=[assignment.pk])).content.decode()

    (row,) = listing["results"]
    assert row["pair_id"] == PAIR_ID and row["video_a"]["source_model"] == SOURCES[0]
    assert row["video_b"]["original_name"] == NAMES[1]
    assert f"<title>Pair {PAIR_ID} · test-campaign · AesLab</title>" in workbench


def test_a_curator_lists_only_the_pairs_of_their_campaigns(client, curator, named_pair, other_pair):
    client.force_login(curator)

    listing = client.get(reverse("api-pairs")).json()
    elsewhere = client.get(reverse("api-pairs"), {"campaign": other_pair.campaign.name})
    record = client.get(reverse("api-video-detail", args=[other_pair.video_a_id]))

    assert [row["pair_id"] for row in listing["results"]] == [PAIR_ID]
    assert (
        elsewhere.status_code == 403
        and "curator or ML engineer of campaign other-campaign" in elsewhere.json()["detail"]
    )
    assert record.status_code == 403


def test_media_are_served_to_members_of_a_campaign_with_the_video_only(
    client, expert, named_pair, other_pair, media_root
):
    own = [named_pair.video_a.proxy.url, named_pair.video_a.poster.url, named_pair.video_b.poster.url]
    others = [other_pair.video_a.proxy.url, other_pair.video_b.poster.url, other_pair.video_b.file.url]
    leaked = media_root / "training-runs" / "run-1" / "checkpoint.safetensors"
    leaked.parent.mkdir(parents=True)
    leaked.write_bytes(b"weights")
    client.force_login(expert)

    assert [client.get(url).status_code for url in own] == [200, 200, 200]
    ranged = client.get(named_pair.video_a.proxy.url, HTTP_RANGE="bytes=10-19")
    assert (
        ranged.status_code == 206
        and b"".join(ranged.streaming_content) == ((media_root / named_pair.video_a.proxy.name).read_bytes()[10:20])
    )
    assert [client.get(url).status_code for url in others] == [404, 404, 404]
    assert client.get("/media/training-runs/run-1/checkpoint.safetensors").status_code == 404
    assert client.get("/media/../conftest.py").status_code == 404


def test_an_expert_gets_proxies_without_the_sources_tags_and_never_the_original(
    client, expert, curator, campaign, ingest, tmp_path
):
    tags = ["-metadata", "title=sora-v2-internal render", "-metadata", "comment=veo-3-preview take 17"]
    clips = [
        lavfi_render(tmp_path / f"{side}.mp4", f"testsrc2=size=160x96:rate=24,hue=h={hue}", seconds=1,
                     output_args=["-c:v", "libx264", "-pix_fmt", "yuv420p", *tags])
        for side, hue in (("a", 0), ("b", 90))
    ]  # fmt: skip
    assert b"sora-v2-internal" in clips[0].read_bytes()
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    pair = ingest(campaign, clips, external_id="tagged")
    client.force_login(expert)

    proxy = client.get(pair.video_a.proxy.url)
    body = b"".join(proxy.streaming_content)
    assert proxy.status_code == 200 and b"sora-v2-internal" not in body and b"veo-3-preview" not in body
    assert client.get(pair.video_a.file.url).status_code == 404
    client.force_login(curator)
    assert client.get(pair.video_a.file.url).status_code == 200


def test_staff_read_every_video_but_no_other_file_under_the_media_folder(client, other_pair, media_root):
    staff = get_user_model().objects.create_user(username="root", password="pw", is_staff=True)
    (media_root / "uploads").mkdir(parents=True)
    (media_root / "uploads" / "notes.txt").write_text("not a video")
    client.force_login(staff)

    assert client.get(other_pair.video_a.proxy.url).status_code == 200
    assert client.get("/media/uploads/notes.txt").status_code == 404


def test_media_addresses_carry_no_source_or_file_name(named_pair):
    for video in (named_pair.video_a, named_pair.video_b):
        addresses = " ".join(field.url for field in (video.file, video.proxy, video.poster))
        assert leaks(addresses) == [] and video.sha256 in addresses
