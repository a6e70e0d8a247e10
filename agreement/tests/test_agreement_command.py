"""`manage.py agreement --campaign NAME [--json]`."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agreement.tests.factories import CRITERIA, DIMENSIONS, campaign_make, checklist_complete, expert_make, judge
from annotation.models import Assignment, ChecklistAnswer, ChecklistQuestion
from annotation.services import assignment_create, pair_judgment_submit

pytestmark = pytest.mark.django_db
ENTRY_KEYS = {"alpha", "ci_low", "ci_high", "n_items", "n_raters", "fleiss_kappa", "percent_agreement"}


def agreement_json(campaign, **options) -> dict:
    out = StringIO()
    call_command("agreement", campaign=campaign.name, json=True, resamples=30, stdout=out, **options)
    return json.loads(out.getvalue())


@pytest.fixture
def judged_campaign():
    campaign = campaign_make(name="command", pairs=3, overlap=2, checklist=True)
    ann, ben = expert_make("ann", campaign), expert_make("ben", campaign)
    for index, pair in enumerate(campaign.pairs.order_by("external_id")):
        for expert, verdict in ((ann, 1), (ben, (-1, 0, 1)[index])):
            assignment = assignment_create(pair=pair, expert=expert, swapped=False)
            pair_judgment_submit(
                assignment=assignment,
                criteria={code: verdict if code == "VA1" else index % 2 for code in CRITERIA},
                dimensions={code: verdict for code in DIMENSIONS},
                checklist={
                    pair.video_a_id: checklist_complete(campaign),
                    pair.video_b_id: checklist_complete(campaign),
                },
            )
    return campaign


def test_json_has_one_entry_per_criterion_dimension_and_checklist_question_with_exactly_the_issue_keys(
    judged_campaign,
):
    report = agreement_json(judged_campaign)
    question_ids = ChecklistQuestion.objects.filter(checklist=judged_campaign.checklist).values_list("id", flat=True)

    assert set(report) == set(CRITERIA) | set(DIMENSIONS) | {str(question_id) for question_id in question_ids}
    assert all(set(entry) == ENTRY_KEYS for entry in report.values())
    assert report["VA1"]["n_items"] == 3 and report["VA1"]["n_raters"] == 2
    assert report["VA1"]["percent_agreement"] == pytest.approx(1 / 3)


def test_undefined_numbers_are_null_not_missing_or_nan(judged_campaign):
    report = agreement_json(judged_campaign)

    # Every checklist answer is "no": no variation, so alpha is undefined; raw agreement is still 100%.
    question = report[next(key for key in report if key.isdigit())]
    assert question["alpha"] is None and question["ci_low"] is None
    assert question["percent_agreement"] == 1.0


def test_the_level_of_measurement_can_be_overridden(judged_campaign):
    ordinal = agreement_json(judged_campaign)["VA1"]["alpha"]
    nominal = agreement_json(judged_campaign, verdict_level="nominal")["VA1"]["alpha"]

    assert ordinal != pytest.approx(nominal)


def test_table_output_names_codes_experts_and_explains_missing_numbers(judged_campaign):
    out = StringIO()
    call_command("agreement", campaign=judged_campaign.name, resamples=20, stdout=out)
    text = out.getvalue()

    assert "Criteria" in text and "VA1" in text and "Shot composition" in text
    assert "Experts" in text and "ann" in text and "ben" in text
    assert "not enough data" in text


def test_a_campaign_with_one_expert_says_so():
    campaign = campaign_make(name="lonely", pairs=1)
    judge(campaign.pairs.get(), expert_make("solo", campaign), VA1=1)
    out = StringIO()

    call_command("agreement", campaign=campaign.name, stdout=out)

    assert "only one expert (solo)" in out.getvalue()
    assert Assignment.objects.count() == 1


def test_unknown_campaign_is_an_error():
    with pytest.raises(CommandError, match="does not exist"):
        call_command("agreement", campaign="nope")


def test_the_checklist_block_holds_every_counted_answer_row_of_the_campaign(judged_campaign):
    """The report reads the judgments' packed answers; they must say what the ChecklistAnswer rows say (no expert
    judged a video twice here, so every row counts)."""
    from agreement.report import CHECKLIST_DOMAIN
    from agreement.selectors import campaign_ratings

    block = campaign_ratings(campaign=judged_campaign).checklist
    from_rows = {
        (annotator, video, str(question)): CHECKLIST_DOMAIN.index(answer)
        for annotator, video, question, answer in ChecklistAnswer.objects.filter(
            assignment__campaign=judged_campaign
        ).values_list("annotator_id", "video_id", "question_id", "answer")
    }
    rater, item, variable = np.nonzero(~np.isnan(block.ratings))
    from_block = {
        (block.rater_ids[r], block.item_ids[i], block.variables[v]): int(block.ratings[r, i, v])
        for r, i, v in zip(rater.tolist(), item.tolist(), variable.tolist(), strict=True)
    }

    assert len(from_rows) == 3 * 2 * 2 * 64
    assert from_block == from_rows


def test_a_campaign_with_a_checklist_and_no_judgments_reports_nulls_not_errors():
    campaign = campaign_make(name="untouched", pairs=2, checklist=True)

    report = agreement_json(campaign)

    assert len(report) == 15 + 3 + 64
    assert all(entry["alpha"] is None and entry["n_items"] == 0 for entry in report.values())
    assert all(entry["percent_agreement"] is None and entry["fleiss_kappa"] is None for entry in report.values())
