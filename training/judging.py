"""Judging one pair with a trained model, for the playground (training/playground.py).

A playground model is a registered model (its snapshot's test split gives the pairs with expert labels) or a bare
run folder (``manage.py playground --model RUN_DIR``: the export named in its run.json, when it is still there).
Uploaded videos are checked like ingest checks them and asked in the prompt of the model's training format.
Which models can judge uploads: those that look at the videos (aesrm-base / aesrm-cot answer the pair prompt,
descore scores each video, a checklist-vlm run with its checklist-linear weights answers each video's checklist);
a checklist-linear model scores the experts' checklist answers, which an uploaded video does not have.
Loaded models are kept (the last two) and used by one request at a time.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

from exports.formats import pair_prompt_for_format, prompt_of_messages
from pipelines.media import VideoRejected, video_probe
from rm_training.config import ConfigError
from rm_training.export import Export, ExportError, open_export
from rm_training.judging import PAIR_RECIPES, JudgeInputError, PairInput, PairJudge, PairJudgement
from rm_training.recipes.checklist_vlm import LINEAR_WEIGHTS_FILE
from rm_training.run_dir import RunDir
from rm_training.video import VideoDecodeError
from training.models import RegisteredModel


class PlaygroundError(ValueError):
    """Something the user picked or uploaded cannot be judged; the message says why."""


@dataclass(frozen=True)
class PlaygroundModel:
    key: str  # "model:<id>" for a registered model, "run:<path>" for a run folder
    label: str
    recipe: str
    run_dir: Path
    export_root: Path | None  # the export it was trained on, for test-split pairs
    export_format: str | None  # uploads are asked in this format's prompt
    uploads_refused_because: str | None = None  # None: the model judges uploaded videos too

    @property
    def judges_uploads(self) -> bool:
        return self.uploads_refused_because is None

    @property
    def choice_label(self) -> str:
        """How the model list names it: what it is and whether it can judge uploaded videos."""
        what = "judges uploaded videos" if self.judges_uploads else "test-split pairs only"
        return f"{self.label} · {self.recipe} · {what}"


def uploads_refused_because(*, recipe: str, run_dir: Path) -> str | None:
    """Why a model of ``recipe`` in ``run_dir`` cannot judge two uploaded videos, or None when it can."""
    if recipe == "checklist-linear":
        return (
            "a checklist-linear model scores the experts' checklist answers of each video, and uploaded videos have "
            "none: pick a test-split pair, or use a descore, aesrm or checklist-vlm model for uploads"
        )
    if recipe == "checklist-vlm" and not (run_dir / LINEAR_WEIGHTS_FILE).is_file():
        return (
            "this checklist-vlm run was trained without checklist_vlm.linear_run: it answers the checklist but has no "
            "weights to turn the answers into a reward"
        )
    return None


@dataclass(frozen=True)
class ExpertLabels:
    dimensions: dict[str, str]  # "A" / "B" / "tie"
    criteria: dict[str, int]  # +1 A better, -1 B better, 0 comparable
    n_raters: int | None = None


@dataclass(frozen=True)
class PlaygroundPair:
    pair: PairInput
    title: str
    experts: ExpertLabels | None = None  # uploads have none


def _registered(model: RegisteredModel) -> PlaygroundModel:
    return PlaygroundModel(
        key=f"model:{model.pk}",
        label=f"{'★ ' if model.promoted else ''}{model.name}",
        recipe=model.recipe,
        run_dir=Path(model.run_dir),
        export_root=Path(model.snapshot.path),
        export_format=model.snapshot.format,
        uploads_refused_because=uploads_refused_because(recipe=model.recipe, run_dir=Path(model.run_dir)),
    )


def registry_models(*, queryset) -> list[PlaygroundModel]:
    """The registered models of ``queryset`` that can judge pairs and still have their files, promoted first."""
    usable = queryset.filter(files_deleted_at__isnull=True, recipe__in=PAIR_RECIPES).select_related("snapshot")
    return [_registered(model) for model in usable.order_by("-promoted", "-created_at", "-id")]


def run_folder_model(run_dir: Path | str) -> PlaygroundModel:
    run = RunDir(Path(run_dir).resolve())
    if not (run.path / "config.yaml").is_file():
        raise PlaygroundError(f"{run.path} is not a run folder (no config.yaml)")
    recipe = run.config().recipe
    if recipe not in PAIR_RECIPES:
        raise PlaygroundError(
            f"{run.path} is a {recipe} run; the playground judges pairs with {', '.join(PAIR_RECIPES)}"
        )
    info = run.read_json("run.json") or {}
    data = Path(info["data"]) if info.get("data") else None
    export_root = data if data is not None and (data / "manifest.json").is_file() else None
    return PlaygroundModel(
        key=f"run:{run.path}",
        label=f"{recipe} run {run.path.name}",
        recipe=recipe,
        run_dir=run.path,
        export_root=export_root,
        export_format=info.get("data_format"),
        uploads_refused_because=uploads_refused_because(recipe=recipe, run_dir=run.path),
    )


def _held_out(model: PlaygroundModel) -> tuple[Export | None, list[dict]]:
    """The model's export and the pairs of its test split (swap-augmented copies left out)."""
    if model.export_root is None:
        return None, []
    try:
        export = open_export(model.export_root)
        rows = export.rows("test")
    except ExportError:
        return None, []
    # a checklist-qa export (checklist-vlm) holds single videos: no test pairs, uploads only
    return export, [row for row in rows if row.get("video_a") and not row.get("swapped")]


def _prompt_of(row: dict) -> str:
    return row.get("prompt") or prompt_of_messages(row.get("messages") or [])


def held_out_pair_choices(model: PlaygroundModel) -> list[tuple[str, str]]:
    """(label, pair id) of the test split of the model's export."""
    choices = []
    for row in _held_out(model)[1]:
        prompt = _prompt_of(row)
        label = f"pair {row['pair_id']}" + (f": {prompt[:70]}" if prompt else "")
        choices.append((label, str(row["pair_id"])))
    return choices


def held_out_pair(model: PlaygroundModel, pair_id: str) -> PlaygroundPair:
    export, rows = _held_out(model)
    row = next((row for row in rows if str(row["pair_id"]) == str(pair_id)), None)
    if row is None:
        raise PlaygroundError(f"pair {pair_id} is not in the test split of {model.label}")
    try:
        pair = PairInput.from_export_row(export, row)
    except ExportError as error:
        raise PlaygroundError(str(error)) from error
    experts = ExpertLabels(
        dimensions=dict(row.get("labels") or {}),
        criteria={code: int(value) for code, value in (row.get("criteria") or {}).items() if value is not None},
        n_raters=row.get("n_raters"),
    )
    return PlaygroundPair(pair=pair, title=f"Test pair {pair_id}: {_prompt_of(row)}", experts=experts)


def uploaded_pair(model: PlaygroundModel, *, video_a: str | None, video_b: str | None, prompt: str) -> PlaygroundPair:
    """Two uploaded files, checked as ingest checks videos (a file that is not a video is refused by name)."""
    if not model.judges_uploads:
        raise PlaygroundError(f"{model.label} cannot judge uploaded videos: {model.uploads_refused_because}.")
    if not video_a or not video_b:
        raise PlaygroundError("Upload two videos, A and B.")
    paths = []
    for side, upload in (("A", video_a), ("B", video_b)):
        path = Path(upload)
        try:
            video_probe(path, name=f"Video {side} ({path.name})")
        except VideoRejected as error:
            raise PlaygroundError(str(error)) from error
        paths.append(path)
    messages = pair_prompt_for_format(
        model.export_format or "aesrm-base-sft", prompt=prompt.strip(), video_a=str(paths[0]), video_b=str(paths[1])
    )
    pair = PairInput(video_a=paths[0], video_b=paths[1], prompt=prompt.strip() or None, messages=messages)
    return PlaygroundPair(pair=pair, title="Uploaded pair" + (f": {prompt.strip()}" if prompt.strip() else ""))


_judging = threading.Lock()


@functools.lru_cache(maxsize=2)
def _judge_for(run_dir: str, checkpoint: str) -> PairJudge:
    return PairJudge.for_run(run_dir)


def pair_judge(model: PlaygroundModel, pair: PlaygroundPair) -> PairJudgement:
    run = RunDir(model.run_dir)
    checkpoint = run.last_checkpoint()
    if checkpoint is None or not run.path.is_dir():
        raise PlaygroundError(f"{model.label} has no checkpoint in {run.path}")
    with _judging:
        try:
            return _judge_for(str(run.path), str(checkpoint)).judge(pair.pair)
        except (JudgeInputError, ConfigError, VideoDecodeError) as error:
            raise PlaygroundError(str(error)) from error
