"""Reliability-weighted consensus in exports: each expert's verdict counts for their Dawid-Skene weight for the code
instead of 1, so two adversarial experts no longer outvote a reliable one. Chosen per export (form, API, command),
recorded in the manifest with every expert's weight per code."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from agreement.services import adjudication_record
from exports.models import ExportSnapshot
from exports.selectors import ReliabilityWeights, batch_consensus
from exports.services import ExportError, ExportOptions
from exports.tests.factories import experts_make, judge, pair_make
from exports.tests.helpers import all_rows, build

pytestmark = pytest.mark.django_db

CRITERIA = ["VA1", "VA2", "VA3", "VA4", "VA5", "VA6", "VA7", "VF1", "VF2", "VF3", "VF4", "VF5", "VP1", "VP2", "VP3"]
DIMENSIONS = ["VA", "VF", "VP"]


def _weights(by_expert: dict[int, float]) -> ReliabilityWeights:
    """The same weight for every code."""
    codes = CRITERIA + DIMENSIONS
    return ReliabilityWeights(
        weights={code: dict(by_expert) for code in codes},
        accuracies={code: dict(by_expert) for code in codes},
        usernames={expert_id: f"expert-{expert_id}" for expert_id in by_expert},
    )


def _consensus(pair, weights):
    return batch_consensus(
        pair_ids=[pair.pk], criterion_codes=CRITERIA, dimension_codes=DIMENSIONS, threshold=0.6, weights=weights
    )[pair.pk]


def test_one_reliable_expert_outweighs_two_weak_ones_worked_by_hand(export_campaign):
    """Weights 0.9 for "A better" against 0.3 + 0.3 = 0.6 for "B better": A wins (majority: B, 2 to 1). On VP the
    weak two say "comparable" and "B better", 0.3 each against 0.9: A again."""
    reliable, weak, weaker = experts_make(3, export_campaign)
    pair = pair_make(export_campaign)
    judge(pair, reliable, value=1)
    judge(pair, weak, value=-1)
    judge(pair, weaker, value=-1, VP=0)

    majority = _consensus(pair, None)
    weighted = _consensus(pair, _weights({reliable.pk: 0.9, weak.pk: 0.3, weaker.pk: 0.3}))

    assert majority["labels"]["VA"] == -1 and majority["labels"]["VP"] == 0  # VP: a three-way tie
    assert weighted["labels"]["VA"] == 1 and weighted["labels"]["VP"] == 1 and weighted["labels"]["VA1"] == 1
    assert set(weighted["reweighted"]) == set(CRITERIA + DIMENSIONS)
    # What the curators' queue and the row's agreement see stays the experts' unweighted counts.
    assert weighted["votes"] == majority["votes"] and weighted["needs_adjudication"] == majority["needs_adjudication"]


def test_equal_weight_on_both_sides_is_a_tie_and_weightless_experts_establish_nothing(export_campaign):
    """0.5 for A against 0.25 + 0.25 for B: a tie, "comparable" by the tie rule. All weights 0: "comparable" too."""
    first, second, third = experts_make(3, export_campaign)
    pair = pair_make(export_campaign)
    judge(pair, first, value=1)
    judge(pair, second, value=-1)
    judge(pair, third, value=-1)

    tied = _consensus(pair, _weights({first.pk: 0.5, second.pk: 0.25, third.pk: 0.25}))
    weightless = _consensus(pair, _weights({first.pk: 0.0, second.pk: 0.0, third.pk: 0.0}))

    assert tied["labels"]["VA"] == 0 and weightless["labels"]["VA"] == 0


def test_an_adjudicated_code_keeps_the_curators_verdict_whatever_the_weights(export_campaign, curator):
    reliable, weak, weaker = experts_make(3, export_campaign)
    pair = pair_make(export_campaign)
    for expert, value in ((reliable, 1), (weak, -1), (weaker, -1)):
        judge(pair, expert, value=value)
    adjudication_record(pair=pair, adjudicated_by=curator, criteria={}, dimensions={"VA": -1}, reason="B, on review")

    weighted = _consensus(pair, _weights({reliable.pk: 0.9, weak.pk: 0.3, weaker.pk: 0.3}))

    assert weighted["labels"]["VA"] == -1 and weighted["labels"]["VF"] == 1
    assert "VA" not in weighted["reweighted"]


@pytest.fixture
def adversarial_campaign(export_campaign):
    """Three careful experts and two adversarial ones, who always answer the opposite. On 20 pairs all five judge
    (truth alternating A/B): the careful majority wins and Dawid-Skene learns who is who. On 4 "outvoted" pairs
    only one careful expert and the two adversarial ones judge: the majority is the adversaries' wrong verdict."""
    careful = experts_make(3, export_campaign)
    adversarial = experts_make(2, export_campaign)
    for index in range(20):
        truth = 1 if index % 2 == 0 else -1
        pair = pair_make(export_campaign, prompt=f"calibration {index}", external_id=f"c{index:02d}")
        for expert in careful:
            judge(pair, expert, value=truth)
        for expert in adversarial:
            judge(pair, expert, value=-truth)
    for index in range(4):
        pair = pair_make(export_campaign, prompt=f"outvoted {index}", external_id=f"o{index}")
        judge(pair, careful[0], value=1)
        for expert in adversarial:
            judge(pair, expert, value=-1)
    return export_campaign, careful, adversarial


def _labels_by_pair(snapshot: ExportSnapshot) -> dict[str, dict]:
    rows = [row for split in all_rows(snapshot.path).values() for row in split]
    return {row["pair_id"]: row["labels"] for row in rows}


def test_the_weighted_export_takes_the_careful_experts_label_where_the_adversaries_outvote_them(
    adversarial_campaign, tmp_path
):
    campaign, careful, adversarial = adversarial_campaign
    majority = build(campaign, path=tmp_path / "majority", split=[0.5, 0.25, 0.25])
    weighted = build(campaign, path=tmp_path / "weighted", split=[0.5, 0.25, 0.25], consensus="reliability-weighted")
    assert majority.status == weighted.status == ExportSnapshot.Status.SUCCEEDED, weighted.error

    by_majority, by_weight = _labels_by_pair(majority), _labels_by_pair(weighted)
    assert {by_majority[f"o{index}"]["VA"] for index in range(4)} == {"B"}
    assert {by_weight[f"o{index}"]["VA"] for index in range(4)} == {"A"}
    assert all(by_weight[f"c{index:02d}"] == by_majority[f"c{index:02d}"] for index in range(20))

    consensus = weighted.manifest["consensus"]
    assert consensus["method"] == "reliability-weighted"
    assert weighted.manifest["filters"]["consensus"] == "reliability-weighted"
    assert consensus["changed_from_majority"] == {"pairs": 4, "labels": 4 * 18}
    for expert in careful:
        assert consensus["weights"][expert.username]["VA"] > 0.9
    for expert in adversarial:
        assert consensus["weights"][expert.username]["VA"] == 0.0  # below chance counts for nothing
        assert consensus["accuracy"][expert.username]["VA"] < 0.1
    assert majority.manifest["consensus"] == {"method": "majority"}
    assert "consensus" not in majority.manifest["filters"]


def test_the_command_and_the_api_take_the_option_and_a_wrong_value_is_refused(
    adversarial_campaign, tmp_path, client, ml_engineer
):
    campaign, _, _ = adversarial_campaign
    call_command(
        "export",
        "--campaign", campaign.name,
        "--format", "aesrm-pairwise",
        "--split", "0.5/0.25/0.25",
        "--consensus", "reliability-weighted",
        "--out", str(tmp_path / "cli"),
        stdout=StringIO(),
    )  # fmt: skip
    manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert manifest["consensus"]["method"] == "reliability-weighted"

    client.force_login(ml_engineer)
    response = client.post(
        reverse("api-exports"),
        {"campaign": campaign.name, "format": "aesrm-pairwise", "options": {"consensus": "loudest"}},
        content_type="application/json",
    )
    assert response.status_code == 400 and "consensus must be one of majority, reliability-weighted" in response.text
    with pytest.raises(ExportError, match="consensus must be one of"):
        ExportOptions.from_dict({"consensus": "loudest"})


def test_the_export_form_and_the_api_record_the_weighted_consensus_and_the_detail_page_says_so(
    adversarial_campaign, client, ml_engineer, django_capture_on_commit_callbacks
):
    campaign, _, _ = adversarial_campaign
    client.force_login(ml_engineer)
    form = {
        "campaign": campaign.pk,
        "format": "aesrm-pairwise",
        "split": "0.5/0.25/0.25",
        "seed": 0,
        "min_agreement": 0.0,
        "gold": "test",
        "awaiting_adjudication": "exclude",
        "consensus": "reliability-weighted",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("export-index"), form)
        created = client.post(
            reverse("api-exports"),
            {"campaign": campaign.name, "format": "aesrm-pairwise", "options": {"consensus": "reliability-weighted"}},
            content_type="application/json",
        )

    assert response.status_code == 302 and created.status_code == 202, created.content
    snapshots = list(ExportSnapshot.objects.order_by("pk"))
    assert [snapshot.options.get("consensus") for snapshot in snapshots] == ["reliability-weighted"] * 2
    assert all(snapshot.manifest["consensus"]["changed_from_majority"]["pairs"] == 4 for snapshot in snapshots)
    detail = client.get(response["Location"]).content.decode()
    assert "weighted by their Dawid-Skene reliability" in detail
