"""A real Celery worker on Redis killed (SIGKILL) in the middle of an export, and an export cancelled while a real
worker builds it. The build is slowed by reading one pair per batch (EXPORT_PAIR_BATCH_SIZE=1), and the dead-builder
threshold is lowered to a few seconds through the workers' environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import transaction
from django.urls import reverse

from annotation.services import campaign_member_add
from exports.models import ExportSnapshot
from exports.services import export_request
from exports.tests.factories import pairs_judged_by_one_expert
from webapp.testing import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PAIRS = 150


@pytest.fixture
def slow_builds(monkeypatch):
    """Worker settings (the workers copy this process's environment): one pair per batch, beats twice a second, a
    build silent for 3 s is dead, beat checks every second."""
    for name, value in {
        "EXPORT_PAIR_BATCH_SIZE": "1",
        "EXPORT_HEARTBEAT_SECONDS": "0.5",
        "EXPORT_STALE_SECONDS": "3",
        "EXPORT_CHECK_INTERVAL_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def big_campaign(export_campaign, ml_engineer):
    campaign_member_add(campaign=export_campaign, user=ml_engineer, role="ml_engineer")
    return pairs_judged_by_one_expert(export_campaign, PAIRS)


def requested(campaign, user) -> ExportSnapshot:
    with transaction.atomic():
        return export_request(campaign=campaign, export_format="aesrm-pairwise", options={}, created_by=user)


def partial_folders(snapshot: ExportSnapshot) -> list[Path]:
    final = Path(snapshot.path)
    return sorted(final.parent.glob(f".{final.name}.partial-*"))


def wait_mid_build(snapshot: ExportSnapshot) -> ExportSnapshot:
    def reading_pairs():
        current = ExportSnapshot.objects.get(pk=snapshot.pk)
        return current if current.status == "running" and current.progress > 0 and partial_folders(current) else None

    return wait_until(reading_pairs, timeout=90, interval=0.05, message="the build to be reading pairs")


def wait_finished(snapshot: ExportSnapshot, timeout: float = 120) -> ExportSnapshot:
    def finished():
        current = ExportSnapshot.objects.get(pk=snapshot.pk)
        return current if current.is_finished else None

    return wait_until(finished, timeout=timeout, message="the export to finish")


def test_an_export_whose_worker_is_killed_mid_build_is_resumed_by_beat_and_leaves_no_partial_folder(
    start_worker, slow_builds, big_campaign, ml_engineer, tmp_path
):
    first = start_worker()
    snapshot = requested(big_campaign, ml_engineer)
    during = wait_mid_build(snapshot)
    assert during.progress < 0.7, "the build must still be reading pairs when its worker is killed"

    first.kill()
    killed = ExportSnapshot.objects.get(pk=snapshot.pk)
    assert killed.status == "running" and killed.attempts == 1 and partial_folders(killed)

    second = start_worker(extra_args=("--beat", "--schedule", str(tmp_path / "beat-schedule")))
    done = wait_finished(snapshot)

    assert done.status == ExportSnapshot.Status.SUCCEEDED, done.error
    assert done.attempts == 2 and done.started_at > killed.started_at
    assert sum(done.manifest["splits"].values()) == PAIRS
    assert partial_folders(done) == [] and (Path(done.path) / "manifest.json").is_file()
    assert "export-builds-check" in second.log() or "export_builds_check_task" in second.log()


def test_an_export_cancelled_while_a_real_worker_builds_it_ends_cancelled_with_no_folder(
    start_worker, slow_builds, big_campaign, ml_engineer, client
):
    client.force_login(ml_engineer)
    start_worker()
    snapshot = requested(big_campaign, ml_engineer)
    wait_mid_build(snapshot)

    response = client.post(reverse("api-export-cancel", args=[snapshot.pk]))
    assert response.status_code == 202 and response.json()["cancel_requested_at"], response.json()

    done = wait_finished(snapshot, timeout=60)
    assert done.status == ExportSnapshot.Status.CANCELLED and done.progress < 1
    assert partial_folders(done) == [] and not Path(done.path).exists()
    again = client.post(reverse("api-export-cancel", args=[snapshot.pk]))
    assert again.status_code == 409
