from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from exports.models import ExportSnapshot
from training import selectors, services
from training.forms import EvaluateForm, RegistryQueryForm, TrainForm
from training.models import TrainingJob
from training.plots import loss_curves_svg, training_curves_svg


@login_required
def training_index(request):
    jobs = selectors.jobs_for(user=request.user)[:200]
    snapshots = selectors.trainable_snapshots_for(user=request.user).filter(status=ExportSnapshot.Status.SUCCEEDED)
    snapshots = snapshots[:50]
    return render(request, "training/index.html", {"jobs": jobs, "snapshots": snapshots})


@login_required
def snapshot_train(request, snapshot_id: int):
    snapshot = selectors.access_trainable_snapshot(user=request.user, snapshot_id=snapshot_id)
    recipe = request.GET.get("recipe") or selectors.recipe_for_snapshot(snapshot=snapshot)
    form = TrainForm(request.POST or None, initial={"recipe": recipe}, refresh_url=request.path)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.training_job_request(
                snapshot=snapshot,
                recipe=form.cleaned_data["recipe"],
                model_path=form.cleaned_data["model_path"],
                overrides=form.overrides(),
                num_processes=form.cleaned_data["num_processes"],
                created_by=request.user,
            )
        except services.TrainingError as error:
            form.add_error(None, str(error))
        else:
            return redirect("training-job", job_id=job.pk)
    context = {"snapshot": snapshot, "form": form, "queue": selectors.training_queue()}
    # a refused form answers 400, so bad input is never mistaken for an accepted job
    return render(request, "training/train.html", context, status=400 if form.errors else 200)


@login_required
def job_detail(request, job_id: int):
    job = selectors.access_job(user=request.user, job_id=job_id)
    queue = selectors.training_queue()
    no_worker = job.status == TrainingJob.Status.QUEUED and not selectors.queue_has_worker(queue=queue)
    context = {"job": job, "queue": queue, "no_worker": no_worker}
    if job.is_finished:
        context["plots"] = [
            plot
            for plot in selectors.run_plots(run_dir=job.run_dir)
            if plot.startswith(f"evaluations/snapshot-{job.snapshot_id}-job-{job.pk}/")
        ]
    template = "training/_job_progress.html" if request.htmx else "training/job.html"
    return render(request, template, context)


@login_required
def job_curves(request, job_id: int):
    """The job's training curves (loss, reward, accuracy, learning rate from metrics.jsonl) as an SVG fragment; while
    the job runs, the fragment asks for itself again every few seconds."""
    job = selectors.access_job(user=request.user, job_id=job_id)
    svg = training_curves_svg(records=selectors.job_metrics_records(job=job))
    return render(request, "training/_job_curves.html", {"job": job, "svg": mark_safe(svg)})  # noqa: S308


@login_required
@require_POST
def job_cancel(request, job_id: int):
    job = services.training_job_cancel(job=selectors.access_job(user=request.user, job_id=job_id))
    return redirect("training-job", job_id=job.pk)


@login_required
def job_file(request, job_id: int, name: str):
    """A PNG plot from the job's run folder."""
    job = selectors.access_job(user=request.user, job_id=job_id)
    root = Path(job.run_dir).resolve()
    path = (root / name).resolve()
    if root not in path.parents or path.suffix != ".png" or not path.is_file():
        raise Http404("No such plot.")
    return FileResponse(path.open("rb"), content_type="image/png")


@login_required
def model_index(request):
    form = RegistryQueryForm(request.GET or None, choices=selectors.registry_filter_choices(user=request.user))
    query = form.query()
    context = {
        "form": form,
        "rows": selectors.registry_rows(user=request.user, **query),
        "evaluated_on": query["evaluated_on"],
        "sort": query["sort"],
        "descending": query["descending"],
        "dimensions": selectors.REGISTRY_DIMENSIONS,
        "columns": _registry_columns(request, sort=query["sort"], descending=query["descending"]),
    }
    return render(request, "training/models.html", context)


def _registry_columns(request, *, sort: str, descending: bool) -> dict:
    """The registry's sortable headers, each linking to the same filters sorted by it (a second click reverses)."""

    def column(key: str, label: str, title: str = "") -> dict:
        query = request.GET.copy()
        query["sort"] = key
        if key == sort:
            query["order"] = "asc" if descending else "desc"
        else:  # names read A to Z first, figures and dates best or newest first
            query["order"] = "asc" if key in ("name", "recipe") else "desc"
        return {"key": key, "label": label, "title": title, "url": "?" + query.urlencode(), "sorted": key == sort}

    accuracy = []
    for code in selectors.REGISTRY_DIMENSIONS:
        accuracy.append(column(f"{code}_with_ties", "ties", f"{code}: accuracy with ties"))
        accuracy.append(column(f"{code}_without_ties", "no ties", f"{code}: accuracy without ties"))
    return {
        "lead": [
            column("name", "Model"),
            column("recipe", "Recipe"),
            column("snapshot", "Trained on"),
            column("created", "Created"),
        ],
        "accuracy": accuracy,
        "bias": column("position_bias", "Position bias"),
    }


@login_required
@require_POST
def models_evaluate_on(request):
    """Evaluate the selected models on one snapshot's test split: one evaluation job per model."""
    finished = selectors.trainable_snapshots_for(user=request.user).filter(status=ExportSnapshot.Status.SUCCEEDED)
    form = EvaluateForm(request.POST, snapshots=finished)
    ids = [int(value) for value in request.POST.getlist("ids") if value.isdigit()]
    models = list(selectors.models_for(user=request.user).filter(pk__in=ids).order_by("id"))
    if not models:
        form.add_error(None, "Select the models to evaluate.")
    if not form.is_valid():
        return render(request, "training/_evaluate_on_result.html", {"form": form}, status=400)
    batch = services.registered_models_evaluate_on(
        models=models, snapshot=form.cleaned_data["snapshot"], created_by=request.user
    )
    return render(request, "training/_evaluate_on_result.html", {"batch": batch})


def _evaluation_snapshots(*, user, model):
    """The snapshots `model` can be evaluated on: finished, trainable by the user, of a format its recipe reads."""
    finished = selectors.trainable_snapshots_for(user=user).filter(status=ExportSnapshot.Status.SUCCEEDED)
    return finished.filter(format__in=services.RECIPE_FORMATS[model.recipe])


def _model_page(request, model, *, evaluate_form: EvaluateForm | None = None):
    context = {
        "model": model,
        "snapshots": _evaluation_snapshots(user=request.user, model=model),
        "evaluations": model.evaluations.order_by("-created_at"),
        "snapshot_evaluations": model.snapshot_evaluations.select_related("snapshot__campaign"),
        "evaluate_form": evaluate_form,
    }
    return render(request, "training/model.html", context, status=400 if evaluate_form else 200)


@login_required
def model_detail(request, model_id: int):
    return _model_page(request, selectors.access_model(user=request.user, model_id=model_id))


@login_required
@require_POST
def model_evaluate(request, model_id: int):
    model = selectors.access_model(user=request.user, model_id=model_id)
    form = EvaluateForm(request.POST, snapshots=_evaluation_snapshots(user=request.user, model=model))
    if not form.is_valid():
        return _model_page(request, model, evaluate_form=form)
    snapshot = form.cleaned_data["snapshot"]
    try:
        job = services.registered_model_evaluate(model=model, snapshot=snapshot, created_by=request.user)
    except services.TrainingError as error:
        messages.error(request, str(error))
        return redirect("training-model", model_id=model.pk)
    return redirect("training-job", job_id=job.pk)


@login_required
@require_POST
def model_tag(request, model_id: int):
    model = selectors.access_model(user=request.user, model_id=model_id)
    services.registered_model_tag(
        model=model, tags=request.POST.get("tags", "").split(","), promoted=request.POST.get("promoted") == "on"
    )
    return redirect("training-model", model_id=model.pk)


@login_required
@require_POST
def model_delete(request, model_id: int):
    model = selectors.access_model(user=request.user, model_id=model_id)
    try:
        services.registered_model_delete(model=model)
    except services.TrainingError as error:
        messages.error(request, str(error))
    return redirect("training-model", model_id=model.pk)


@login_required
def model_compare(request):
    ids = [int(value) for value in request.GET.getlist("ids") if value.isdigit()]
    models = list(selectors.models_for(user=request.user).filter(pk__in=ids))
    evaluated_on = None
    if request.GET.get("on", "").isdigit():
        evaluated_on = selectors.access_trainable_snapshot(user=request.user, snapshot_id=int(request.GET["on"]))
        evaluations = selectors.model_evaluations_on(models=models, snapshot=evaluated_on)
        test_metrics = [evaluations[model.pk].metrics if model.pk in evaluations else {} for model in models]
    else:
        test_metrics = [model.metrics.get("test", {}) for model in models]
    dimensions = sorted({code for metrics in test_metrics for code in metrics.get("dimensions", {})})
    rows = []
    for code in dimensions:
        cells = [metrics.get("dimensions", {}).get(code, {}) for metrics in test_metrics]
        rows.append({"code": code, "cells": cells})
    curves = {}
    for model in models:
        records = selectors.job_metrics_records(job=model.job)
        curves[model.name] = [(record["step"], record["loss"]) for record in records if "loss" in record]
    context = {
        "models": models,
        "rows": rows,
        "evaluated_on": evaluated_on,
        "not_evaluated": [model for model, metrics in zip(models, test_metrics, strict=True) if not metrics],
        "svg": mark_safe(loss_curves_svg(curves=curves)),  # noqa: S308
    }
    return render(request, "training/compare.html", context)
