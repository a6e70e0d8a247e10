"""Reads for training: who may train, jobs and registered models, base-model folders, the gpu queue's workers."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from annotation.selectors import TRAIN, access_campaign, check_role_somewhere, user_has_role
from exports.models import ExportSnapshot
from exports.selectors import access_snapshot, snapshots_for
from rm_training.config import RECIPE_FORMATS, RECIPES, TrainConfig, recipe_default
from training.models import ModelEvaluation, RegisteredModel, TrainingJob

VLM_HYPERPARAMETERS = (
    "seed",
    "lora_rank",
    "optim.learning_rate",
    "optim.batch_size",
    "optim.gradient_accumulation_steps",
)
# The hyper-parameters the Train form shows for each recipe; any other key goes in the form's free overrides.
RECIPE_HYPERPARAMETERS = {
    "checklist-linear": ("seed", "checklist.solver", "checklist.l2", "checklist.max_epochs", "checklist.tolerance"),
    "aesrm-base": (*VLM_HYPERPARAMETERS, "stages.atomic_steps", "stages.sft_steps", "stages.grpo_steps"),
    "aesrm-cot": (*VLM_HYPERPARAMETERS, "stages.sft_steps", "stages.grpo_steps"),
    "rapo": (*VLM_HYPERPARAMETERS, "stages.sft_steps", "stages.grpo_steps"),
    "checklist-vlm": (*VLM_HYPERPARAMETERS, "stages.sft_steps", "checklist_vlm.linear_run"),
    "descore": (*VLM_HYPERPARAMETERS, "stages.reasoning_steps", "stages.sft_steps", "stages.grpo_steps"),
}
WORKER_CHECK_CACHE_SECONDS = 10


def user_can_train(*, user) -> bool:
    """ML engineers of some campaign (and staff): they train on, and use models of, their campaigns' snapshots."""
    return user_has_role(user=user, roles=TRAIN)


def _require_trainer(user) -> None:
    check_role_somewhere(user=user, roles=TRAIN, action="train and evaluate models")


def training_root() -> Path:
    configured = getattr(settings, "TRAINING_ROOT", "")
    # Beside the media folder, never inside it: media are served to every signed-in user, run folders are not.
    return Path(configured) if configured else Path(settings.MEDIA_ROOT).parent / "training-runs"


def job_log_path(*, job: TrainingJob) -> Path:
    return training_root() / "logs" / f"job-{job.pk}.log"


def trainable_snapshots_for(*, user) -> QuerySet[ExportSnapshot]:
    """Snapshots of the campaigns where the user is an ML engineer."""
    return snapshots_for(user=user, roles=TRAIN)


def jobs_for(*, user) -> QuerySet[TrainingJob]:
    """Training jobs on snapshots of the campaigns where the user is an ML engineer."""
    _require_trainer(user)
    return TrainingJob.objects.filter(snapshot__in=trainable_snapshots_for(user=user).values("id")).select_related(
        "snapshot__campaign", "created_by", "evaluated_model"
    )


def access_job(*, user, job_id: int) -> TrainingJob:
    job = get_object_or_404(
        TrainingJob.objects.select_related("snapshot__campaign", "created_by", "evaluated_model"), pk=job_id
    )
    access_campaign(user=user, campaign_id=job.snapshot.campaign_id, roles=TRAIN, action="see its training jobs")
    return job


def models_for(*, user) -> QuerySet[RegisteredModel]:
    """Registered models trained on snapshots of the campaigns where the user is an ML engineer."""
    _require_trainer(user)
    return RegisteredModel.objects.filter(snapshot__in=trainable_snapshots_for(user=user).values("id")).select_related(
        "snapshot__campaign", "created_by", "job"
    )


def access_model(*, user, model_id: int) -> RegisteredModel:
    model = get_object_or_404(
        RegisteredModel.objects.select_related("snapshot__campaign", "created_by", "job"), pk=model_id
    )
    access_campaign(user=user, campaign_id=model.snapshot.campaign_id, roles=TRAIN, action="use its models")
    return model


def access_trainable_snapshot(*, user, snapshot_id: int) -> ExportSnapshot:
    return access_snapshot(user=user, snapshot_id=snapshot_id, roles=TRAIN, action="train on its exports")


def model_dirs() -> list[Path]:
    return [Path(entry).resolve() for entry in settings.TRAINING_MODEL_DIRS if entry]


def base_model_choices() -> list[Path]:
    """Every declared model directory that is a model (has config.json), and every model folder directly in one."""
    found: list[Path] = []
    for directory in model_dirs():
        if (directory / "config.json").is_file():
            found.append(directory)
        elif directory.is_dir():
            found.extend(sorted(child for child in directory.iterdir() if (child / "config.json").is_file()))
    return found


@dataclasses.dataclass(frozen=True)
class ConfigField:
    name: str  # dotted, as rm_training takes it: optim.learning_rate
    default: typing.Any
    kind: type
    help: str


def config_field(*, name: str, recipe: str | None = None) -> ConfigField:
    """Default (``recipe``'s own where it has one), type and help text of one rm_training config field, read from its
    dataclass."""
    owner: type = TrainConfig
    parts = name.split(".")
    for part in parts[:-1]:
        owner = typing.get_type_hints(owner)[part]
    item = next(field for field in dataclasses.fields(owner) if field.name == parts[-1])
    default = item.default if item.default is not dataclasses.MISSING else item.default_factory()
    if recipe is not None:
        default = recipe_default(recipe, name)
    return ConfigField(
        name=name, default=default, kind=typing.get_type_hints(owner)[parts[-1]], help=item.metadata.get("help", "")
    )


def key_hyperparameters(*, recipe: str) -> list[ConfigField]:
    names = RECIPE_HYPERPARAMETERS.get(recipe, (*VLM_HYPERPARAMETERS, "stages.sft_steps", "stages.grpo_steps"))
    return [config_field(name=name, recipe=recipe) for name in names]


def recipe_for_snapshot(*, snapshot: ExportSnapshot) -> str:
    """The recipe the Train form starts on: the first that reads the snapshot's format."""
    return next((recipe for recipe in RECIPES if snapshot.format in RECIPE_FORMATS[recipe]), RECIPES[0])


def training_queue() -> str:
    return settings.TRAINING_QUEUE


def queue_has_worker(*, queue: str) -> bool:
    """Whether any Celery worker consumes ``queue`` (asked with a short timeout; the answer is cached briefly)."""
    key = f"training:queue-has-worker:{queue}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    from webapp.celery import app

    if app.conf.task_always_eager:
        listening = True  # no broker: tasks run in the web process
    else:
        try:
            replies = app.control.inspect(timeout=settings.TRAINING_WORKER_CHECK_TIMEOUT_SECONDS).active_queues() or {}
        except Exception:  # an unreachable broker means no worker can take the job either
            replies = {}
        listening = any(entry.get("name") == queue for queues in replies.values() for entry in queues)
    cache.set(key, listening, WORKER_CHECK_CACHE_SECONDS)
    return listening


def job_metrics_records(*, job: TrainingJob) -> list[dict]:
    from training.runner import read_metrics_lines

    return read_metrics_lines(run_dir=Path(job.run_dir))


def run_plots(*, run_dir: str) -> list[str]:
    """PNG files of a run folder (eval plots), relative to it."""
    root = Path(run_dir)
    if not root.is_dir():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*.png"))


# --- The registry: metric columns on one split --------------------------------------------------------

REGISTRY_DIMENSIONS = ("VA", "VF", "VP", "overall")
REGISTRY_METRIC_COLUMNS = (
    *(f"{code}_{ties}" for code in REGISTRY_DIMENSIONS for ties in ("with_ties", "without_ties")),
    "position_bias",
)
REGISTRY_SORTS = ("name", "recipe", "snapshot", "created", *REGISTRY_METRIC_COLUMNS)


def _mean(values: list) -> float | None:
    present = [float(value) for value in values if value is not None]
    return sum(present) / len(present) if present else None


def metric_figures(*, metrics: dict) -> dict:
    """The registry's figures from a test-split metrics.json: accuracy with and without ties per dimension, and
    position bias. rm_training scores VA, VF and VP; where an evaluation has no "overall" entry, overall is the
    mean of the three (``overall_is_mean`` says so) and position bias the mean of theirs."""
    dimensions = metrics.get("dimensions") or {}
    figures: dict = {}
    for code in REGISTRY_DIMENSIONS:
        entry = dimensions.get(code) or {}
        for ties in ("with_ties", "without_ties"):
            figures[f"{code}_{ties}"] = entry.get(f"accuracy_{ties}")
    figures["overall_is_mean"] = "overall" not in dimensions
    if figures["overall_is_mean"]:
        for ties in ("with_ties", "without_ties"):
            figures[f"overall_{ties}"] = _mean([figures[f"{code}_{ties}"] for code in REGISTRY_DIMENSIONS[:3]])
        figures["position_bias"] = _mean([(dimensions.get(code) or {}).get("position_bias") for code in dimensions])
    else:
        figures["position_bias"] = dimensions["overall"].get("position_bias")
    return figures


@dataclasses.dataclass(frozen=True)
class RegistryRow:
    """A registered model and its figures on one test split: ``split_snapshot_id``'s (the model's own training
    snapshot unless the registry was asked for another). No ``evaluation``: the model was not evaluated there;
    ``pending`` is then the queued or running job that will."""

    model: RegisteredModel
    split_snapshot_id: int
    evaluation: ModelEvaluation | None
    pending: TrainingJob | None
    figures: dict

    @property
    def on_own_split(self) -> bool:
        return self.split_snapshot_id == self.model.snapshot_id

    @property
    def figure_cells(self) -> list[tuple[str, float | None, bool]]:
        """(column, value, whether the value is the mean of VA, VF and VP) in the registry's column order."""
        mean = self.figures.get("overall_is_mean", False)
        return [(key, self.figures.get(key), mean and key.startswith("overall")) for key in REGISTRY_METRIC_COLUMNS]


def _sort_value(row: RegistryRow, sort: str):
    if sort == "name":
        return row.model.name.casefold()
    if sort == "recipe":
        return row.model.recipe
    if sort == "snapshot":
        return row.model.snapshot_id
    if sort == "created":
        return row.model.created_at
    return row.figures.get(sort)


def registry_rows(
    *,
    user,
    recipe: str = "",
    snapshot_id: int | None = None,
    tag: str = "",
    campaign_id: int | None = None,
    evaluated_on: ExportSnapshot | None = None,
    sort: str = "created",
    descending: bool = True,
    limit: int = 500,
) -> list[RegistryRow]:
    """The user's registered models, filtered (recipe, training snapshot, tag, campaign), with their figures on
    ``evaluated_on``'s test split (each on its own training snapshot's when None), sorted by ``sort``; models
    without a figure in the sorted column come last in either direction."""
    models = models_for(user=user)
    if recipe:
        models = models.filter(recipe=recipe)
    if snapshot_id is not None:
        models = models.filter(snapshot_id=snapshot_id)
    if tag:
        models = models.filter(tags__contains=[tag])
    if campaign_id is not None:
        models = models.filter(snapshot__campaign_id=campaign_id)
    models = list(models[:limit])
    ids = [model.pk for model in models]
    evaluations = {
        (evaluation.model_id, evaluation.snapshot_id): evaluation
        for evaluation in ModelEvaluation.objects.filter(model_id__in=ids)
    }
    pending: dict[int, TrainingJob] = {}
    if evaluated_on is not None:
        for job in TrainingJob.objects.filter(
            kind=TrainingJob.Kind.EVAL, snapshot=evaluated_on, evaluated_model_id__in=ids
        ).exclude(status__in=TrainingJob.FINISHED):
            pending[job.evaluated_model_id] = job
    rows = []
    for model in models:
        split = evaluated_on.pk if evaluated_on is not None else model.snapshot_id
        evaluation = evaluations.get((model.pk, split))
        if evaluation is None and split == model.snapshot_id and model.metrics.get("test"):
            metrics = model.metrics["test"]  # registered before evaluations were kept per snapshot
        else:
            metrics = evaluation.metrics if evaluation else {}
        rows.append(
            RegistryRow(
                model=model,
                split_snapshot_id=split,
                evaluation=evaluation,
                pending=pending.get(model.pk),
                figures=metric_figures(metrics=metrics),
            )
        )
    if sort not in REGISTRY_SORTS:
        sort = "created"
    known = [row for row in rows if _sort_value(row, sort) is not None]
    unknown = [row for row in rows if _sort_value(row, sort) is None]
    return sorted(known, key=lambda row: _sort_value(row, sort), reverse=descending) + unknown


def registry_filter_choices(*, user) -> dict:
    """What the registry's filters offer: the recipes, training snapshots, tags and campaigns of the user's models,
    and the finished snapshots models can be evaluated on."""
    models = models_for(user=user)
    tags = sorted({tag for tags in models.values_list("tags", flat=True) for tag in tags or []})
    trained_on = ExportSnapshot.objects.filter(pk__in=models.values("snapshot_id")).select_related("campaign")
    finished = trainable_snapshots_for(user=user).filter(status=ExportSnapshot.Status.SUCCEEDED)
    campaigns = {snapshot.campaign_id: snapshot.campaign for snapshot in trained_on}
    return {
        "recipes": sorted(set(models.values_list("recipe", flat=True))),
        "snapshots": list(trained_on.order_by("-id")),
        "tags": tags,
        "campaigns": sorted(campaigns.values(), key=lambda campaign: campaign.name),
        "evaluation_snapshots": list(finished.order_by("-id")[:200]),
    }


def model_evaluations_on(*, models: list[RegisteredModel], snapshot: ExportSnapshot) -> dict[int, ModelEvaluation]:
    """Model id -> its evaluation on ``snapshot``'s test split, for the models evaluated there."""
    return {
        evaluation.model_id: evaluation
        for evaluation in ModelEvaluation.objects.filter(model__in=models, snapshot=snapshot)
    }
