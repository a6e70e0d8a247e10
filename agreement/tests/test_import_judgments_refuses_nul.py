"""`import_judgments` reports a line holding a NUL character (PostgreSQL cannot store it) by number, imports
the other lines, and does not stop with a database error."""

from __future__ import annotations

import pytest

from agreement.services import judgments_import
from agreement.tests.factories import campaign_make, jsonl, verdicts
from annotation.models import PairJudgment

pytestmark = pytest.mark.django_db


def test_a_line_with_a_nul_character_in_its_notes_is_reported_and_the_others_are_imported():
    campaign = campaign_make(name="import-nul", pairs=2)
    criteria, dimensions = verdicts()
    good = {"pair_id": "p1", "annotator": "zoe", "criteria": criteria, "dimensions": dimensions}
    bad = {**good, "pair_id": "p2", "notes": "looks\x00fine"}

    report = judgments_import(campaign=campaign, lines=jsonl([bad, good]).splitlines())

    assert report.created == 1
    assert [number for number, _ in report.errors] == [1]
    assert "NUL character" in report.errors[0][1]
    assert list(PairJudgment.objects.values_list("assignment__pair__external_id", flat=True)) == ["p1"]
