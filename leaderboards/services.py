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

from annotation.model_queue import overall_vote
from annotation.models import Campaign, Video, VideoPair
from annotation.services import campaign_model_priorities_recompute
from exports.formats import pair_prompt_for_format
from leaderboards import plots, ranking
from leaderboards.models import LeaderboardResult, ModelJudgmentRun, ModelPairVerdict
from leaderboards.selectors import (
    OVERALL,
    expert_reliability_for,
    leaderboard_fingerprint,
    leaderboard_for,
    leaderboard_result_key,
    leaderboard_results_reading,
    pairs_with_generators,
)
from rm_training.judging import PairInput, PairJudge, PairJudgement
from rm_training.parsing import DIMENSIONS
from training.models import RegisteredModel
from training.selectors import training_queue
from webapp.queue import QueueUnavailable, enqueue, enqueue_on_commit

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
        overall = overall_vote({code: verdicts[code] for code in DIMENSIONS if code in verdicts})
        if overall is None:
            return {}, None, "the answer has no verdict for any dimension"
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


# --- The experts' leaderboard, stored (the agreement dashboard's DashboardReport life cycle) ------------------

# Bumped when what `content` holds changes: a row stored in another format is computed again on the next visit.
RESULT_CONTENT_VERSION = 1
# A burst of submits (twenty experts, one campaign) makes one recompute: the first change enqueues it to run this
# many seconds later, and the changes until it starts find it requested already.
RECOMPUTE_DELAY_SECONDS = 3
# A request still waiting, or a recompute still running, after this long was lost (the broker was down, the
# worker died mid-way): the next visit asks again. Far above the 3-21 s a weighted fit on 2,500 pairs takes.
RECOMPUTE_LOST_AFTER = timedelta(minutes=5)


def _recompute_enqueue_on_commit(result_id: int, *, delay_seconds: int) -> None:
    from leaderboards.tasks import leaderboard_result_compute_task

    def unsent(reason: str) -> None:
        LeaderboardResult.objects.filter(pk=result_id).update(error=f"the recompute could not be started: {reason}")

    def send() -> None:
        # The change itself is committed and must not fail because the queue is down: the page keeps showing the
        # last result, and asks again once the request looks lost.
        with contextlib.suppress(QueueUnavailable):
            enqueue(leaderboard_result_compute_task.s(result_id).set(countdown=delay_seconds), undo=unsent)

    transaction.on_commit(send)


def _tasks_run_in_process() -> bool:
    """No broker (the embedded default): a task would run inside the request or command that sent it."""
    from webapp.celery import app

    return bool(app.conf.task_always_eager)


def _has_default_options(result: LeaderboardResult) -> bool:
    if result.kind == LeaderboardResult.Kind.RELIABILITY:
        return True
    default = leaderboard_result_key(
        kind=result.kind,
        campaigns=[result.campaign],
        target=OVERALL,
        source="consensus",
        n_resamples=ranking.DEFAULT_RESAMPLES,
        seed=ranking.DEFAULT_SEED,
    )
    return result.options_key == default


def leaderboard_results_mark_stale(*, campaign_id: int) -> None:
    """A judgment or adjudication of the campaign changed: the stored results with the default options (the
    leaderboard as first opened, the reliability page) are requested again; only the change that finds one not yet
    requested enqueues its recompute (a conditional update), RECOMPUTE_DELAY_SECONDS later: one per burst. Results
    with other options are recomputed when next visited (their fingerprint no longer matches).

    Without a broker nothing is enqueued: the fit would run inside the expert's submit; the next visit runs it."""
    now = timezone.now()
    stale = leaderboard_results_reading(campaign_id=campaign_id).filter(requested_at__isnull=True)
    for result in stale.select_related("campaign").only("pk", "kind", "options_key", "campaign"):
        if not _has_default_options(result):
            continue
        marked = LeaderboardResult.objects.filter(pk=result.pk, requested_at__isnull=True).update(requested_at=now)
        if marked and not _tasks_run_in_process():
            _recompute_enqueue_on_commit(result.pk, delay_seconds=RECOMPUTE_DELAY_SECONDS)


def leaderboard_results_mark_stale_on_commit(*, campaign_id: int) -> None:
    transaction.on_commit(lambda: leaderboard_results_mark_stale(campaign_id=campaign_id))


def _recompute_lost(result: LeaderboardResult, *, now) -> bool:
    if result.started_at is not None:
        return result.started_at < now - RECOMPUTE_LOST_AFTER
    return result.requested_at is not None and result.requested_at < now - RECOMPUTE_LOST_AFTER


def leaderboard_result_get_or_request(
    *,
    campaigns: list[Campaign],
    kind: str = LeaderboardResult.Kind.LEADERBOARD,
    target: str = OVERALL,
    source: str = "consensus",
    n_resamples: int = ranking.DEFAULT_RESAMPLES,
    seed: int = ranking.DEFAULT_SEED,
) -> LeaderboardResult:
    """The stored result for these options (the first campaign is the page's, the others pooled with it), as last
    computed (content None before the first computation ends). Asks for a recompute when there is none yet, when
    the judgments changed since (the fingerprint), when it predates the content format, or when an earlier request
    was lost. Without a broker the fit runs here, in the request, as it did before it was stored."""
    campaign, pooled = campaigns[0], campaigns[1:]
    key = leaderboard_result_key(
        kind=kind, campaigns=campaigns, target=target, source=source, n_resamples=n_resamples, seed=seed
    )
    now = timezone.now()
    result, created = LeaderboardResult.objects.get_or_create(
        options_key=key, defaults={"campaign": campaign, "kind": kind, "requested_at": now}
    )
    if created and pooled:
        result.pooled.set(pooled)
    if _tasks_run_in_process():
        if (
            created
            or result.requested_at is not None
            or result.fingerprint != leaderboard_fingerprint(campaigns=campaigns)
        ):
            _compute_here(result)
        return result
    asked = created
    if not asked and not result.recomputing:
        outdated = (result.content or {}).get("version") != RESULT_CONTENT_VERSION
        changed = result.fingerprint != leaderboard_fingerprint(campaigns=campaigns)
        asked = outdated or changed
    if not asked and _recompute_lost(result, now=now):
        asked = True
    if asked and not created:
        # Conditional: of two visits finding the same stale result, one asks.
        asked = LeaderboardResult.objects.filter(
            pk=result.pk, requested_at=result.requested_at, started_at=result.started_at
        ).update(requested_at=now, started_at=None)
    if asked:
        _recompute_enqueue_on_commit(result.pk, delay_seconds=0)
        result.refresh_from_db()
    return result


def _compute_here(result: LeaderboardResult) -> None:
    LeaderboardResult.objects.filter(pk=result.pk).update(requested_at=timezone.now(), started_at=None)
    leaderboard_result_compute(result_id=result.pk)
    result.refresh_from_db()


def leaderboard_result_compute_now(
    *,
    campaigns: list[Campaign],
    target: str = OVERALL,
    source: str = "consensus",
    n_resamples: int = ranking.DEFAULT_RESAMPLES,
    seed: int = ranking.DEFAULT_SEED,
) -> LeaderboardResult:
    """Fit and store the leaderboard in this process, whether a broker runs or not (`manage.py leaderboard`): the
    page then answers from it. The first campaign is the one the result belongs to, the others pooled with it."""
    key = leaderboard_result_key(
        kind=LeaderboardResult.Kind.LEADERBOARD,
        campaigns=campaigns,
        target=target,
        source=source,
        n_resamples=n_resamples,
        seed=seed,
    )
    result, created = LeaderboardResult.objects.get_or_create(options_key=key, defaults={"campaign": campaigns[0]})
    if created and campaigns[1:]:
        result.pooled.set(campaigns[1:])
    _compute_here(result)
    if result.error:
        raise RuntimeError(f"the leaderboard could not be fitted: {result.error}")
    return result


def _content_build(result: LeaderboardResult, campaigns: list[Campaign]) -> dict:
    if result.kind == LeaderboardResult.Kind.RELIABILITY:
        reliabilities = expert_reliability_for(campaigns=campaigns)
        return {"version": RESULT_CONTENT_VERSION, "reliability": reliabilities.as_stored()}
    _, _, target, source, n_resamples, seed = result.options_key.split("|")
    board = leaderboard_for(
        campaigns=campaigns, target=target, source=source, n_resamples=int(n_resamples), seed=int(seed)
    )
    return {
        "version": RESULT_CONTENT_VERSION,
        "leaderboard": board.as_stored(),
        "charts": {"scores": plots.scores_chart(board.ranking), "win_rate": plots.win_rate_heatmap(board.ranking)},
    }


def leaderboard_result_compute(*, result_id: int) -> bool:
    """Recompute a requested result and store it. False when there was no request to serve: the task was
    delivered twice, or another worker took the request.

    The request is cleared before the data is read, so a change committed during the fit requests (and enqueues)
    the next one; a computation that finishes after a newer one never overwrites it."""
    started = timezone.now()
    claimed = LeaderboardResult.objects.filter(pk=result_id, requested_at__isnull=False).update(
        requested_at=None, started_at=started
    )
    if not claimed:
        return False
    result = LeaderboardResult.objects.select_related("campaign").get(pk=result_id)
    campaigns = [result.campaign, *result.pooled.order_by("pk")]
    try:
        fingerprint = leaderboard_fingerprint(campaigns=campaigns)
        content = _content_build(result, campaigns)
    except Exception as error:
        # Kept on the row and shown on the page; not raised: without a broker this runs inside a page request.
        logger.exception("leaderboard result %s (%s) failed", result_id, result.options_key)
        LeaderboardResult.objects.filter(pk=result_id, started_at=started).update(
            started_at=None, error=f"{type(error).__name__}: {error}"
        )
        return False
    LeaderboardResult.objects.filter(Q(computed_at__isnull=True) | Q(computed_at__lt=started), pk=result_id).update(
        content=content, fingerprint=fingerprint, computed_at=started, error=""
    )
    LeaderboardResult.objects.filter(pk=result_id, started_at=started).update(started_at=None)
    return True
