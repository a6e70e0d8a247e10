"""What VisionReward's checklist models read from an export: one overall-preference rule shared with rm_training,
and the checklist questions (with their dimensions) in the manifest."""

from __future__ import annotations

import itertools

import pytest

from exports import formats
from exports.tests.factories import checklist_answers, experts_make, judge, pair_make
from exports.tests.helpers import build
from rm_training.checklist_linear import pair_label, question_dimensions_of

SEVERE_CASES = [
    # (labels, severe) with the overall label worked out by hand
    ({"VA": "A", "VF": "A", "VP": "B"}, {"A": {"VP": True}, "B": {}}, "tie"),  # A lost VP to its own severe flaw
    # A's flaw decides VA against A (the dimension rule: a severe violation decides its dimension), so B wins VA, VP
    ({"VA": "A", "VF": "A", "VP": "B"}, {"A": {"VA": True}, "B": {}}, "B"),
    ({"VA": "A", "VF": "A", "VP": "B"}, {"A": {}, "B": {"VP": True}}, "A"),  # the loser's flag decides nothing
    ({"VA": "B", "VF": "B", "VP": "A"}, {"A": {}, "B": {"VP": True}}, "tie"),
    ({"VA": "A", "VF": "tie", "VP": "B"}, {"A": {}, "B": {}}, "tie"),
    ({"VA": "A", "VF": "tie", "VP": "tie"}, {"A": {"VF": True}, "B": {}}, "tie"),  # A's flaw gives VF to B: 1-1
]


@pytest.mark.parametrize(("labels", "severe", "expected"), SEVERE_CASES)
def test_the_export_and_checklist_linear_give_the_same_overall_label(labels, severe, expected):
    flags = {side: {code: bool(severe[side].get(code)) for code in labels} for side in ("A", "B")}
    assert formats.overall_winner(labels, flags) == expected
    assert pair_label({"labels": labels, "severe": flags}) == expected


def test_the_two_call_sites_agree_on_every_labelling_with_one_severe_flag():
    codes = ("VA", "VF", "VP")
    for values in itertools.product(("A", "B", "tie"), repeat=3):
        labels = dict(zip(codes, values, strict=True))
        for side, code in itertools.product(("A", "B"), codes):
            flags = {s: {c: s == side and c == code for c in codes} for s in ("A", "B")}
            assert formats.overall_winner(labels, flags) == pair_label({"labels": labels, "severe": flags})


@pytest.mark.django_db
@pytest.mark.parametrize("export_format", ["aesrm-pairwise", "checklist-qa"])
def test_the_manifest_lists_every_checklist_question_with_its_dimension(checklist_campaign, export_format, tmp_path):
    from annotation.models import ChecklistQuestion

    rater = experts_make(1, checklist_campaign)[0]
    for index in range(4):
        pair = pair_make(checklist_campaign, prompt=f"prompt {index}", external_id=f"p{index}")
        answers = {pair.video_a_id: checklist_answers(checklist_campaign, yes=True),
                   pair.video_b_id: checklist_answers(checklist_campaign, yes=False)}
        judge(pair, rater, value=1, checklist=answers)

    snapshot = build(checklist_campaign, export_format, path=tmp_path / "export")

    in_checklist = ChecklistQuestion.objects.filter(checklist_id=checklist_campaign.checklist_id)
    questions = list(in_checklist.order_by("order", "id"))
    listed = snapshot.manifest["checklist"]["questions"]
    assert len(listed) == len(questions) == 64
    assert listed[0] == {"id": questions[0].id, "dimension": questions[0].dimension,
                         "sub_dimension": questions[0].sub_dimension, "level": questions[0].level,
                         "text": questions[0].text}
    assert "[[prompt]]" in next(q["text"] for q in listed if q["dimension"] == "Alignment")
    assert question_dimensions_of(snapshot.manifest) == {str(q.id): q.dimension for q in questions}
