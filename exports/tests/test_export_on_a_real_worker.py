"""An export requested like the UI does (snapshot row, then a task after commit) is built by a real Celery
worker on Redis against the test database, with progress recorded and the folder complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import transaction

from exports.models import ExportSnapshot
from exports.services import export_request
from exports.tests.factories import experts_make, judge, pair_make
from webapp.testing import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_builds_a_requested_export_and_records_its_progress(start_worker, export_campaign, ml_engineer):
    raters = experts_make(2, export_campaign)
    for index in range(12):
        pair = pair_make(export_campaign, prompt=f"prompt {index % 6}")
        for rater in raters:
            judge(pair, rater, value=1 if index % 3 else -1)
    start_worker()

    with transaction.atomic():
        snapshot = export_request(
            campaign=export_campaign,
            export_format="aesrm-pairwise",
            options={"seed": 4, "swap_augment": True},
            created_by=ml_engineer,
        )
        assert ExportSnapshot.objects.get(pk=snapshot.pk).status == ExportSnapshot.Status.QUEUED

    def finished():
        current = ExportSnapshot.objects.get(pk=snapshot.pk)
        return current if current.is_finished else None

    done = wait_until(finished, timeout=90, message="the export to finish")
    assert done.status == ExportSnapshot.Status.SUCCEEDED, done.error
    assert done.progress == 1.0 and done.started_at and done.finished_at >= done.started_at
    folder = Path(done.path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["created_by"] == ml_engineer.username
    assert sum(manifest["splits"].values()) == 24  # 12 pairs and their swapped twins
    assert len(list((folder / "media").iterdir())) == 24
    assert not [p for p in folder.parent.iterdir() if ".partial-" in p.name]
