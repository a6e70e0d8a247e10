"""The app's side of the "do the models learn" experiment: a campaign of generated pairs judged by
simulated experts (fixtures/learning_data.py), built through the app's own services (manifest ingest,
judgments import, export snapshots), and the planted checklist weights keyed by the export's question
ids. `benchmarks/learning.py` and `training/tests/test_models_learn.py` use it; the training itself
goes through rm_training's command line (rm_training/experiment.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agreement.services import judgments_import
from annotation.models import Campaign, Video
from annotation.services import campaign_create, user_ensure
from exports.services import export_build, export_snapshot_create
from fixtures.learning_data import LearningClips, PlantedChecklist, learning_judgments
from pipelines.ingest import manifest_import

SIMULATED_EXPERTS = ("learning-expert-1", "learning-expert-2", "learning-expert-3")
PLANTED_FILE = "planted_checklist.json"
# aesrm-base-sft with both orders of every pair (evaluation skips the swapped rows and asks each pair both ways):
# the cold start then cannot learn a verdict from the position alone
FORMAT_OPTIONS = {"rl-prompts": {"video_scores": "judgments"}, "aesrm-base-sft": {"swap_augment": True}}


@dataclass(frozen=True)
class LearningData:
    campaign: Campaign
    exports: dict[str, Path]  # format -> export folder
    planted_path: Path  # {"weights": {question id: w*}, "dimensions": {question id: VA | VF | VP | null}}


def learning_campaign_build(
    *, clips: LearningClips, planted: PlantedChecklist, name: str, noise: float, seed: int = 0,
    experts: tuple[str, ...] = SIMULATED_EXPERTS,
) -> Campaign:
    """Ingest the clips' manifest into a new campaign and import the simulated experts' judgments.
    Proxies are made after commit: run it where on-commit callbacks execute (autocommit, or a test's
    django_capture_on_commit_callbacks(execute=True)) with an eager or running Celery."""
    campaign = campaign_create(name=name, overlap=len(experts),
                               description="Generated pairs judged by simulated experts (known preferences, noise).")
    report = manifest_import(manifest_path=clips.manifest_path, campaign=campaign)
    if report.errors or report.created != len(clips.expected):
        raise RuntimeError(
            f"manifest import: {report.created} of {len(clips.expected)} pairs created, errors {report.errors[:3]}"
        )
    records = learning_judgments(clips, planted, experts=list(experts), noise=noise, seed=seed)
    imported = judgments_import(campaign=campaign, lines=[json.dumps(record) for record in records])
    if imported.errors:
        raise RuntimeError(f"judgments import: {imported.errors[:3]}")
    return campaign


def planted_by_question_id(campaign: Campaign, planted: PlantedChecklist) -> dict:
    """The planted weights and dimensions keyed as the export keys checklist answers (question ids)."""
    questions = campaign.checklist.questions.values_list("id", "text")
    return {
        "weights": {str(qid): planted.weights[text] for qid, text in questions},
        "dimensions": {str(qid): planted.dimension_of(text) for qid, text in questions},
    }


def learning_score_critiques_build(*, campaign: Campaign, scored_export: Path) -> int:
    """AesCoT critiques of the scored videos of an rl-prompts export (each video's score kept private), from the
    scripted teacher (distillation/scripted_teacher.py: stock sentences of the score's tone bin, never a model's
    output), through the real distillation job and filters. Every critique that passes the filters is accepted, as a
    curator would after the audit, so an rl-prompts export built afterwards carries them for RAPO's cold start.
    Returns how many were accepted. Celery must run eagerly (or a worker must)."""
    from distillation.models import Critique
    from distillation.scripted_teacher import SCRIPTED_TEACHER_NAME, ScriptedTeacher
    from distillation.services import critique_accept, endpoint_create, job_start

    scores = {}
    for split in ("train", "validation", "test"):
        for line in (Path(scored_export) / f"{split}.jsonl").read_text().splitlines():
            row = json.loads(line)
            if row.get("kind") == "single" and row.get("score") is not None:
                scores[Path(row["video"]).stem] = float(row["score"])
    video_ids = dict(Video.objects.filter(sha256__in=scores).values_list("sha256", "pk"))
    curator = user_ensure(username="learning-curator", password=None)
    with ScriptedTeacher() as teacher:
        endpoint = endpoint_create(name=f"{SCRIPTED_TEACHER_NAME} {campaign.pk}", base_url=teacher.url,
                                   model=SCRIPTED_TEACHER_NAME, requests_per_minute=0, timeout_seconds=30.0)
        job = job_start(campaign=campaign, endpoint=endpoint, created_by=curator, frames_fps=1.0, frames_max=2,
                        frames_short_side=64, scores={video_ids[sha]: score for sha, score in scores.items()})
    critiques = list(Critique.objects.filter(item__job=job, passed=True))
    for critique in critiques:
        critique_accept(critique=critique, curator=curator, note="learning experiment: passed the filters")
    return len(critiques)


def learning_exports_build(
    *, campaign: Campaign, planted: PlantedChecklist, out_dir: Path, formats: tuple[str, ...],
    split: tuple[float, float, float], seed: int = 0,
) -> LearningData:
    """One export snapshot per format under `out_dir` (split by prompt, so test scenes are unseen in
    training), and the planted weights beside them. rl-prompts also gets its single-video rows, each video
    scored by a Bradley-Terry fit of the judgments (RAPO trains on them)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exports = {}
    for export_format in formats:
        folder = out_dir / export_format
        options = {"split": list(split), "seed": seed, **FORMAT_OPTIONS.get(export_format, {})}
        snapshot = export_snapshot_create(campaign=campaign, export_format=export_format, options=options,
                                          path=folder)
        snapshot = export_build(snapshot_id=snapshot.pk)
        if snapshot.status != "succeeded":
            raise RuntimeError(f"{export_format} export failed: {snapshot.error}")
        exports[export_format] = folder
    planted_path = out_dir / PLANTED_FILE
    planted_path.write_text(json.dumps(planted_by_question_id(campaign, planted), indent=1))
    return LearningData(campaign=campaign, exports=exports, planted_path=planted_path)
