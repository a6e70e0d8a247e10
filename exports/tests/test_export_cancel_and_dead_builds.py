"""Cancelling an export (page and API), and builds whose worker died: resumed from scratch while attempts are left,
else failed with the reason; their partial folders removed either way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.services import campaign_member_add
from exports import services
from exports.models import ExportSnapshot
from exports.services import ExportNotCancellable, export_build, export_builds_check, export_cancel
from exports.tests.factories import pairs_judged_by_one_expert
from exports.tests.helpers import build

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged_campaign(export_campaign, ml_engineer, curator):
    campaign_member_add(campaign=export_campaign, user=ml_engineer, role="ml_engineer")
    campaign_member_add(campaign=export_campaign, user=curator, role="curator")
    return pairs_judged_by_one_expert(export_campaign, 12)


@pytest.fixture
def other_ml_engineer(django_user_model, judged_campaign):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username="ml-eve", password="pw")
    user.groups.add(Group.objects.get(name="ml_engineer"))
    campaign_member_add(campaign=judged_campaign, user=user, role="ml_engineer")
    return user


def queued(campaign, tmp_path: Path, created_by) -> ExportSnapshot:
    return services.export_snapshot_create(
        campaign=campaign, export_format="aesrm-pairwise", path=tmp_path / "out" / "export", created_by=created_by
    )


def died_while_running(snapshot: ExportSnapshot, *, attempts: int, tmp_path: Path) -> Path:
    """The snapshot as a killed builder leaves it: running, a heartbeat long gone, a half-written partial folder."""
    long_ago = timezone.now() - timedelta(hours=1)
    ExportSnapshot.objects.filter(pk=snapshot.pk).update(
        status="running",
        started_at=long_ago,
        heartbeat_at=long_ago,
        attempts=attempts,
        build_token="dead",
        progress=0.4,
    )
    partial = tmp_path / "out" / ".export.partial-deadbeef"
    partial.mkdir(parents=True)
    (partial / ".records.pickle").write_bytes(b"half a spool")
    return partial


def test_a_queued_export_cancelled_through_the_api_is_never_built(client, ml_engineer, judged_campaign, tmp_path):
    snapshot = queued(judged_campaign, tmp_path, ml_engineer)
    client.force_login(ml_engineer)

    response = client.post(reverse("api-export-cancel", args=[snapshot.pk]))

    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    assert export_build(snapshot_id=snapshot.pk).status == ExportSnapshot.Status.CANCELLED
    assert not (tmp_path / "out").exists()


def test_cancelling_a_finished_export_is_a_conflict_and_changes_nothing(client, ml_engineer, judged_campaign, tmp_path):
    snapshot = build(judged_campaign, path=tmp_path / "export", created_by=ml_engineer)
    client.force_login(ml_engineer)

    response = client.post(reverse("api-export-cancel", args=[snapshot.pk]))

    assert response.status_code == 409 and "already succeeded" in response.json()["detail"]
    snapshot.refresh_from_db()
    assert snapshot.status == ExportSnapshot.Status.SUCCEEDED and (tmp_path / "export" / "manifest.json").is_file()
    page = client.post(reverse("export-cancel", args=[snapshot.pk]))
    assert page.status_code == 409 and "only a queued or running export can be cancelled" in page.content.decode()


def test_another_ml_engineer_may_not_cancel_but_a_curator_of_the_campaign_may(
    client, ml_engineer, other_ml_engineer, curator, judged_campaign, tmp_path
):
    snapshot = queued(judged_campaign, tmp_path, ml_engineer)

    client.force_login(other_ml_engineer)
    assert client.post(reverse("api-export-cancel", args=[snapshot.pk])).status_code == 403
    assert ExportSnapshot.objects.get(pk=snapshot.pk).status == ExportSnapshot.Status.QUEUED

    client.force_login(curator)
    assert client.post(reverse("export-cancel", args=[snapshot.pk])).status_code == 302
    snapshot.refresh_from_db()
    assert snapshot.status == ExportSnapshot.Status.CANCELLED and snapshot.cancel_requested_by == curator


def test_a_running_build_asked_to_cancel_stops_at_its_next_beat_and_leaves_no_folder(
    ml_engineer, judged_campaign, tmp_path, monkeypatch, settings
):
    settings.EXPORT_PAIR_BATCH_SIZE = 3
    settings.EXPORT_HEARTBEAT_SECONDS = 0  # this test runs in a transaction: the builder beats between rows
    snapshot = queued(judged_campaign, tmp_path, ml_engineer)
    progress = services._progress
    seen = []

    def progress_then_the_owner_cancels(snapshot, fraction, message):
        progress(snapshot, fraction, message)
        if not seen:
            seen.append(message)
            export_cancel(snapshot=ExportSnapshot.objects.get(pk=snapshot.pk), user=ml_engineer)

    monkeypatch.setattr(services, "_progress", progress_then_the_owner_cancels)
    stopped = export_build(snapshot_id=snapshot.pk)

    assert seen == ["read 3 of 12 pairs"]
    assert stopped.status == ExportSnapshot.Status.CANCELLED and stopped.finished_at and stopped.progress < 1
    assert list((tmp_path / "out").iterdir()) == []  # neither the final folder nor a partial one


def test_a_cancel_asked_of_a_build_whose_worker_died_ends_it_cancelled(ml_engineer, judged_campaign, tmp_path):
    snapshot = queued(judged_campaign, tmp_path, ml_engineer)
    partial = died_while_running(snapshot, attempts=1, tmp_path=tmp_path)

    cancelling = export_cancel(snapshot=snapshot, user=ml_engineer)
    assert cancelling.status == ExportSnapshot.Status.RUNNING and cancelling.is_cancelling

    assert export_builds_check() == {"resumed": 0, "failed": 0, "cancelled": 1}
    assert ExportSnapshot.objects.get(pk=snapshot.pk).status == ExportSnapshot.Status.CANCELLED
    assert not partial.exists()
    with pytest.raises(ExportNotCancellable, match="already cancelled"):
        export_cancel(snapshot=snapshot, user=ml_engineer)


def test_a_build_whose_heartbeat_stopped_is_built_again_and_its_partial_folder_removed(
    ml_engineer, judged_campaign, tmp_path, django_capture_on_commit_callbacks
):
    snapshot = queued(judged_campaign, tmp_path, ml_engineer)
    partial = died_while_running(snapshot, attempts=1, tmp_path=tmp_path)

    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        counts = export_builds_check()

    assert counts == {"resumed": 1, "failed": 0, "cancelled": 0} and len(enqueued) == 1
    snapshot.refresh_from_db()
    assert snapshot.status == ExportSnapshot.Status.SUCCEEDED and snapshot.attempts == 2
    assert not partial.exists() and (tmp_path / "out" / "export" / "manifest.json").is_file()


def test_a_build_whose_worker_died_on_its_last_attempt_fails_with_the_reason(
    ml_engineer, judged_campaign, tmp_path, settings
):
    settings.EXPORT_BUILD_MAX_ATTEMPTS = 2
    snapshot = queued(judged_campaign, tmp_path, ml_engineer)
    partial = died_while_running(snapshot, attempts=2, tmp_path=tmp_path)

    assert export_build(snapshot_id=snapshot.pk).status == ExportSnapshot.Status.RUNNING  # no attempts left to claim
    assert export_builds_check() == {"resumed": 0, "failed": 1, "cancelled": 0}

    snapshot.refresh_from_db()
    assert snapshot.status == ExportSnapshot.Status.FAILED and snapshot.finished_at
    assert snapshot.error.startswith("the worker building this export stopped (killed or crashed) at 40%")
    assert "after 2 attempts" in snapshot.error
    assert not partial.exists() and list((tmp_path / "out").iterdir()) == []


def test_a_build_beating_within_the_threshold_is_left_running(ml_engineer, judged_campaign, tmp_path, settings):
    settings.EXPORT_STALE_SECONDS = 60
    snapshot = queued(judged_campaign, tmp_path, ml_engineer)
    ExportSnapshot.objects.filter(pk=snapshot.pk).update(
        status="running", attempts=1, build_token="alive", heartbeat_at=timezone.now() - timedelta(seconds=30)
    )

    assert export_builds_check() == {"resumed": 0, "failed": 0, "cancelled": 0}
    assert export_build(snapshot_id=snapshot.pk).status == ExportSnapshot.Status.RUNNING
    assert ExportSnapshot.objects.get(pk=snapshot.pk).build_token == "alive"


def test_viewing_the_export_list_settles_a_build_whose_worker_died(
    client, ml_engineer, judged_campaign, tmp_path, settings
):
    settings.EXPORT_BUILD_MAX_ATTEMPTS = 1
    snapshot = queued(judged_campaign, tmp_path, ml_engineer)
    died_while_running(snapshot, attempts=1, tmp_path=tmp_path)
    client.force_login(ml_engineer)

    page = client.get(reverse("export-index")).content.decode()

    assert ExportSnapshot.objects.get(pk=snapshot.pk).status == ExportSnapshot.Status.FAILED
    assert f'data-snapshot="{snapshot.pk}"' in page and "Failed" in page
    detail = client.get(reverse("export-detail", args=[snapshot.pk])).content.decode()
    assert "the worker building this export stopped (killed or crashed)" in detail


def test_the_page_of_a_running_export_offers_cancel(client, ml_engineer, judged_campaign, tmp_path):
    snapshot = queued(judged_campaign, tmp_path, ml_engineer)
    ExportSnapshot.objects.filter(pk=snapshot.pk).update(status="running", heartbeat_at=timezone.now())
    client.force_login(ml_engineer)

    assert "data-export-cancel" in client.get(reverse("export-detail", args=[snapshot.pk])).content.decode()
    client.post(reverse("export-cancel", args=[snapshot.pk]))

    page = client.get(reverse("export-detail", args=[snapshot.pk])).content.decode()
    assert "data-cancelling" in page and "data-export-cancel" not in page


@pytest.mark.django_db(transaction=True)
def test_a_dead_build_that_cannot_be_sent_again_is_failed_with_the_reason_and_the_page_still_answers(
    client, ml_engineer, export_campaign, tmp_path, broker_unreachable
):
    campaign_member_add(campaign=export_campaign, user=ml_engineer, role="ml_engineer")
    snapshot = queued(export_campaign, tmp_path, ml_engineer)
    partial = died_while_running(snapshot, attempts=1, tmp_path=tmp_path)
    client.force_login(ml_engineer)

    response = broker_unreachable.answer(lambda: client.get(reverse("export-index")))

    assert response.status_code == 200
    snapshot.refresh_from_db()
    assert snapshot.status == ExportSnapshot.Status.FAILED and not partial.exists()
    assert (
        snapshot.error
        == "the worker building this export stopped, and the job queue is unreachable; nothing was started"
    )
