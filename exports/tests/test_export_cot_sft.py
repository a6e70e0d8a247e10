"""cot-sft: the accepted critiques of distillation (critiques_for_export) as the assistant turn, for pairs whose
critique still agrees with the exported labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillation.tests.factories import accepted_critique_create, uniform_labels
from exports.models import ExportSnapshot
from exports.tests.factories import experts_make, judge, pair_make
from exports.tests.helpers import all_rows, build, load

pytestmark = pytest.mark.django_db


@pytest.fixture
def critiqued_campaign(export_campaign, curator):
    """12 pairs A-better everywhere: 10 with an accepted critique that agrees, one whose critique says B, one
    without a critique."""
    (rater,) = experts_make(1, export_campaign)
    pairs = []
    for index in range(12):
        pair = pair_make(export_campaign, prompt=f"prompt {index}", external_id=f"p{index:02d}")
        judge(pair, rater, value=1)
        pairs.append(pair)
    for pair in pairs[:10]:
        accepted_critique_create(pair=pair, curator=curator)
    accepted_critique_create(pair=pairs[10], curator=curator, labels=uniform_labels(export_campaign.rubric, -1))
    return export_campaign


def test_cot_sft_rows_carry_the_accepted_critique_as_the_assistant_turn(critiqued_campaign, hf_offline, tmp_path):
    from distillation.selectors import critiques_for_export

    snapshot = build(critiqued_campaign, "cot-sft", path=tmp_path / "export")

    assert snapshot.status == ExportSnapshot.Status.SUCCEEDED, snapshot.error
    rows = [row for split_rows in all_rows(Path(snapshot.path)).values() for row in split_rows]
    assert sorted(row["pair_id"] for row in rows) == [f"p{index:02d}" for index in range(10)]
    critiques = {
        pair.external_id: text
        for pair_id, text in critiques_for_export(campaign=critiqued_campaign).items()
        for pair in critiqued_campaign.pairs.filter(pk=pair_id)
    }
    for row in rows:
        assert [message["role"] for message in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][2]["content"] == [{"type": "text", "text": critiques[row["pair_id"]]}]
        assert row["messages"][2]["content"][0]["text"].endswith("<answer>VA: 1, VF: 1, VP: 1</answer>")
        assert row["labels"] == {"VA": "A", "VF": "A", "VP": "A"} and row["swapped"] is False
    excluded = snapshot.manifest["selection"]["excluded"]
    assert excluded["critique_disagrees"] == 1 and excluded["no_accepted_critique"] == 1
    for kind in ("json", "parquet"):
        loaded = load(Path(snapshot.path), kind, hf_offline)
        assert loaded["train"].column_names == [
            "pair_id",
            "video_a",
            "video_b",
            "labels",
            "criteria",
            "swapped",
            "messages",
            "severe",
            "checklist_answers_a",
            "checklist_answers_b",
        ]
        assert sum(loaded[split].num_rows for split in ("train", "validation", "test")) == 10
