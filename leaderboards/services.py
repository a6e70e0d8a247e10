"""Writes: a registered reward model judging a campaign's pairs in the background (ModelJudgmentRun).

Life cycle. `model_judgment_run_start` creates the run (one per model and campaign) or asks it again, and enqueues
`model_judgment_run_task` once committed. The task claims the run with a conditional update (a second delivery
finds it claimed and does nothing), loads the model once, and judges every pair of the campaign that compares two
generators and has no verdict yet, storing the verdicts in batches. So a run whose worker died mid-way, started
again, continues where it stopped; a run started again after new pairs were imported judges only those.

A pair the model cannot judge (its answer does not parse, a video does not decode) is stored with the reason and
counted as unparsable; it never stops the run. Only a model that cannot be loaded fails it.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotation.models import Campaign, Video, VideoPair
from annotation.services import campaign_model_priorities_recompute
from exports.formats import pair_prompt_for_format
from leaderboards.models import ModelJudgmentRun, ModelPairVerdict
from leaderboards.selectors import pairs_with_generators
from rm_training.judging import PairInput, PairJudge, PairJudgement
from rm_training.parsing import DIMENSIONS
from training.models import RegisteredModel
from training.selectors import training_queue
from webapp.queue import enqueue_on_commit

logger = logging.getLogger(__name__)

# Verdicts are written this many at a time: what a worker killed mid-way loses at most.
VERDICT_BATCH = 16
# A run still waiting, or scoring with no pair judged for this long, was lost (the broker dropped the task, the
# worker died): starting it again is allowed, and a redelivered task may take it over.
RUN_LOST_AFTER = timedelta(minutes=10)
OVERALL_CODE = "overall"


class ScoringRefused(ValueError):
    """The model cannot score this campaign; the message says why."""


def _lost_before() -> timezone.datetime:
    return timezone.now() - RUN_LOST_AFTER


def _run_is_lost(run: ModelJudgmentRun) -> bool:
    last_sign_of_life = run.heartbeat_at or run.started_at or run.requested_at
    return last_sign_of_life is None or last_sign_of_life < _lost_before()


def model_judgment_run_start(
    *, model: RegisteredModel, campaign: Campaign, requested_by=None
) -> tuple[ModelJudgmentRun, bool]:
    """Ask for `model`'s verdicts on the campaign's pairs. Returns the run and whether a task was sent: not when
    the run is already waiting or scoring (and not lost)."""
    from leaderboards.tasks import model_judgment_run_task

    if model.files_deleted_at is not None:
        raise ScoringRefused(f"{model.name}: its run folder was removed")
    now = timezone.now()
    with transaction.atomic():
        run, created = ModelJudgmentRun.objects.select_for_update().get_or_create(
            model=model, campaign=campaign, defaults={"requested_at": now, "requested_by": requested_by}
        )
        if not created:
            if run.active and not _run_is_lost(run):
                return run, False
            ModelJudgmentRun.objects.filter(pk=run.pk).update(
                status=ModelJudgmentRun.Status.PENDING,
                requested_at=now,
                requested_by=requested_by,
                error="",
                finished_at=None,
            )

        def unsent(reason: str) -> None:
            ModelJudgmentRun.objects.filter(pk=run.pk).update(status=ModelJudgmentRun.Status.FAILED, error=reason)

        # The model is loaded where training jobs run: the gpu queue.
        enqueue_on_commit(model_judgment_run_task.s(run.pk).set(queue=training_queue()), undo=unsent)
    run.refresh_from_db()
    return run, True


def pair_judge_load(model: RegisteredModel) -> PairJudge:
    """The model's last checkpoint, loaded once per run."""
    return PairJudge.for_run(model.run_dir)


@contextlib.contextmanager
def _local_video(video: Video) -> Iterator[Path]:
    """A path on this machine to the video the experts watched (its proxy; the original until there is one),
    copied to a temporary folder when the media storage has no local paths (object storage)."""
    stored = video.proxy if video.proxy else video.file
    try:
        path = Path(stored.storage.path(stored.name))
    except NotImplementedError:
        path = None
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="aeslab-judge-") as folder:
        copy = Path(folder) / Path(stored.name).name
        with stored.storage.open(stored.name, "rb") as source, copy.open("wb") as target:
            shutil.copyfileobj(source, target)
        yield copy


@contextlib.contextmanager
def _pair_input(pair: VideoPair, *, export_format: str) -> Iterator[PairInput]:
    with _local_video(pair.video_a) as video_a, _local_video(pair.video_b) as video_b:
        messages = pair_prompt_for_format(export_format, prompt=pair.prompt, video_a=str(video_a), video_b=str(video_b))
        yield PairInput(video_a=video_a, video_b=video_b, prompt=pair.prompt or None, messages=messages)


def _sign_of_sum(verdicts: list[int]) -> int:
    total = sum(verdicts)
    return (total > 0) - (total < 0)


def verdict_from_judgement(judgement: PairJudgement) -> tuple[dict[str, int], int | None, str]:
    """(verdict per dimension, overall verdict, why unparsable or ""), from the model's answer in the pairs'
    display order (video A shown first, as the experts saw it). Overall: the model's own when it gives one (the
    checklist recipes), else the experts' rule: the video better on more dimensions wins."""
    answer = judgement.original
    if answer.parse_error:
        return {}, None, answer.parse_error
    verdicts = {}
    for code, value in answer.verdicts.items():
        if value not in (-1, 0, 1):
            return {}, None, f"verdict {value!r} for {code} is not -1, 0 or 1"
        verdicts[str(code)] = int(value)
    overall = verdicts.pop(OVERALL_CODE, None)
    if overall is None:
        rubric_verdicts = [verdicts[code] for code in DIMENSIONS if code in verdicts]
        if not rubric_verdicts:
            return {}, None, "the answer has no verdict for any dimension"
        overall = _sign_of_sum(rubric_verdicts)
    return verdicts, overall, ""


def _verdict_for_pair(run: ModelJudgmentRun, pair: VideoPair, judge: PairJudge, export_format: str):
    try:
        with _pair_input(pair, export_format=export_format) as pair_input:
            judgement = judge.judge(pair_input)
        dimensions, overall, problem = verdict_from_judgement(judgement)
    except Exception as error:  # whatever one pair does to the model, the others are still judged
        logger.warning("model %s could not judge pair %s: %s", run.model_id, pair.pk, error)
        dimensions, overall, problem = {}, None, f"not judged: {type(error).__name__}: {error}"
    return ModelPairVerdict(run=run, pair=pair, dimensions=dimensions, overall=overall, parse_error=problem[:2000])


def _store(run: ModelJudgmentRun, batch: list[ModelPairVerdict]) -> None:
    ModelPairVerdict.objects.bulk_create(batch, ignore_conflicts=True)
    stored = ModelPairVerdict.objects.filter(run=run)
    ModelJudgmentRun.objects.filter(pk=run.pk).update(
        pairs_judged=stored.count(),
        pairs_unparsable=stored.exclude(parse_error="").count(),
        heartbeat_at=timezone.now(),
    )


def model_judgment_run_execute(*, run_id: int, judge: PairJudge | None = None) -> bool:
    """Judge the run's missing pairs. False when there was nothing to claim (a second delivery, another worker
    scoring it). `judge`: a loaded judge to use instead of the model's checkpoint."""
    now = timezone.now()
    claimable = Q(status=ModelJudgmentRun.Status.PENDING) | Q(
        status=ModelJudgmentRun.Status.RUNNING, heartbeat_at__lt=_lost_before()
    )
    claimed = ModelJudgmentRun.objects.filter(claimable, pk=run_id).update(
        status=ModelJudgmentRun.Status.RUNNING, started_at=now, heartbeat_at=now, error=""
    )
    if not claimed:
        return False
    run = ModelJudgmentRun.objects.select_related("model__snapshot", "campaign").get(pk=run_id)
    candidates = sorted(pairs_with_generators(campaigns=[run.campaign])[0])
    done = set(ModelPairVerdict.objects.filter(run=run).values_list("pair_id", flat=True))
    missing = [pair_id for pair_id in candidates if pair_id not in done]
    ModelJudgmentRun.objects.filter(pk=run.pk).update(pairs_total=len(candidates))
    try:
        judge = judge or pair_judge_load(run.model)
    except Exception as error:
        logger.exception("model %s could not be loaded for campaign %s", run.model_id, run.campaign_id)
        ModelJudgmentRun.objects.filter(pk=run.pk).update(
            status=ModelJudgmentRun.Status.FAILED,
            error=f"the model could not be loaded: {error}",
            finished_at=timezone.now(),
        )
        return False
    export_format = run.model.snapshot.format
    for start in range(0, len(missing), VERDICT_BATCH):
        pairs = VideoPair.objects.filter(pk__in=missing[start : start + VERDICT_BATCH]).select_related(
            "video_a", "video_b"
        )
        _store(run, [_verdict_for_pair(run, pair, judge, export_format) for pair in pairs.order_by("pk")])
    _store(run, [])
    ModelJudgmentRun.objects.filter(pk=run.pk).update(
        status=ModelJudgmentRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    if Campaign.objects.filter(pk=run.campaign_id, queue_model_id=run.model_id).exists():
        # The campaign's queue follows this model: its verdicts are all in, so every pair's priority is set now.
        campaign_model_priorities_recompute(campaign_id=run.campaign_id)
    return True
