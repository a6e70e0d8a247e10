"""`manage.py demo_setup` (what `./run demo` runs): campaigns, users, audited critiques from the scripted teacher,
and a registered model for the playground. The demo-sized VLM (minutes of training) is left out here with
--without-vlm; training/tests/test_demo_playground_browser.py trains it once and judges uploads with it."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from annotation.models import Campaign, ChecklistQuestion, PairJudgmentRevision
from annotation.services import campaign_lock
from distillation.filters import ALIGNMENT, LEAKAGE
from distillation.models import Critique, DistillationJob
from distillation.scripted_teacher import SCRIPTED_TEACHER_NAME
from training.judging import (
    PlaygroundError,
    held_out_pair,
    held_out_pair_choices,
    pair_judge,
    registry_models,
    uploaded_pair,
)
from training.models import RegisteredModel, TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_setup_builds_campaigns_users_audited_critiques_and_a_model_with_curves_and_a_rerun_changes_nothing(
    settings, tmp_path, django_user_model
):
    settings.BASE_DIR = tmp_path  # the rendered clips go to BASE_DIR/.demo

    call_command("demo_setup", scenes=4, without_vlm=True)

    job = DistillationJob.objects.get()
    assert job.status == DistillationJob.Status.DONE and job.campaign.name == "demo-judged"
    assert job.endpoint.name == job.endpoint.model == SCRIPTED_TEACHER_NAME == "scripted-teacher (demo, not a model)"
    critiques = Critique.objects.filter(item__job=job)
    assert critiques.count() == 12  # one per judged pair
    # the planted faults (pair id % 8: 3 leaks, 6 concludes another verdict) are caught by the filters
    rejected_by_filters = critiques.filter(passed=False)
    planted = {pk % 8 for pk in rejected_by_filters.values_list("item__pair_id", flat=True)}
    assert rejected_by_filters.exists() and planted <= {3, 6}
    reasons = {rejection["filter"] for critique in rejected_by_filters for rejection in critique.rejections}
    assert reasons == {LEAKAGE, ALIGNMENT}
    # the curator's audit: both review states, only on critiques that passed the filters
    assert critiques.filter(review=Critique.Review.ACCEPTED, passed=True).count() == 4
    assert critiques.filter(review=Critique.Review.REJECTED, passed=True).count() == 1
    assert critiques.filter(review=Critique.Review.PENDING).exists()
    assert set(critiques.exclude(review=Critique.Review.PENDING).values_list("reviewed_by__username", flat=True)) == {
        "curator"
    }

    training = TrainingJob.objects.get()
    assert training.status == TrainingJob.Status.SUCCEEDED
    steps = [json.loads(line) for line in (Path(training.run_dir) / "metrics.jsonl").read_text().splitlines()]
    assert steps and all(isinstance(step["loss"], float) for step in steps)  # what the job page's curves plot

    # the checklist-linear model judges test-split pairs only, and says so
    model = registry_models(queryset=RegisteredModel.objects.all())[0]
    assert not model.judges_uploads and model.choice_label.endswith("test-split pairs only")
    clip = sorted((tmp_path / ".demo").rglob("*.mp4"))[0]
    with pytest.raises(PlaygroundError, match="checklist-linear model scores the experts' checklist answers"):
        uploaded_pair(model, video_a=str(clip), video_b=str(clip), prompt="")

    # a rerun, and a rerun after the judged campaign was locked
    revisions = PairJudgmentRevision.objects.count()
    critiques = Critique.objects.count()
    second_out, second_err = StringIO(), StringIO()
    # a second run adds nothing
    call_command("demo_setup", scenes=4, without_vlm=True, stdout=second_out, stderr=second_err)

    assert "36 simulated judgments: 0 imported, 0 revised, 36 unchanged" in second_out.getvalue()
    assert second_err.getvalue() == "" and PairJudgmentRevision.objects.count() == revisions == 36
    campaign_lock(campaign=Campaign.objects.get(name="demo-judged"))
    third_out, third_err = StringIO(), StringIO()
    call_command("demo_setup", scenes=4, without_vlm=True, stdout=third_out, stderr=third_err)  # locked: still fine
    assert "36 simulated judgments: 0 imported, 0 revised, 36 unchanged" in third_out.getvalue()
    assert third_err.getvalue() == "" and PairJudgmentRevision.objects.count() == 36
    assert Critique.objects.count() == critiques and DistillationJob.objects.count() == 1

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
