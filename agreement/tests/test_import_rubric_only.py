"""AesRM-style judgments made elsewhere carry rubric verdicts only. From the command line, a campaign is created
without a checklist (`import_pairs --create --no-checklist`) and `import_judgments` takes lines without checklist
answers there; a campaign with a checklist still demands both videos' answers. Real PostgreSQL and real clips."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agreement.tests.factories import verdicts
from annotation.models import Campaign, ChecklistAnswer, PairJudgment

pytestmark = pytest.mark.django_db


def _import_pairs(demo_set, name: str, *flags: str) -> Campaign:
    call_command("import_pairs", str(demo_set.manifest_path), "--campaign", name, "--create", *flags, stdout=StringIO())
    return Campaign.objects.get(name=name)


def _import_judgments(tmp_path, campaign: Campaign, records: list[dict]) -> str:
    path = tmp_path / "aesrm.jsonl"
    path.write_text("\n".join(json.dumps(record) for record in records))
    out = StringIO()
    call_command("import_judgments", str(path), campaign=campaign.name, stdout=out, stderr=StringIO())
    return out.getvalue()


def _rubric_only_lines(demo_set) -> list[dict]:
    lines = []
    for pair_id, expected in sorted(demo_set.expected.items()):
        criteria, dimensions = verdicts(**expected)
        lines.append({"pair_id": pair_id, "annotator": "aesrm-rater", "criteria": criteria, "dimensions": dimensions})
    return lines


def test_rubric_only_judgments_import_into_a_campaign_created_without_a_checklist(tmp_path, demo_set):
    campaign = _import_pairs(demo_set, "aesrm-import", "--no-checklist")
    lines = _rubric_only_lines(demo_set)

    out = _import_judgments(tmp_path, campaign, lines)

    assert campaign.checklist_id is None
    assert f"{len(lines)} judgments created" in out and "0 lines failed" in out
    stored = dict(PairJudgment.objects.values_list("assignment__pair__external_id", "dimensions"))
    assert stored == {line["pair_id"]: line["dimensions"] for line in lines}
    assert not ChecklistAnswer.objects.exists()


def test_checklist_answers_for_a_campaign_without_a_checklist_fail_their_line(tmp_path, demo_set):
    campaign = _import_pairs(demo_set, "aesrm-strict", "--no-checklist")
    line = {**_rubric_only_lines(demo_set)[0], "checklist": {"A": {"1": "yes"}}}
    path, err = tmp_path / "with-answers.jsonl", StringIO()
    path.write_text(json.dumps(line))

    with pytest.raises(CommandError):
        call_command("import_judgments", str(path), campaign=campaign.name, stdout=StringIO(), stderr=err)

    assert 'campaign aesrm-strict has no checklist: leave "checklist" out' in err.getvalue()
    assert not PairJudgment.objects.exists()


def test_a_campaign_with_the_default_checklist_still_demands_its_answers(tmp_path, demo_set):
    campaign = _import_pairs(demo_set, "with-checklist")
    err = StringIO()
    path = tmp_path / "short.jsonl"
    path.write_text(json.dumps(_rubric_only_lines(demo_set)[0]))

    with pytest.raises(CommandError):
        call_command("import_judgments", str(path), campaign=campaign.name, stdout=StringIO(), stderr=err)

    assert campaign.checklist_id is not None
    assert "questions unanswered" in err.getvalue()
    assert not PairJudgment.objects.exists()
