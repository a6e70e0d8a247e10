"""`manage.py import_judgments FILE.jsonl --campaign NAME`: judgments made elsewhere, idempotently."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from agreement.tests.factories import campaign_make, checklist_complete, jsonl, verdicts
from annotation.models import Assignment, ChecklistAnswer, PairJudgment, PairJudgmentRevision

pytestmark = pytest.mark.django_db


def line(pair_id: str, annotator: str, **overrides) -> dict:
    criteria, dimensions = verdicts(**overrides)
    return {"pair_id": pair_id, "annotator": annotator, "criteria": criteria, "dimensions": dimensions}


def run_import(tmp_path, campaign, records: list, name: str = "judgments.jsonl") -> tuple[str, str]:
    path = tmp_path / name
    path.write_text(records if isinstance(records, str) else jsonl(records))
    out, err = StringIO(), StringIO()
    call_command("import_judgments", str(path), campaign=campaign.name, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_creates_expert_accounts_members_assignments_and_judgments(tmp_path):
    campaign = campaign_make(name="import", pairs=2)
    out, _ = run_import(tmp_path, campaign, [line("p1", "zoe", VA1=1), line("p2", "zoe", VP=-1)])

    zoe = get_user_model().objects.get(username="zoe")
    assert "2 judgments created" in out
    assert not zoe.has_usable_password()
    assert zoe.groups.filter(name="expert").exists()
    assert campaign.memberships.filter(user=zoe, role="expert").exists()
    judgment = PairJudgment.objects.get(assignment__pair__external_id="p1", assignment__expert=zoe)
    assert judgment.criteria["VA1"] == 1
    assert judgment.assignment.status == Assignment.Status.SUBMITTED


def test_importing_the_same_file_twice_changes_nothing(tmp_path):
    campaign = campaign_make(name="import-twice", pairs=2)
    records = [line("p1", "zoe", VA1=1), line("p1", "yan", VA1=-1), line("p2", "zoe")]
    run_import(tmp_path, campaign, records)

    out, _ = run_import(tmp_path, campaign, records)

    assert "0 judgments created, 0 revised, 3 unchanged" in out
    assert PairJudgment.objects.count() == 3
    assert PairJudgmentRevision.objects.count() == 3
    assert Assignment.objects.count() == 3


def test_a_changed_line_becomes_a_new_revision(tmp_path):
    campaign = campaign_make(name="import-revise", pairs=1)
    run_import(tmp_path, campaign, [line("p1", "zoe", VA1=1)])

    out, _ = run_import(tmp_path, campaign, [line("p1", "zoe", VA1=-1)])

    judgment = PairJudgment.objects.get()
    assert "1 revised" in out
    assert (judgment.revision, judgment.criteria["VA1"]) == (2, -1)


def test_bad_lines_are_reported_by_number_and_the_good_ones_imported(tmp_path):
    campaign = campaign_make(name="import-bad", pairs=2)
    incomplete = line("p2", "yan")
    del incomplete["criteria"]["VF3"]
    text = "\n".join(
        [
            json.dumps(line("p1", "zoe")),
            "{not json",
            json.dumps(line("p9", "zoe")),
            json.dumps(incomplete),
            json.dumps({**line("p2", "zoe"), "time_spent_seconds": -4}),
            json.dumps(line("p2", "xia", VA1=1)),
        ]
    )

    with pytest.raises(CommandError, match="4 lines failed"):
        run_import(tmp_path, campaign, text + "\n")

    assert PairJudgment.objects.count() == 2
    # Line numbers come with each reason; the command wrote them to stderr before failing.
    from agreement.services import judgments_import

    errors = dict(judgments_import(campaign=campaign, lines=text.splitlines()).errors)
    assert sorted(errors) == [2, 3, 4, 5]
    assert "not valid JSON" in errors[2]
    assert "no pair 'p9'" in errors[3]
    assert "VF3" in errors[4]
    assert "time_spent_seconds" in errors[5]


def test_a_line_that_fails_leaves_nothing_behind(tmp_path):
    """The checklist is wrong only after the expert, the membership and the assignment would have been made."""
    campaign = campaign_make(name="import-atomic", pairs=1, checklist=True)
    record = {**line("p1", "newcomer"), "checklist": {"A": checklist_complete(campaign), "B": {}}}

    with pytest.raises(CommandError):
        run_import(tmp_path, campaign, [record])

    assert not get_user_model().objects.filter(username="newcomer").exists()
    assert not Assignment.objects.exists()
    assert not ChecklistAnswer.objects.exists()


def test_checklist_answers_and_time_on_task_are_imported(tmp_path):
    campaign = campaign_make(name="import-checklist", pairs=1, checklist=True)
    record = {
        **line("p1", "zoe"),
        "checklist": {"A": checklist_complete(campaign), "B": checklist_complete(campaign)},
        "time_spent_seconds": 123.5,
        "swapped": True,
    }

    run_import(tmp_path, campaign, [record])

    pair = campaign.pairs.get()
    assignment = Assignment.objects.get()
    assert assignment.time_spent_seconds == 123.5
    assert assignment.swapped is True
    assert ChecklistAnswer.objects.filter(video=pair.video_a).count() == 64
    assert ChecklistAnswer.objects.filter(video=pair.video_b).count() == 64


def test_unknown_campaign_or_missing_file_stop_before_anything(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        path = tmp_path / "x.jsonl"
        path.write_text("")
        call_command("import_judgments", str(path), campaign="nope")
    with pytest.raises(CommandError, match="not found"):
        call_command("import_judgments", str(tmp_path / "missing.jsonl"), campaign="nope")


def test_checklist_questions_may_be_named_by_their_text(tmp_path):
    from annotation.models import ChecklistQuestion

    campaign = campaign_make(name="import-by-text", pairs=1, checklist=True)
    text_of = dict(ChecklistQuestion.objects.filter(checklist=campaign.checklist).values_list("id", "text"))
    by_text = {text_of[question_id]: answer for question_id, answer in checklist_complete(campaign).items()}
    record = {**line("p1", "zoe"), "checklist": {"A": by_text, "B": checklist_complete(campaign)}}

    out, _ = run_import(tmp_path, campaign, [record])

    assert "1 judgments created" in out
    assert ChecklistAnswer.objects.filter(video=campaign.pairs.get().video_a).count() == 64


def test_an_unknown_checklist_question_fails_the_line(tmp_path):
    campaign = campaign_make(name="import-unknown-question", pairs=1, checklist=True)
    record = {**line("p1", "zoe"), "checklist": {"A": {"Is it pretty?": "yes"}, "B": {}}}

    with pytest.raises(CommandError):
        run_import(tmp_path, campaign, [record])

    assert not PairJudgment.objects.exists()


def test_reimporting_an_expert_who_judged_one_video_in_two_pairs_changes_nothing(tmp_path):
    """The demo case: each clip is in two pairs. Answers used to be one set per video and expert, so the second
    line replaced the first line's answers and every re-import made new revisions."""
    from agreement.tests.factories import two_level_question
    from annotation.models import VideoPair

    campaign = campaign_make(name="import-shared-video", pairs=2, checklist=True)
    first, second = campaign.pairs.order_by("external_id")
    VideoPair.objects.filter(pk=second.pk).update(video_a=first.video_a)
    other_answers = checklist_complete(campaign, **{f"q{two_level_question(campaign).id}": "yes"})
    records = [
        {**line("p1", "zoe"), "checklist": {"A": checklist_complete(campaign), "B": checklist_complete(campaign)}},
        {**line("p2", "zoe"), "checklist": {"A": other_answers, "B": checklist_complete(campaign)}},
    ]
    run_import(tmp_path, campaign, records)

    out, err = run_import(tmp_path, campaign, records)

    assert "0 judgments created, 0 revised, 2 unchanged" in out and err == ""
    assert PairJudgmentRevision.objects.count() == 2
    assert ChecklistAnswer.objects.count() == 4 * 64


def test_a_locked_campaign_takes_identical_lines_as_unchanged_and_refuses_changed_or_new_ones(tmp_path):
    from annotation.services import campaign_lock

    campaign = campaign_make(name="import-locked", pairs=2, checklist=True)
    complete = {"A": checklist_complete(campaign), "B": checklist_complete(campaign)}
    records = [{**line("p1", "zoe", VA1=1), "checklist": complete}, {**line("p2", "zoe"), "checklist": complete}]
    run_import(tmp_path, campaign, records)
    campaign_lock(campaign=campaign)

    out, err = run_import(tmp_path, campaign, records)
    assert "0 judgments created, 0 revised, 2 unchanged, 0 lines failed" in out and err == ""

    changed = {**line("p1", "zoe", VA1=-1), "checklist": complete}
    newcomer = {**line("p2", "newcomer"), "checklist": complete}
    with pytest.raises(CommandError, match="2 lines failed"):
        run_import(tmp_path, campaign, [changed, newcomer])

    from agreement.services import judgments_import

    errors = dict(judgments_import(campaign=campaign, lines=[json.dumps(changed), json.dumps(newcomer)]).errors)
    assert errors[1] == (
        "campaign import-locked is locked; this line would revise the judgment of pair p1 by zoe and was not "
        "imported (only lines identical to the stored judgments are accepted)."
    )
    assert "would add a judgment of pair p2 by newcomer" in errors[2]
    assert PairJudgmentRevision.objects.count() == 2 and PairJudgment.objects.get(
        assignment__pair__external_id="p1"
    ).criteria["VA1"] == 1
    assert not get_user_model().objects.filter(username="newcomer").exists()
