"""Rights are per campaign: a curator or ML engineer acts only in the campaigns where they hold that role (staff:
everywhere), and gets a 403 naming the role needed anywhere else, in pages and API alike. The auth groups named
after the roles grant nothing.

The curator and ML engineer here are members of campaign "x" only; "y" is someone else's campaign.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agreement.models import Adjudication, GoldLabel
from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.models import Campaign, VideoPair
from annotation.services import campaign_member_add
from distillation.models import DistillationJob
from distillation.services import critique_record
from distillation.tests.factories import endpoint_create, item_create
from exports.models import ExportSnapshot
from exports.services import export_snapshot_create
from training.models import RegisteredModel, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def x(curator, ml_engineer):
    campaign = campaign_make(name="x", pairs=1, members={curator: "curator", ml_engineer: "ml_engineer"})
    judge(campaign.pairs.get(), expert_make("ann", campaign), VA1=1)
    return campaign


@pytest.fixture
def y():
    campaign = campaign_make(name="y", pairs=1)
    judge(campaign.pairs.get(), expert_make("bob", campaign), VA1=-1)
    return campaign


def forbidden(response, role: str, campaign: Campaign) -> bool:
    """A 403 whose message names the role needed and the campaign (pages and API alike)."""
    body = response.content.decode()
    return response.status_code == 403 and f"Only a {role} of campaign {campaign.name}" in body


def test_a_curator_locks_only_the_campaigns_they_curate(client, curator, x, y):
    client.force_login(curator)

    refused = client.post(reverse("campaign-lock-toggle", args=[y.pk]))
    locked = client.post(reverse("campaign-lock-toggle", args=[x.pk]))

    assert forbidden(refused, "curator", y) and "can lock or unlock it" in refused.content.decode()
    assert locked.status_code == 302
    assert dict(Campaign.objects.values_list("name", "status")) == {"x": "locked", "y": "active"}
    assert client.post(reverse("campaign-lock-toggle", args=[987654])).status_code == 404


def test_a_curator_adjudicates_and_sets_gold_only_in_their_campaigns(client, curator, x, y):
    client.force_login(curator)
    labels = {"verdict_VA1": "1", "reason": "A is sharper"}

    def review(campaign):
        return reverse("agreement-pair", args=[campaign.pk, campaign.pairs.get().pk])

    assert forbidden(client.post(review(y), {"action": "adjudicate", **labels}), "curator", y)
    assert forbidden(client.post(review(y), {"action": "gold", **labels}), "curator", y)
    assert forbidden(client.get(reverse("agreement-queue", args=[y.pk])), "curator", y)
    assert not Adjudication.objects.exists() and not GoldLabel.objects.exists()

    assert client.post(review(x), {"action": "gold", **labels}).status_code == 302
    assert client.post(review(x), {"action": "adjudicate", "verdict_VA1": "-1", "reason": "B"}).status_code == 302
    assert GoldLabel.objects.get().pair.campaign == x and Adjudication.objects.get().pair.campaign == x


def test_agreement_is_read_only_in_the_users_campaigns(client, curator, ml_engineer, x, y):
    for user in (curator, ml_engineer):
        client.force_login(user)
        assert forbidden(client.get(reverse("agreement-dashboard", args=[y.pk])), "curator or ML engineer", y)
        assert client.get(reverse("agreement-csv", args=[y.pk, "consensus"])).status_code == 403
        assert client.get(reverse("agreement-dashboard", args=[x.pk])).status_code == 200
        index = client.get(reverse("agreement-index")).content.decode()
        assert reverse("agreement-dashboard", args=[x.pk]) in index
        assert reverse("agreement-dashboard", args=[y.pk]) not in index
    # An ML engineer reads agreement but does not adjudicate, even in their own campaign.
    assert forbidden(client.get(reverse("agreement-queue", args=[x.pk])), "curator", x)


def test_exports_are_made_and_read_only_in_the_users_campaigns(client, curator, x, y, tmp_path):
    theirs = export_snapshot_create(campaign=y, export_format="preference-pairs", path=tmp_path / "theirs")
    client.force_login(curator)
    form = {"campaign": y.pk, "format": "preference-pairs", "split": "0.8/0.1/0.1", "seed": 0,
            "min_agreement": 0, "gold": "test", "awaiting_adjudication": "exclude"}  # fmt: skip

    assert forbidden(client.post(reverse("export-index"), form), "curator or ML engineer", y)
    api = client.post(reverse("api-exports"), {"campaign": "y", "format": "rl-prompts"}, "application/json")
    assert forbidden(api, "curator or ML engineer", y)
    assert client.get(reverse("export-detail", args=[theirs.pk])).status_code == 403
    assert client.get(reverse("api-export-download", args=[theirs.pk])).status_code == 403
    assert client.get(reverse("api-exports")).json()["results"] == []
    assert list(ExportSnapshot.objects.values_list("campaign__name", flat=True)) == ["y"]

    form_choices = client.get(reverse("export-index")).context["form"].fields["campaign"].queryset
    assert list(form_choices) == [x]


def test_uploads_go_only_to_the_users_campaigns(client, curator, ml_engineer, x, y):
    pairs_before = VideoPair.objects.count()
    for user in (curator, ml_engineer):
        client.force_login(user)
        assert forbidden(client.get(reverse("pair-upload", args=[y.pk])), "curator or ML engineer", y)
        upload = {
            "campaign": "y",
            "prompt": "a fox",
            "video_a": SimpleUploadedFile("a.mp4", b"not checked before the rights"),
            "video_b": SimpleUploadedFile("b.mp4", b"not checked either"),
        }
        assert forbidden(client.post(reverse("api-pairs"), upload), "curator or ML engineer", y)
        assert client.get(reverse("pair-upload", args=[x.pk])).status_code == 200
    assert VideoPair.objects.count() == pairs_before


def test_an_ml_engineer_trains_only_on_snapshots_of_their_campaigns(client, ml_engineer, curator, x, y, tmp_path):
    ours = export_snapshot_create(campaign=x, export_format="aesrm-pairwise", path=tmp_path / "ours")
    theirs = export_snapshot_create(campaign=y, export_format="aesrm-pairwise", path=tmp_path / "theirs")
    client.force_login(ml_engineer)

    assert forbidden(client.get(reverse("training-train", args=[theirs.pk])), "ML engineer", y)
    api = client.post(
        reverse("api-training-jobs"), {"snapshot": theirs.pk, "recipe": "checklist-linear"}, "application/json"
    )
    assert forbidden(api, "ML engineer", y)
    assert client.get(reverse("training-train", args=[ours.pk])).status_code == 200
    assert not TrainingJob.objects.exists()

    # A curator exports their campaign but trains nothing on it.
    client.force_login(curator)
    assert client.get(reverse("training-train", args=[ours.pk])).status_code == 403
    assert client.get(reverse("training-index")).status_code == 403


def test_the_model_registry_lists_and_opens_models_of_the_users_campaigns_only(client, ml_engineer, x, y, tmp_path):
    def registered(campaign, name):
        snapshot = export_snapshot_create(campaign=campaign, export_format="aesrm-pairwise", path=tmp_path / name)
        job = TrainingJob.objects.create(recipe="checklist-linear", snapshot=snapshot, run_dir=str(tmp_path / name))
        return RegisteredModel.objects.create(
            job=job, name=name, recipe="checklist-linear", snapshot=snapshot, run_dir=job.run_dir
        )

    ours, theirs = registered(x, "ours"), registered(y, "theirs")
    client.force_login(ml_engineer)

    rows = client.get(reverse("training-models")).context["rows"]
    assert [row.model.name for row in rows] == ["ours"]
    assert [model["name"] for model in client.get(reverse("api-training-models")).json()["results"]] == ["ours"]
    assert forbidden(client.get(reverse("training-model", args=[theirs.pk])), "ML engineer", y)
    assert client.get(reverse("training-model", args=[ours.pk])).status_code == 200
    compared = client.get(reverse("training-compare"), {"ids": [ours.pk, theirs.pk]}).context["models"]
    assert [model.name for model in compared] == ["ours"]


def test_distillation_jobs_and_critiques_are_per_campaign(client, curator, ml_engineer, x, y):
    endpoint_create(name="local")
    item = item_create(pair=y.pairs.get())
    critique = critique_record(item=item, sample_index=0, text="<think>x</think><answer>VA: 1</answer>")

    client.force_login(curator)
    assert forbidden(client.get(reverse("distillation-job", args=[item.job.pk])), "curator or ML engineer", y)
    assert forbidden(client.get(reverse("distillation-critique", args=[critique.pk])), "curator", y)
    assert client.get(reverse("distillation-audit")).context["critiques"] == []
    job_page = reverse("distillation-job", args=[item.job.pk])
    assert job_page not in client.get(reverse("distillation-index")).content.decode()

    client.force_login(ml_engineer)
    api = client.post(
        reverse("api-distillation-jobs"), {"campaign": "y", "endpoint": "local"}, content_type="application/json"
    )
    assert forbidden(api, "ML engineer", y)
    assert forbidden(client.post(reverse("distillation-job-cancel", args=[item.job.pk])), "ML engineer", y)
    assert DistillationJob.objects.count() == 1


def test_a_role_group_grants_nothing_and_a_membership_adds_no_group(client, django_user_model, x, y):
    grouped = django_user_model.objects.create_user(username="old-style", password="pw")
    grouped.groups.add(Group.objects.get(name="curator"))
    member = django_user_model.objects.create_user(username="new-style", password="pw")
    campaign_member_add(campaign=x, user=member, role="curator")

    client.force_login(grouped)
    assert forbidden(client.post(reverse("campaign-lock-toggle", args=[x.pk])), "curator", x)
    assert client.get(reverse("agreement-index")).status_code == 403
    assert list(member.groups.all()) == []


def test_staff_hold_every_role_in_every_campaign(client, django_user_model, y):
    staff = django_user_model.objects.create_user(username="root", password="pw", is_staff=True)
    client.force_login(staff)

    assert client.post(reverse("campaign-lock-toggle", args=[y.pk])).status_code == 302
    assert client.get(reverse("agreement-dashboard", args=[y.pk])).status_code == 200
    assert client.get(reverse("pair-upload", args=[y.pk])).status_code == 200
