"""Curators run campaigns from the browser: create one (staff, or a curator of some campaign; the creator becomes
its curator), add pairs from a manifest, add and remove members by username, follow each expert's throughput, and
lock only after a confirmation step. The campaign page belongs to that campaign's curators.

The curator here curates campaign "x"; the ML engineer and the expert hold their roles there too."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.models import Assignment, Campaign, CampaignMembership, PairJudgment, VideoPair
from annotation.selectors import campaign_expert_throughput
from annotation.services import assignment_create, checklist_default, pair_flag, rubric_default
from annotation.tests.conftest import render_clip

pytestmark = pytest.mark.django_db


@pytest.fixture
def x(curator, ml_engineer, expert):
    return campaign_make(name="x", pairs=4, members={curator: "curator", ml_engineer: "ml_engineer", expert: "expert"})


def _create(client, **fields):
    form = {"name": "rubric only", "overlap": 2, "agreement_threshold": 0.7, "guidelines": "# Judge motion first"}
    form["rubric"], form["checklist"] = rubric_default().pk, ""
    form.update(fields)
    return client.post(reverse("campaign-new"), form)


def test_a_curator_creates_a_rubric_only_campaign_and_becomes_its_curator(client, curator, x):
    client.force_login(curator)

    response = _create(client)

    created = Campaign.objects.get(name="rubric only")
    assert response.status_code == 302 and response.url == reverse("campaign-detail", args=[created.pk])
    assert (created.checklist_id, created.overlap, created.agreement_threshold) == (None, 2, 0.7)
    assert created.guidelines == "# Judge motion first" and created.created_by == curator
    assert list(created.memberships.values_list("user__username", "role")) == [(curator.username, "curator")]


def test_staff_create_campaigns_without_curating_any(client, admin_user):
    client.force_login(admin_user)
    assert "data-new-campaign" in client.get(reverse("home")).content.decode()

    response = _create(client, name="by staff")

    assert response.status_code == 302
    assert Campaign.objects.get(name="by staff").memberships.get().user == admin_user


def test_the_form_starts_from_the_default_checklist_and_offers_none(client, curator, x):
    client.force_login(curator)

    response = client.get(reverse("campaign-new"))

    assert response.context["form"]["checklist"].value() == checklist_default().pk
    assert "None: rubric verdicts only" in response.content.decode()


def test_experts_and_ml_engineers_may_not_create_campaigns(client, expert, ml_engineer, x):
    for user in (expert, ml_engineer):
        client.force_login(user)
        assert client.get(reverse("campaign-new")).status_code == 403
        assert _create(client, name=f"by {user.username}").status_code == 403
        assert "data-new-campaign" not in client.get(reverse("home")).content.decode()
    assert not Campaign.objects.filter(name__startswith="by ").exists()


def test_a_taken_name_and_a_zero_overlap_are_shown_beside_their_fields(client, curator, x):
    client.force_login(curator)

    response = _create(client, name="x", overlap=0)

    page = response.content.decode()
    assert response.status_code == 400
    assert "A campaign with this name exists already." in page
    assert "Ensure this value is greater than or equal to 1." in page
    assert Campaign.objects.count() == 1


def test_the_campaign_page_is_for_its_curators_only(client, curator, ml_engineer, x):
    elsewhere = campaign_make(name="elsewhere", pairs=0)
    client.force_login(curator)
    assert client.get(reverse("campaign-detail", args=[x.pk])).status_code == 200
    refused = client.get(reverse("campaign-detail", args=[elsewhere.pk]))
    assert refused.status_code == 403 and "Only a curator of campaign elsewhere" in refused.content.decode()
    client.force_login(ml_engineer)
    assert client.get(reverse("campaign-detail", args=[x.pk])).status_code == 403


def test_a_member_is_added_by_username_and_an_unknown_name_is_shown_beside_the_field(client, curator, x):
    expert_make("newcomer")
    client.force_login(curator)

    added = client.post(reverse("campaign-member-add", args=[x.pk]), {"username": "newcomer", "role": "expert"})
    unknown = client.post(reverse("campaign-member-add", args=[x.pk]), {"username": "nobody", "role": "curator"})

    assert added.status_code == 302
    assert x.memberships.filter(user__username="newcomer", role="expert").exists()
    assert unknown.status_code == 400 and "No active user is called &#x27;nobody&#x27;." in unknown.content.decode()


def test_removing_an_expert_releases_their_open_pairs_and_keeps_their_judgments(client, curator, expert, x):
    judged, open_pair, flagged = VideoPair.objects.filter(campaign=x).order_by("id")[:3]
    judge(judged, expert)
    assignment_create(pair=open_pair, expert=expert, swapped=False)
    pair_flag(assignment=assignment_create(pair=flagged, expert=expert, swapped=False), reason="broken_video")
    membership = x.memberships.get(user=expert, role="expert")
    client.force_login(curator)

    response = client.post(reverse("campaign-member-remove", args=[x.pk]), {"membership": membership.pk})

    assert response.status_code == 302
    assert not x.memberships.filter(user=expert).exists()
    assert PairJudgment.objects.filter(assignment__pair=judged).count() == 1
    assert not Assignment.objects.filter(pair=open_pair).exists()
    assert dict(VideoPair.objects.filter(campaign=x).values_list("external_id", "assigned_count")) == {
        judged.external_id: 1,
        open_pair.external_id: 0,  # free for another expert
        flagged.external_id: 1,  # the flag stays in the curators' queue
        "p4": 0,
    }


def test_the_last_curator_cannot_be_removed(client, curator, x):
    client.force_login(curator)
    mine = x.memberships.get(user=curator, role="curator")

    client.post(reverse("campaign-member-remove", args=[x.pk]), {"membership": mine.pk})

    assert CampaignMembership.objects.filter(pk=mine.pk).exists()
    page = client.get(reverse("campaign-detail", args=[x.pk])).content.decode()
    assert "A campaign keeps at least one curator" in page


def test_throughput_counts_judgments_and_takes_the_median_of_their_seconds(x, expert):
    """Expert ada judges three pairs in 30, 50 and 400 s and has one open: median 50 s (the middle of three), last
    activity her last submit. Expert bo, added but never started, has zeros and no median."""
    expert_make("bo", x)
    pairs = list(VideoPair.objects.filter(campaign=x).order_by("id"))
    for pair, seconds in zip(pairs[:3], (30, 400, 50), strict=True):
        judge(pair, expert)
        Assignment.objects.filter(pair=pair, expert=expert).update(time_spent_seconds=seconds)
    latest = Assignment.objects.filter(pair=pairs[2], expert=expert).get().submitted_at + timedelta(seconds=1)
    Assignment.objects.filter(pair=pairs[2], expert=expert).update(submitted_at=latest)
    assignment_create(pair=pairs[3], expert=expert, swapped=False)
    Assignment.objects.filter(pair=pairs[3]).update(created_at=latest - timedelta(hours=1))

    rows = {row["expert"].username: row for row in campaign_expert_throughput(campaign=x)}

    ada = rows[expert.username]
    assert (ada["judgments"], ada["open"], ada["flags"], ada["median_seconds"]) == (3, 1, 0, 50)
    assert ada["last_activity"] == latest
    assert (rows["bo"]["judgments"], rows["bo"]["median_seconds"], rows["bo"]["last_activity"]) == (0, None, None)


def test_locking_asks_for_confirmation_first(client, curator, expert, x):
    judge(VideoPair.objects.filter(campaign=x).first(), expert)
    client.force_login(curator)

    question = client.get(reverse("campaign-lock", args=[x.pk]))
    x.refresh_from_db()
    assert question.status_code == 200 and x.status == "active"
    assert "Its 1 judgment become final" in question.content.decode()

    client.post(reverse("campaign-lock", args=[x.pk]))
    x.refresh_from_db()
    assert x.status == "locked"


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("manifest-clips")
    return render_clip(folder / "calm.mp4", seconds=1, size="160x96"), render_clip(
        folder / "tinted.mp4", "hue=h=90", seconds=1, size="160x96"
    )


def _upload(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="video/mp4")


def test_a_manifest_with_its_videos_imports_its_good_lines_and_lists_the_bad_one_beside_the_field(
    client, curator, x, two_clips
):
    lines = [
        {"pair_id": "m1", "prompt": "a calm sea", "video_a": "calm.mp4", "video_b": "tinted.mp4"},
        {"pair_id": "m2", "prompt": "a calm sea", "video_a": "calm.mp4", "video_b": "missing.mp4"},
    ]
    manifest = SimpleUploadedFile("pairs.jsonl", "\n".join(json.dumps(line) for line in lines).encode())
    client.force_login(curator)

    response = client.post(
        reverse("campaign-manifest", args=[x.pk]),
        {"manifest": manifest, "videos": [_upload(path) for path in two_clips]},
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "line 2:" in page and "missing.mp4" in page
    assert "The other lines were imported: 1 pairs added" in page
    assert set(
        VideoPair.objects.filter(campaign=x, external_id__startswith="m").values_list("external_id", flat=True)
    ) == {"m1"}


def test_two_uploaded_videos_with_one_name_are_refused_before_anything_is_stored(client, curator, x, two_clips):
    line = {"pair_id": "m1", "prompt": "a calm sea", "video_a": "calm.mp4", "video_b": "tinted.mp4"}
    client.force_login(curator)

    response = client.post(
        reverse("campaign-manifest", args=[x.pk]),
        {
            "manifest": SimpleUploadedFile("pairs.jsonl", json.dumps(line).encode()),
            "videos": [_upload(two_clips[0]), _upload(two_clips[0])],
        },
    )

    assert (
        response.status_code == 400 and "two uploaded videos share a file name: calm.mp4" in response.content.decode()
    )
    assert not VideoPair.objects.filter(external_id="m1").exists()


def test_curators_rewrite_the_guidelines_and_experts_may_not(client, curator, expert, x):
    client.force_login(expert)
    assert client.post(reverse("campaign-guidelines", args=[x.pk]), {"guidelines": "# mine"}).status_code == 403
    client.force_login(curator)

    client.post(reverse("campaign-guidelines", args=[x.pk]), {"guidelines": "# Motion\n\nJudge *motion* first."})

    x.refresh_from_db()
    assert x.guidelines == "# Motion\n\nJudge *motion* first."
    assert "Judge *motion* first." in client.get(reverse("campaign-detail", args=[x.pk])).content.decode()


def test_an_uploaded_pair_brings_a_curator_back_to_the_campaign_page(client, curator, x, two_clips):
    client.force_login(curator)

    response = client.post(
        reverse("pair-upload", args=[x.pk]),
        {"prompt": "a calm sea", "video_a": _upload(two_clips[0]), "video_b": _upload(two_clips[1])},
    )

    assert response.status_code == 302 and response.url == reverse("campaign-detail", args=[x.pk])
    assert VideoPair.objects.filter(campaign=x, prompt="a calm sea").count() == 1


def test_a_manifest_alone_may_name_videos_inside_the_import_roots(client, curator, x, two_clips, settings):
    settings.IMPORT_ROOTS = [str(two_clips[0].parent)]
    line = {"pair_id": "r1", "prompt": "a calm sea", "video_a": str(two_clips[0]), "video_b": str(two_clips[1])}
    client.force_login(curator)

    response = client.post(
        reverse("campaign-manifest", args=[x.pk]),
        {"manifest": SimpleUploadedFile("pairs.jsonl", json.dumps(line).encode())},
    )

    assert response.status_code == 302
    assert VideoPair.objects.filter(campaign=x, external_id="r1").exists()
