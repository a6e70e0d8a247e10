"""An export reads the campaign as of one instant: changes committed while it runs (an expert's judgment, a curator's
adjudication) are in the next export, never half in this one. PostgreSQL, with the build's progress committed
between batches as in production."""

from __future__ import annotations

import pytest

from agreement.services import adjudication_record
from annotation.models import VideoPair
from exports import services
from exports.tests.factories import experts_make, judge, pair_make
from exports.tests.helpers import all_rows, build
from webapp.db import frozen_reads

pytestmark = pytest.mark.django_db(transaction=True)


def _labels(folder) -> dict[str, dict]:
    return {row["pair_id"]: row["labels"] for rows in all_rows(folder).values() for row in rows}


def test_changes_committed_while_an_export_runs_wait_for_the_next_export(
    export_campaign, curator, tmp_path, monkeypatch, settings
):
    raters = experts_make(3, export_campaign)
    for index in range(8):
        pair = pair_make(export_campaign, prompt=f"scene {index}", external_id=f"p{index}")
        for rater in raters:
            judge(pair, rater, value=1)
    settings.EXPORT_PAIR_BATCH_SIZE = 2  # four batches, progress committed between them
    last = VideoPair.objects.get(external_id="p7")
    progress = services._progress
    changed = []

    def progress_then_a_curator_adjudicates(snapshot, fraction, message):
        progress(snapshot, fraction, message)
        if message.startswith("read") and not changed:  # after the first batch, before p7 is read
            changed.append(adjudication_record(
                pair=last, adjudicated_by=curator, criteria={}, dimensions={"VA": -1, "VF": -1, "VP": -1},
                reason="B is better on a second look",
            ))

    monkeypatch.setattr(services, "_progress", progress_then_a_curator_adjudicates)
    during = build(export_campaign, path=tmp_path / "during", split="0.5/0.25/0.25", seed=1)
    monkeypatch.setattr(services, "_progress", progress)
    after = build(export_campaign, path=tmp_path / "after", split="0.5/0.25/0.25", seed=1)

    assert changed and during.status == after.status == "succeeded"
    assert _labels(during.path)["p7"] == {"VA": "A", "VF": "A", "VP": "A"}  # as it was when the export began
    assert _labels(after.path)["p7"] == {"VA": "B", "VF": "B", "VP": "B"}


def test_frozen_reads_see_the_database_as_of_their_start(export_campaign):
    pair_make(export_campaign, external_id="before")
    with frozen_reads() as reading:
        pair_make(export_campaign, external_id="committed meanwhile")
        with reading():
            seen = set(VideoPair.objects.values_list("external_id", flat=True))
    assert reading.frozen and seen == {"before"}
    assert VideoPair.objects.count() == 2
