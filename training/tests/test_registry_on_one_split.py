"""The registry shows every model's accuracy (with and without ties, per dimension and overall) and position bias
on one test split: each model's own by default, said so, or a chosen snapshot's, where "evaluate all on snapshot X"
queues one evaluation per selected model and keeps its result under (model, snapshot)."""

from __future__ import annotations

import itertools

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.services import campaign_member_add
from training.models import ModelEvaluation, TrainingJob
from training.selectors import metric_figures, registry_rows
from training.services import (
    model_evaluation_record,
    registered_model_create,
    registered_models_evaluate_on,
    training_job_create,
)
from training.tests.conftest import judged_campaign_make, snapshot_make

pytestmark = pytest.mark.django_db

_runs = itertools.count(1)


def dimension_metrics(va: float, vf: float, vp: float, bias: float = 0.0) -> dict:
    """Test metrics as rm_training's eval writes them, accuracy with ties = accuracy without ties - 0.1."""
    return {
        "num_pairs": 4,
        "dimensions": {
            code: {"accuracy_with_ties": value - 0.1, "accuracy_without_ties": value, "position_bias": bias}
            for code, value in (("VA", va), ("VF", vf), ("VP", vp))
        },
    }


def model_registered(*, snapshot, tmp_path, metrics: dict, tags=(), created_by=None):
    """A checklist-linear model registered from a finished job whose test metrics are `metrics` (no training run)."""
    job = training_job_create(snapshot=snapshot, recipe="checklist-linear", created_by=created_by)
    run = tmp_path / f"run-{next(_runs)}"
    run.mkdir()
    (run / "config.yaml").write_text("recipe: checklist-linear\n")
    TrainingJob.objects.filter(pk=job.pk).update(
        status="succeeded", run_dir=str(run), metrics=metrics, finished_at=timezone.now()
    )
    job.refresh_from_db()
    model = registered_model_create(job=job)
    if tags:
        model.tags = list(tags)
        model.save(update_fields=["tags"])
    return model


@pytest.fixture
def other_snapshot(pairwise_snapshot, tmp_path, ml_engineer):
    """A second aesrm-pairwise export, of another campaign where the ML engineer is also an ML engineer."""
    campaign = judged_campaign_make(name="held-out", pairs=8)
    campaign_member_add(campaign=campaign, user=ml_engineer, role="ml_engineer")
    return snapshot_make(campaign=campaign, export_format="aesrm-pairwise", folder=tmp_path / "held-out")


def test_overall_is_the_mean_of_the_three_dimensions_when_the_evaluation_has_none():
    figures = metric_figures(metrics=dimension_metrics(0.9, 0.6, 0.6, bias=0.3))

    assert figures["VA_without_ties"] == 0.9 and figures["VA_with_ties"] == pytest.approx(0.8)
    assert figures["overall_without_ties"] == pytest.approx(0.7)  # (0.9 + 0.6 + 0.6) / 3
    assert figures["overall_with_ties"] == pytest.approx(0.6)
    assert figures["overall_is_mean"] and figures["position_bias"] == pytest.approx(0.3)


def test_an_overall_entry_is_shown_as_it_is_and_an_unevaluated_model_has_no_figures():
    metrics = dimension_metrics(0.9, 0.6, 0.6)
    metrics["dimensions"]["overall"] = {"accuracy_with_ties": 0.5, "accuracy_without_ties": 0.55, "position_bias": 0.2}

    figures = metric_figures(metrics=metrics)

    assert figures["overall_with_ties"] == 0.5 and figures["position_bias"] == 0.2 and not figures["overall_is_mean"]
    assert all(value is None for key, value in metric_figures(metrics={}).items() if key != "overall_is_mean")


def test_by_default_each_model_is_shown_on_its_own_training_split(
    pairwise_snapshot, other_snapshot, ml_engineer, tmp_path
):
    first = model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.7, 0.7, 0.7))
    second = model_registered(snapshot=other_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.9, 0.9, 0.9))

    rows = {row.model: row for row in registry_rows(user=ml_engineer)}

    assert rows[first].split_snapshot_id == pairwise_snapshot.pk and rows[first].on_own_split
    assert rows[second].split_snapshot_id == other_snapshot.pk
    assert rows[second].figures["VA_without_ties"] == 0.9


def test_on_a_chosen_snapshot_only_evaluations_there_count_and_sorting_puts_missing_figures_last(
    pairwise_snapshot, other_snapshot, ml_engineer, tmp_path
):
    strong_on_own = model_registered(
        snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.99, 0.99, 0.99)
    )
    weak = model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.5, 0.5, 0.5))
    strong = model_registered(snapshot=other_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.8, 0.8, 0.8))
    evaluation = TrainingJob.objects.create(
        kind="eval",
        recipe="checklist-linear",
        snapshot=other_snapshot,
        evaluated_model=weak,
        run_dir=weak.run_dir,
        status="succeeded",
        metrics=dimension_metrics(0.6, 0.5, 0.4),
        finished_at=timezone.now(),
    )
    model_evaluation_record(job=evaluation)

    for descending in (True, False):
        rows = registry_rows(
            user=ml_engineer, evaluated_on=other_snapshot, sort="VA_without_ties", descending=descending
        )
        order = [row.model for row in rows]
        assert order == ([strong, weak] if descending else [weak, strong]) + [strong_on_own]
    by_model = {row.model: row for row in rows}
    assert by_model[weak].figures["VA_without_ties"] == 0.6 and not by_model[weak].on_own_split
    assert by_model[strong_on_own].evaluation is None
    assert all(value is None for _, value, _ in by_model[strong_on_own].figure_cells)


def test_filters_by_recipe_training_snapshot_tag_and_campaign(pairwise_snapshot, other_snapshot, ml_engineer, tmp_path):
    tagged = model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics={}, tags=["baseline"])
    other = model_registered(snapshot=other_snapshot, tmp_path=tmp_path, metrics={})

    def shown(**filters):
        return [row.model for row in registry_rows(user=ml_engineer, **filters)]

    assert shown(tag="baseline") == [tagged]
    assert shown(snapshot_id=other_snapshot.pk) == [other]
    assert shown(campaign_id=pairwise_snapshot.campaign_id) == [tagged]
    assert shown(recipe="checklist-linear", sort="name", descending=False) == sorted(
        [tagged, other], key=lambda model: model.name
    )
    assert shown(recipe="aesrm-base") == []


def test_evaluate_all_queues_one_job_per_model_and_skips_what_is_done_or_cannot_be(
    pairwise_snapshot, other_snapshot, ml_engineer, tmp_path, django_capture_on_commit_callbacks
):
    on_own = model_registered(snapshot=other_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.8, 0.8, 0.8))
    first = model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics={})
    second = model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics={})
    deleted = model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics={})
    deleted.files_deleted_at = timezone.now()
    deleted.save(update_fields=["files_deleted_at"])

    with django_capture_on_commit_callbacks():
        batch = registered_models_evaluate_on(
            models=[on_own, first, second, deleted], snapshot=other_snapshot, created_by=ml_engineer
        )
        again = registered_models_evaluate_on(models=[first, second], snapshot=other_snapshot)

    assert [job.evaluated_model for job in batch.queued] == [first, second]
    assert all(job.kind == "eval" and job.snapshot == other_snapshot for job in batch.queued)
    assert dict(batch.skipped) == {
        on_own: f"already evaluated on export #{other_snapshot.pk}",
        deleted: f"{deleted.name}'s files were deleted; it cannot be evaluated.",
    }
    assert again.queued == [] and {model for model, _ in again.skipped} == {first, second}
    assert TrainingJob.objects.filter(kind="eval").count() == 2


def test_the_registry_page_says_which_split_its_figures_are_on(
    client, pairwise_snapshot, other_snapshot, ml_engineer, tmp_path
):
    model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.7, 0.7, 0.7))
    client.force_login(ml_engineer)

    own = client.get(reverse("training-models")).content.decode()
    chosen = client.get(reverse("training-models"), {"on": other_snapshot.pk}).content.decode()

    assert "its own export's test split" in own and f"own test split (#{pairwise_snapshot.pk})" in own
    assert f"test split of export #{other_snapshot.pk}</strong>" in chosen
    assert f"not evaluated on #{other_snapshot.pk}" in chosen


def test_evaluate_all_without_a_selected_model_is_a_400_that_says_so(client, other_snapshot, ml_engineer):
    client.force_login(ml_engineer)

    response = client.post(reverse("training-models-evaluate-on"), {"snapshot": other_snapshot.pk})

    assert response.status_code == 400 and "Select the models to evaluate." in response.content.decode()
    assert not TrainingJob.objects.filter(kind="eval").exists()


def test_compare_on_a_snapshot_shows_each_models_evaluation_there(
    client, pairwise_snapshot, other_snapshot, ml_engineer, tmp_path
):
    evaluated = model_registered(
        snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.7, 0.7, 0.7)
    )
    missing = model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics={})
    ModelEvaluation.objects.create(
        model=evaluated,
        snapshot=other_snapshot,
        metrics=dimension_metrics(0.625, 0.5, 0.5),
        evaluated_at=timezone.now(),
    )
    client.force_login(ml_engineer)

    page = client.get(reverse("training-compare"), {"ids": [evaluated.pk, missing.pk], "on": other_snapshot.pk})

    text = page.content.decode()
    assert "0.525 / 0.625" in text  # VA with ties / without ties on the chosen split, not the own split's 0.7
    assert f"on the test split of export #{other_snapshot.pk}" in text
    assert f"{missing.name}</strong> was not evaluated" in text


def test_the_model_page_lists_its_evaluation_on_each_snapshot(
    client, pairwise_snapshot, other_snapshot, ml_engineer, tmp_path
):
    model = model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.7, 0.7, 0.7))
    ModelEvaluation.objects.create(
        model=model, snapshot=other_snapshot, metrics=dimension_metrics(0.625, 0.5, 0.5), evaluated_at=timezone.now()
    )
    client.force_login(ml_engineer)

    text = client.get(reverse("training-model", args=[model.pk])).content.decode()

    assert f"export #{pairwise_snapshot.pk}</a> aesrm-pairwise" in text and "(its own)" in text
    assert f"export #{other_snapshot.pk}</a>" in text and "0.525 / 0.625" in text


def test_the_migration_keeps_each_registered_models_own_metrics_and_its_past_evaluations(
    pairwise_snapshot, other_snapshot, tmp_path
):
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("training.migrations.0002_model_evaluation_per_snapshot").evaluations_backfill
    model = model_registered(snapshot=pairwise_snapshot, tmp_path=tmp_path, metrics=dimension_metrics(0.7, 0.7, 0.7))
    for metrics in (dimension_metrics(0.1, 0.1, 0.1), dimension_metrics(0.6, 0.6, 0.6)):  # the later one counts
        TrainingJob.objects.create(
            kind="eval",
            recipe=model.recipe,
            snapshot=other_snapshot,
            evaluated_model=model,
            run_dir=model.run_dir,
            status="succeeded",
            metrics=metrics,
            finished_at=timezone.now(),
        )
    ModelEvaluation.objects.all().delete()  # as before the migration

    backfill(apps, None)

    kept = {evaluation.snapshot_id: evaluation.metrics for evaluation in ModelEvaluation.objects.filter(model=model)}
    assert kept == {pairwise_snapshot.pk: model.metrics["test"], other_snapshot.pk: dimension_metrics(0.6, 0.6, 0.6)}
