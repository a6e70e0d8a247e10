"""Redis down: asking for an export answers 503 with a clear message, and the snapshot is marked failed with the
reason instead of waiting "queued" for a build that was never sent. No folder is made."""

from __future__ import annotations

from pathlib import Path

from django.urls import reverse

from exports.models import ExportSnapshot
from webapp.queue import QUEUE_UNAVAILABLE


def _assert_failed_with_the_reason_and_no_folder() -> None:
    snapshot = ExportSnapshot.objects.get()
    assert (snapshot.status, snapshot.error) == (ExportSnapshot.Status.FAILED, QUEUE_UNAVAILABLE)
    assert snapshot.finished_at is not None
    assert not Path(snapshot.path).exists()


def test_the_api_answers_503_and_the_snapshot_is_failed_with_the_reason(
    client, ml_engineer, campaign, broker_unreachable
):
    client.force_login(ml_engineer)

    response = broker_unreachable.answer(
        lambda: client.post(
            reverse("api-exports"), {"campaign": campaign.name, "format": "rl-prompts"}, content_type="application/json"
        )
    )

    assert response.status_code == 503
    assert response.json() == {"detail": QUEUE_UNAVAILABLE}
    _assert_failed_with_the_reason_and_no_folder()


def test_the_form_answers_a_503_page_with_the_message(client, ml_engineer, campaign, broker_unreachable):
    client.force_login(ml_engineer)
    form = {"campaign": campaign.pk, "format": "rl-prompts", "split": "0.8/0.1/0.1", "seed": 0, "min_agreement": 0,
            "gold": "test", "awaiting_adjudication": "exclude"}  # fmt: skip

    response = broker_unreachable.answer(lambda: client.post(reverse("export-index"), form))

    assert response.status_code == 503
    assert "The job queue is unreachable; nothing was started." in response.content.decode()
    _assert_failed_with_the_reason_and_no_folder()
