"""`manage.py demo_setup` (what `./run demo` runs): campaigns, users, and a registered model for the playground."""

from io import StringIO

import pytest
from django.core.management import call_command

from annotation.models import Campaign, ChecklistQuestion, PairJudgmentRevision
from annotation.services import campaign_lock
from training.judging import held_out_pair, held_out_pair_choices, pair_judge, registry_models
from training.models import RegisteredModel

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_setup_builds_campaigns_users_and_a_model_the_playground_can_use_and_a_rerun_changes_nothing(
    settings, tmp_path, django_user_model
):
    settings.BASE_DIR = tmp_path  # the rendered clips go to BASE_DIR/.demo

    call_command("demo_setup", scenes=4)
    revisions = PairJudgmentRevision.objects.count()
    second_out, second_err = StringIO(), StringIO()
    call_command("demo_setup", scenes=4, stdout=second_out, stderr=second_err)  # a second run adds nothing

    assert "36 simulated judgments: 0 imported, 0 revised, 36 unchanged" in second_out.getvalue()
    assert second_err.getvalue() == "" and PairJudgmentRevision.objects.count() == revisions == 36
    campaign_lock(campaign=Campaign.objects.get(name="demo-judged"))
    third_out, third_err = StringIO(), StringIO()
    call_command("demo_setup", scenes=4, stdout=third_out, stderr=third_err)  # locked: identical lines are fine
    assert "36 simulated judgments: 0 imported, 0 revised, 36 unchanged" in third_out.getvalue()
    assert third_err.getvalue() == "" and PairJudgmentRevision.objects.count() == 36

    assert Campaign.objects.get(name="demo").pairs.count() == 12
    assert Campaign.objects.get(name="demo-judged").pairs.count() == 12
    assert django_user_model.objects.filter(username__in=["admin", "curator", "mlengineer", "expert1"]).count() == 4
    registered = RegisteredModel.objects.get()
    assert registered.recipe == "checklist-linear" and registered.tags == ["demo"]
    assert registered.created_by.username == "mlengineer"

    model = registry_models(queryset=RegisteredModel.objects.all())[0]
    pair_id = held_out_pair_choices(model)[0][1]
    judgement = pair_judge(model, held_out_pair(model, pair_id))
    # VisionReward eq. 6: one verdict per checklist dimension (the sum over its own questions) and the overall one
    checklist = Campaign.objects.get(name="demo-judged").checklist
    dimensions = set(ChecklistQuestion.objects.filter(checklist=checklist).values_list("dimension", flat=True))
    assert set(judgement.original.verdicts) == dimensions | {"overall"} and judgement.rewards_a

