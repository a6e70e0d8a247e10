"""Writes for training: queue jobs, run them on the gpu worker, cancel them, catch lost workers, keep the registry."""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exports.models import ExportSnapshot
from rm_training.config import (
    RECIPE_FORMATS,
    RECIPES,
    VLM_RECIPES,
    ConfigError,
    check_hyperparameter_key,
    load_config,
)
from rm_training.run_dir import RunDir
from training import runner
from training.models import ModelEvaluation, RegisteredModel, TrainingJob
from training.selectors import job_log_path, model_dirs, training_root
from webapp.queue import enqueue_on_commit

MAX_PROCESSES = 16


class TrainingError(ValueError):
    """Bad input for a job, with a message for the user."""


# --- Checks -------------------------------------------------------------------------------------------


def check_snapshot_for_recipe(*, snapshot: ExportSnapshot, recipe: str) -> None:
    if recipe not in RECIPES:
        raise TrainingError(f"Unknown recipe {recipe!r}; expected one of {', '.join(RECIPES)}.")
    if snapshot.status != ExportSnapshot.Status.SUCCEEDED:
        raise TrainingError(f"Export #{snapshot.pk} is {snapshot.status}; only a finished export can be used.")
    formats = RECIPE_FORMATS[recipe]
    if snapshot.format not in formats:
        raise TrainingError(
            f"Recipe {recipe} needs an export in format {' or '.join(formats)}; export #{snapshot.pk} is "
            f"{snapshot.format}."
        )
    if recipe == "rapo" and not (snapshot.manifest or {}).get("video_scores"):
        raise TrainingError(
            f"Recipe rapo trains on scored single videos; export #{snapshot.pk} holds pair rows only. Export "
            "rl-prompts with single-video scores (video_scores judgments or checklist-model)."
        )


def check_model_path(*, recipe: str, model_path: str) -> str:
    """The resolved base-model folder: it must exist and lie under one of TRAINING_MODEL_DIRS."""
    if recipe not in VLM_RECIPES:
        if model_path:
            raise TrainingError(f"Recipe {recipe} trains no base model; leave the base model empty.")
        return ""
    if not model_path:
        raise TrainingError(f"Recipe {recipe} needs a base model.")
    path = Path(model_path).resolve()
    allowed = model_dirs()
    if not any(path == directory or directory in path.parents for directory in allowed):
        declared = ", ".join(str(directory) for directory in allowed) or "none declared"
        raise TrainingError(f"Base model {model_path} is not under the declared model directories ({declared}).")
    if not (path / "config.json").is_file():
        raise TrainingError(f"Base model {model_path} does not exist (no config.json there).")
    return str(path)


def _override_arguments(overrides: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in overrides.items()]


def check_override_keys(overrides: dict) -> dict[str, str]:
    """The overrides with their keys as rm_training reads them, each naming one hyper-parameter of its config
    classes: an unknown key, a section or a folder the job sets itself (data, out, model_path, ...) is refused."""
    checked: dict[str, str] = {}
    for key, value in overrides.items():
        try:
            name = check_hyperparameter_key(str(key))
        except ConfigError as error:
            raise TrainingError(f"Invalid override: {error}.") from error
        if name in checked:
            raise TrainingError(f"Invalid override: {name} is given twice.")
        checked[name] = str(value)
    return checked


def check_overrides(*, recipe: str, model_path: str, overrides: dict[str, str]) -> int:
    """Validate the overrides with rm_training's own config classes; returns the run's total steps."""
    overrides = check_override_keys(overrides)
    arguments = _override_arguments(overrides) + ([f"model_path={model_path}"] if model_path else [])
    try:
        config = load_config(None, arguments, recipe=recipe)
    except ConfigError as error:
        raise TrainingError(f"Invalid hyper-parameters: {error}") from error
    if recipe in VLM_RECIPES:
        return config.total_steps  # one metrics line per optimizer step
    return config.checklist.max_epochs  # checklist-linear: Algorithm 1 iterations of its one fit


# --- Creating jobs ------------------------------------------------------------------------------------


def _enqueue(job: TrainingJob) -> None:
    """Hand the job to the gpu queue once committed. When the queue is unreachable the job is marked failed with
    the reason (its settings stay readable, to ask again) and QueueUnavailable is raised; no run folder was made."""
    from training.tasks import training_job_run_task

    enqueue_on_commit(training_job_run_task.s(job.pk), undo=lambda reason: _job_unsent(job, reason))


def _job_unsent(job: TrainingJob, reason: str) -> None:
    TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.FAILED, error=reason, finished_at=timezone.now()
    )


def training_job_create(
    *,
    snapshot: ExportSnapshot,
    recipe: str,
    model_path: str = "",
    overrides: dict[str, str] | None = None,
    num_processes: int = 1,
    created_by=None,
) -> TrainingJob:
    """A queued train job after every check that can be made before a GPU is used."""
    overrides = check_override_keys(overrides or {})
    check_snapshot_for_recipe(snapshot=snapshot, recipe=recipe)
    resolved_model = check_model_path(recipe=recipe, model_path=model_path)
    total_steps = check_overrides(recipe=recipe, model_path=resolved_model, overrides=overrides)
    if not 1 <= num_processes <= MAX_PROCESSES:
        raise TrainingError(f"Processes must be between 1 and {MAX_PROCESSES}.")
    with transaction.atomic():
        job = TrainingJob(
            kind=TrainingJob.Kind.TRAIN,
            recipe=recipe,
            model_path=resolved_model,
            overrides=overrides,
            num_processes=num_processes,
            snapshot=snapshot,
            total_steps=total_steps,
            created_by=created_by,
            run_dir="pending",
        )
        job.full_clean()
        job.save()
        job.run_dir = str(training_root() / "runs" / f"job-{job.pk}")
        job.save(update_fields=["run_dir"])
    return job


def training_job_request(**arguments) -> TrainingJob:
    """Create a train job and hand it to the gpu queue once the row is committed."""
    with transaction.atomic():
        job = training_job_create(**arguments)
        _enqueue(job)
    return job


def registered_model_evaluate(*, model: RegisteredModel, snapshot: ExportSnapshot, created_by=None) -> TrainingJob:
    """Queue an eval job: the registered model on another snapshot's test split."""
    if model.files_deleted_at:
        raise TrainingError(f"{model.name}'s files were deleted; it cannot be evaluated.")
    check_snapshot_for_recipe(snapshot=snapshot, recipe=model.recipe)
    with transaction.atomic():
        job = TrainingJob(
            kind=TrainingJob.Kind.EVAL,
            recipe=model.recipe,
            model_path=model.model_path,
            snapshot=snapshot,
            evaluated_model=model,
            run_dir=model.run_dir,
            created_by=created_by,
        )
        job.full_clean()
        job.save()
        _enqueue(job)
    return job


@dataclasses.dataclass
class EvaluationBatch:
    """What "evaluate all on snapshot X" did: one queued job per model it could evaluate, a reason for each other."""

    snapshot: ExportSnapshot
    queued: list[TrainingJob] = dataclasses.field(default_factory=list)
    skipped: list[tuple[RegisteredModel, str]] = dataclasses.field(default_factory=list)


def registered_models_evaluate_on(
    *, models: list[RegisteredModel], snapshot: ExportSnapshot, created_by=None
) -> EvaluationBatch:
    """Queue one evaluation per model on ``snapshot``'s test split (the single-model path for each), so every
    model is measured on the same pairs. A model already evaluated there, or with an evaluation of it queued or
    running, is skipped rather than queued twice; so is one that cannot be evaluated, with the reason."""
    batch = EvaluationBatch(snapshot=snapshot)
    evaluated = set(ModelEvaluation.objects.filter(snapshot=snapshot, model__in=models).values_list("model", flat=True))
    pending = set(
        TrainingJob.objects.filter(kind=TrainingJob.Kind.EVAL, snapshot=snapshot, evaluated_model__in=models)
        .exclude(status__in=TrainingJob.FINISHED)
        .values_list("evaluated_model", flat=True)
    )
    for model in models:
        if model.pk in evaluated:
            batch.skipped.append((model, f"already evaluated on export #{snapshot.pk}"))
            continue
        if model.pk in pending:
            batch.skipped.append((model, f"an evaluation on export #{snapshot.pk} is already queued or running"))
            continue
        try:
            batch.queued.append(registered_model_evaluate(model=model, snapshot=snapshot, created_by=created_by))
        except TrainingError as error:
            batch.skipped.append((model, str(error)))
    return batch


def training_job_commands(*, job: TrainingJob) -> list[list[str]]:
    """Train then evaluate on the test split (a train job), or evaluate only (an eval job)."""
    evaluate = ["eval", "--run", job.run_dir, "--data", job.snapshot.path, "--split", "test"]
    if job.kind == TrainingJob.Kind.EVAL:
        return [runner.rm_training_command(arguments=evaluate)]
    train = ["train", "--recipe", job.recipe, "--data", job.snapshot.path, "--out", job.run_dir]
    train += _override_arguments(job.overrides) + ([f"model_path={job.model_path}"] if job.model_path else [])
    return [
        runner.rm_training_command(arguments=train, num_processes=job.num_processes),
        runner.rm_training_command(arguments=evaluate),
    ]


# --- Running (on the gpu worker) ----------------------------------------------------------------------


def _heartbeat(job: TrainingJob) -> bool:
    """Record liveness and progress; True when the run must stop (cancelled, or no longer running here)."""
    now = timezone.now()
    fields: dict = {"heartbeat_at": now}
    if job.kind == TrainingJob.Kind.TRAIN:
        progress = runner.latest_progress(run_dir=Path(job.run_dir))
        fields.update(
            step=progress.step,
            loss=progress.loss,
            samples_per_second=progress.samples_per_second,
            eta_seconds=progress.eta_seconds(job.total_steps),
        )
    updated = TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.RUNNING, cancel_requested=False).update(
        **fields
    )
    return updated == 0


def training_job_run(*, job_id: int) -> TrainingJob:
    """Claim a queued job and run it to the end. A job already claimed (a task delivered twice) is left alone."""
    now = timezone.now()
    claimed = TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    job = TrainingJob.objects.select_related("snapshot", "evaluated_model").get(pk=job_id)
    if not claimed:
        return job
    log_path = job_log_path(job=job)
    outcome = None
    try:
        for command in training_job_commands(job=job):
            outcome = runner.run_process(
                command=command,
                log_path=log_path,
                on_start=lambda pid: TrainingJob.objects.filter(pk=job_id).update(pid=pid),
                on_tick=lambda: _heartbeat(job),
                tick_seconds=settings.TRAINING_HEARTBEAT_SECONDS,
                grace_seconds=settings.TRAINING_CANCEL_GRACE_SECONDS,
            )
            if outcome.stopped or outcome.returncode != 0:
                break
    except OSError as error:  # the command could not start (launcher missing, disk full): never left "running"
        TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.RUNNING).update(
            status=TrainingJob.Status.FAILED, error=f"the run could not start: {error}", finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    return _job_finish(job=job, outcome=outcome, log_path=log_path)


def _job_finish(*, job: TrainingJob, outcome: runner.ProcessOutcome, log_path: Path) -> TrainingJob:
    now = timezone.now()
    running = TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.RUNNING)
    if outcome.stopped:
        # Only a cancel ends here as cancelled; a job failed by the heartbeat check keeps its reason.
        running.filter(cancel_requested=True).update(status=TrainingJob.Status.CANCELLED, finished_at=now, pid=None)
    elif outcome.returncode != 0:
        tail = runner.log_tail(log_path=log_path)
        running.update(status=TrainingJob.Status.FAILED, error=f"{outcome.reason}\n\n{tail}", finished_at=now, pid=None)
    else:
        with transaction.atomic():
            results = _evaluation_keep(job=job)
            final = {"status": TrainingJob.Status.SUCCEEDED, "metrics": results, "finished_at": now, "pid": None}
            if job.kind == TrainingJob.Kind.TRAIN:  # the last heartbeat may predate the last logged step
                progress = runner.latest_progress(run_dir=Path(job.run_dir))
                final.update(step=progress.step, loss=progress.loss, samples_per_second=progress.samples_per_second)
                final.update(eta_seconds=0 if progress.step else None)
            if running.update(**final):
                job.refresh_from_db()
                if job.kind == TrainingJob.Kind.TRAIN:
                    registered_model_create(job=job)
                elif job.evaluated_model_id is not None:
                    model_evaluation_record(job=job)
    job.refresh_from_db()
    return job


def _evaluation_keep(*, job: TrainingJob) -> dict:
    """Copy eval/test to evaluations/<snapshot>-<job>/ (the next eval of the same run overwrites eval/test)."""
    run = Path(job.run_dir)
    source = run / "eval" / "test"
    if not source.is_dir():
        return {}
    target = run / "evaluations" / f"snapshot-{job.snapshot_id}-job-{job.pk}"
    shutil.copytree(source, target, dirs_exist_ok=True)
    metrics_file = target / "metrics.json"
    return json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}


def training_job_cancel(*, job: TrainingJob) -> TrainingJob:
    """A queued job is cancelled at once; a running one is stopped by its worker (SIGTERM, then SIGKILL)."""
    now = timezone.now()
    TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.CANCELLED, cancel_requested=True, finished_at=now
    )
    TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    return job


def training_heartbeat_check(*, timeout_seconds: float) -> int:
    """Fail running jobs whose worker stopped writing heartbeats; returns how many were failed."""
    now = timezone.now()
    cutoff = now - datetime.timedelta(seconds=timeout_seconds)
    failed = 0
    for job in TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING, heartbeat_at__lt=cutoff):
        silent = int((now - job.heartbeat_at).total_seconds())
        # Conditional on the heartbeat we read: a worker that wrote one meanwhile keeps its job.
        failed += TrainingJob.objects.filter(
            pk=job.pk, status=TrainingJob.Status.RUNNING, heartbeat_at=job.heartbeat_at
        ).update(status=TrainingJob.Status.FAILED, error=f"worker lost: no heartbeat for {silent} s", finished_at=now)
    return failed


# --- Registry -----------------------------------------------------------------------------------------


def registered_model_create(*, job: TrainingJob) -> RegisteredModel:
    run = RunDir(job.run_dir)
    train_metrics = run.read_json("train_metrics.json") or {}
    checkpoint = run.last_checkpoint()
    rubric = job.snapshot.manifest.get("rubric") or {}
    model = RegisteredModel(
        job=job,
        name=f"{job.recipe} on export #{job.snapshot_id} (job #{job.pk})",
        recipe=job.recipe,
        model_path=job.model_path,
        snapshot=job.snapshot,
        rubric_version=f"{rubric.get('slug', '')} v{rubric.get('version', '')}" if rubric else "",
        config=_config_dict(run),
        metrics={
            "train": {key: value for key, value in train_metrics.items() if not isinstance(value, list)},
            "test": job.metrics,
        },
        run_dir=job.run_dir,
        checkpoint_path=str(checkpoint) if checkpoint else "",
        created_by=job.created_by,
    )
    model.full_clean()
    model.save()
    model_evaluation_record(job=job, model=model)
    return model


def model_evaluation_record(*, job: TrainingJob, model: RegisteredModel | None = None) -> ModelEvaluation:
    """Keep a finished job's test-split metrics as the model's evaluation on the job's snapshot, replacing an older
    one there: the model a train job registered, or the model an eval job evaluated."""
    model = model or job.evaluated_model
    evaluation, _ = ModelEvaluation.objects.update_or_create(
        model=model,
        snapshot_id=job.snapshot_id,
        defaults={"job": job, "metrics": job.metrics or {}, "evaluated_at": job.finished_at or timezone.now()},
    )
    return evaluation


def _config_dict(run: RunDir) -> dict:
    from rm_training.config import config_to_dict

    return config_to_dict(run.config())


def registered_model_tag(*, model: RegisteredModel, tags: list[str], promoted: bool) -> RegisteredModel:
    model.tags = sorted({tag.strip() for tag in tags if tag.strip()})
    model.promoted = promoted
    model.full_clean()
    model.save(update_fields=["tags", "promoted"])
    return model


def registered_model_delete(*, model: RegisteredModel) -> RegisteredModel:
    """Remove the run folder (checkpoints, plots); the row stays so jobs and comparisons keep their history."""
    if model.evaluations.exclude(status__in=TrainingJob.FINISHED).exists():
        raise TrainingError("An evaluation of this model is still queued or running.")
    shutil.rmtree(model.run_dir, ignore_errors=True)
    model.files_deleted_at = timezone.now()
    model.promoted = False
    model.save(update_fields=["files_deleted_at", "promoted"])
    return model
