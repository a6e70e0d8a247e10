"""Writes: endpoints, jobs (create, start, cancel, resume), the per-item distillation step, critiques and their audit.

Exports: curators accept critiques with `critique_accept(critique=..., curator=..., text=None)` (an edit when
`text` is given); `distillation.selectors.critiques_for_export` then returns them. Tests outside this app can
make an accepted critique of a pair with `distillation.tests.factories.accepted_critique_create`.

The per-item step (`item_distill`) is what the Celery task runs; it is idempotent:
- it claims the item with a conditional update (pending -> running); a second delivery finds nothing to claim;
- each sample is a Generation cached by (item_key, prompt_version, model, sample_index): a finished one is never
  asked for again, by this job or any other, and a call in flight is claimed so that no second worker repeats it
  (a claim older than the endpoint's timeout plus a grace period belongs to a dead worker and may be taken over);
- transient failures (429, 5xx, timeouts, malformed responses, a busy endpoint) put the item back to pending and
  raise RetryLater with the delay (exponential backoff with jitter, never less than Retry-After); after the
  endpoint's max_retries the failure is recorded on the generation and the item, and the job goes on.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from agreement.selectors import consensus_for_campaign
from annotation.models import Campaign, Video
from distillation import prompts
from distillation.client import (
    CallError,
    Completion,
    EndpointConfig,
    PermanentCallError,
    RetryableCallError,
    chat_complete,
)
from distillation.filters import ALIGNMENT, FACTUAL, LEAKAGE, critique_filter, judge_verdict_parse
from distillation.frames import frames_for_video, test_card_frame
from distillation.models import Critique, CritiqueRevision, DistillationItem, DistillationJob, Endpoint, Generation
from distillation.ratelimit import Limits, RateLimitBusy, endpoint_slot
from distillation.secrets import api_key_encrypt
from distillation.selectors import endpoint_api_key, item_filter_context, rubric_spec_for
from pipelines.media import MediaProcessingError
from webapp.queue import enqueue_on_commit

CLAIM_GRACE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 300.0

# --- Endpoints -------------------------------------------------------------------------------------------


def endpoint_create(
    *,
    name: str,
    base_url: str,
    model: str,
    api_key: str = "",
    api_key_env: str = "",
    **settings_,
) -> Endpoint:
    """settings_: max_concurrency, requests_per_minute, timeout_seconds, price_prompt_per_1k,
    price_completion_per_1k, max_tokens, temperature, max_retries, backoff_base_seconds."""
    endpoint = Endpoint(name=name, base_url=base_url, model=model, api_key_env=api_key_env, **settings_)
    if api_key:
        endpoint.api_key_encrypted = api_key_encrypt(api_key)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def endpoint_api_key_set(*, endpoint: Endpoint, api_key: str) -> None:
    """Store a new key encrypted ("" clears it). The key is never readable back through forms, admin or API."""
    endpoint.api_key_encrypted = api_key_encrypt(api_key) if api_key else ""
    endpoint.save(update_fields=["api_key_encrypted"])


def endpoint_update(*, endpoint: Endpoint, changes: dict, api_key: str = "", clear_api_key: bool = False) -> Endpoint:
    """Apply `changes` (name, base_url, model, api_key_env and the settings of endpoint_create). The key is
    write-only: a blank `api_key` keeps the stored one, `clear_api_key` removes it."""
    for field, value in changes.items():
        setattr(endpoint, field, value)
    updated = list(changes)
    if clear_api_key:
        endpoint.api_key_encrypted = ""
        updated.append("api_key_encrypted")
    elif api_key:
        endpoint.api_key_encrypted = api_key_encrypt(api_key)
        updated.append("api_key_encrypted")
    endpoint.full_clean()
    endpoint.save(update_fields=updated)
    return endpoint


def endpoint_config(*, endpoint: Endpoint) -> EndpointConfig:
    return EndpointConfig(
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=endpoint_api_key(endpoint=endpoint),
        timeout_seconds=endpoint.timeout_seconds,
        max_tokens=endpoint.max_tokens,
        temperature=endpoint.temperature,
        price_prompt_per_1k=endpoint.price_prompt_per_1k,
        price_completion_per_1k=endpoint.price_completion_per_1k,
    )


PROBE_TIMEOUT_CAP_SECONDS = 20.0
PROBE_MAX_TOKENS = 300
PROBE_QUESTION = "Describe this image in one sentence."


@dataclass(frozen=True)
class EndpointProbe:
    """What one test call gave: the answer, or the error with a hint at its cause; latency either way."""

    question: str
    answer: str = ""
    error: str = ""
    hint: str = ""
    latency_ms: int = 0
    timeout_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return not self.error


def _probe_hint(error: CallError, *, endpoint: Endpoint) -> str:
    reason = error.reason
    if error.status in (401, 403):
        if endpoint.api_key_env and not endpoint.api_key_is_set:
            return f"The server refused the call, and ${endpoint.api_key_env} is not set where this app runs."
        return "The server refused the API key: enter the key again (or check its environment variable)."
    if error.status == 404:
        return "Nothing at that route or no such model: the base URL usually ends in /v1; check the model name."
    if error.status == 400:
        return "The server rejected the request: does this model accept images (a multimodal model)?"
    if error.status == 429:
        return "The server is rate limiting: lower requests per minute or concurrency, or try again later."
    if error.status is not None and error.status >= 500:
        return "The server failed while answering: look at its logs (out of memory, model still loading)."
    if reason.startswith("timeout"):
        return (
            "No answer in time: the server may be loading the model or overloaded. Jobs wait up to the endpoint's "
            "own timeout; this test waits at most "
            f"{PROBE_TIMEOUT_CAP_SECONDS:g} s."
        )
    if reason.startswith("connection error"):
        return "Nothing answered at that address: is the server running, and reachable from this app's host?"
    if reason.startswith("malformed"):
        return "Something answered, but not with an OpenAI chat completion: is this the right base URL?"
    return ""


def endpoint_probe(*, endpoint: Endpoint, question: str = PROBE_QUESTION) -> EndpointProbe:
    """Send one frame (the test card) and a short question through the real client; saves nothing.

    Runs in the caller's request: the timeout is the endpoint's, capped at PROBE_TIMEOUT_CAP_SECONDS, so a server
    that hangs holds the page for seconds, not minutes. The client never retries (see client.py).
    """
    config = endpoint_config(endpoint=endpoint)
    config = replace(
        config,
        timeout_seconds=min(config.timeout_seconds, PROBE_TIMEOUT_CAP_SECONDS),
        max_tokens=min(config.max_tokens, PROBE_MAX_TOKENS),
    )
    messages = [{"role": "user", "content": [{"type": "text", "text": question}, test_card_frame().image_part()]}]
    started = time.monotonic()
    try:
        completion = chat_complete(config=config, messages=messages)
    except CallError as error:
        return EndpointProbe(
            question=question,
            error=error.reason,
            hint=_probe_hint(error, endpoint=endpoint),
            latency_ms=round((time.monotonic() - started) * 1000),
            timeout_seconds=config.timeout_seconds,
        )
    return EndpointProbe(
        question=question,
        answer=completion.text,
        latency_ms=round(completion.latency_seconds * 1000),
        timeout_seconds=config.timeout_seconds,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
    )


# --- Jobs ------------------------------------------------------------------------------------------------


def _item_key(*, subject: str, labels: dict, tone: str, score: float | None = None) -> str:
    """The item's cache identity: its pair or video and a digest of what the prompt says about it."""
    digest = hashlib.sha256(json.dumps([labels, tone, score], sort_keys=True).encode()).hexdigest()[:16]
    return f"{subject}:{digest}"


@transaction.atomic
def job_create(
    *,
    campaign: Campaign,
    endpoint: Endpoint,
    created_by=None,
    samples: int = 1,
    judge_endpoint: Endpoint | None = None,
    frames_fps: float = 1.0,
    frames_max: int = 8,
    frames_short_side: int = 256,
    alignment_mode: str = DistillationJob.AlignmentMode.DIMENSIONS,
    min_criteria_share: float = 0.8,
    pair_ids: list[int] | None = None,
    scores: dict[int, float] | None = None,
) -> DistillationJob:
    """A job over the campaign's consensus-labelled pairs (adjudicated labels win); pairs whose dimensions are
    not all labelled are left out. With `scores` ({video id: score in [0, 1]}) the items are those videos instead,
    critiqued one at a time with the score private and the tone by bin. Nothing is enqueued: see job_start."""
    kind = DistillationJob.Kind.SCORES if scores is not None else DistillationJob.Kind.PAIRS
    job = DistillationJob(
        kind=kind,
        campaign=campaign,
        endpoint=endpoint,
        judge_endpoint=judge_endpoint,
        created_by=created_by,
        samples=samples,
        frames_fps=frames_fps,
        frames_max=frames_max,
        frames_short_side=frames_short_side,
        alignment_mode=alignment_mode,
        min_criteria_share=min_criteria_share,
        prompt_version=prompts.prompt_version_for(
            kind=kind, fps=frames_fps, max_frames=frames_max, short_side=frames_short_side
        ),
    )
    job.full_clean()
    job.save()
    items = _score_items(job=job, scores=scores) if scores is not None else []
    pairs = consensus_for_campaign(campaign=campaign) if scores is None else {}
    for pair_id, consensus in sorted(pairs.items()):
        if pair_ids is not None and pair_id not in pair_ids:
            continue
        labels = consensus.labels()
        if not labels["dimensions"] or any(value is None for value in labels["dimensions"].values()):
            continue
        tone = prompts.tone_for_pair(
            dimension_labels=labels["dimensions"],
            dimension_votes={code: value.votes for code, value in consensus.dimensions.items()},
        )
        items.append(
            DistillationItem(
                job=job,
                pair_id=pair_id,
                labels=labels,
                tone=tone,
                item_key=_item_key(subject=f"pair:{pair_id}", labels=labels, tone=tone),
            )
        )
    DistillationItem.objects.bulk_create(items)
    job.total_items = len(items)
    job.started_at = timezone.now()
    if not items:
        job.status = DistillationJob.Status.DONE
        job.finished_at = job.started_at
    job.save(update_fields=["total_items", "started_at", "status", "finished_at"])
    return job


def _score_items(*, job: DistillationJob, scores: dict[int, float]) -> list[DistillationItem]:
    videos = set(Video.objects.filter(pk__in=list(scores)).values_list("pk", flat=True))
    # Rights are per campaign: a job sends to the endpoint only videos of its own campaign's pairs.
    in_campaign = set(
        Video.objects.filter(pk__in=videos)
        .filter(Q(pairs_as_a__campaign=job.campaign_id) | Q(pairs_as_b__campaign=job.campaign_id))
        .values_list("pk", flat=True)
    )
    problems = [f"video {video_id} does not exist" for video_id in scores if int(video_id) not in videos]
    problems += [f"video {video_id} is not in campaign {job.campaign.name}" for video_id in videos - in_campaign]
    problems += [f"video {video_id}: score {score} is outside [0, 1]" for video_id, score in scores.items()
                 if not 0.0 <= float(score) <= 1.0]  # fmt: skip
    if problems:
        raise ValidationError({"scores": problems})
    items = []
    for video_id, score in sorted(scores.items()):
        labels = {"score": round(float(score), 4)}
        tone = prompts.tone_for_score(float(score))
        items.append(
            DistillationItem(
                job=job, video_id=int(video_id), score=float(score), labels=labels, tone=tone,
                item_key=_item_key(subject=f"video:{int(video_id)}", labels=labels, tone=tone),
            )
        )  # fmt: skip
    return items


def item_reference(item: DistillationItem) -> str:
    """How prompts (and logs, and test servers) name an item: pair-<pair's database id>, or v<video id>. Never the
    pair's external id, which can name the generators."""
    return prompts.pair_reference(item.pair_id) if item.pair_id else f"v{item.video_id}"


def job_enqueue(*, job: DistillationJob) -> int:
    """After commit, one task per pending item, sent as a Celery group. Returns how many items were queued.

    A group rather than a chord: completion is detected by the items themselves (job_finish_if_complete), which
    survives a killed worker and a resume, where a chord's counter would not. When the queue is unreachable the
    job is cancelled, its items carrying the reason, and QueueUnavailable comes out of the commit: nothing is left
    "running" with no task behind it, and Resume sends it again once the queue is back. (A task of the group that
    did get out finds the job cancelled and does nothing.)
    """
    from celery import group

    from distillation.tasks import item_distill_task

    item_ids = list(job.items.filter(status=DistillationItem.Status.PENDING).values_list("id", flat=True))
    if item_ids:
        enqueue_on_commit(
            group(item_distill_task.s(item_id) for item_id in item_ids),
            undo=lambda reason: job_cancel(job=job, reason=reason),
        )
    return len(item_ids)


def scores_parse(*, lines: Iterable[str], source: str = "scores") -> dict[int, float]:
    """JSONL lines of {"video_id": ID, "score": S} -> {video id: score}; a bad line raises ValidationError naming it.
    Whether the videos exist and the scores lie in [0, 1] is checked when the job is created."""
    scores: dict[int, float] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            scores[int(record["video_id"])] = float(record["score"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValidationError(f'{source}:{number}: expected {{"video_id": ID, "score": S}} ({error})') from error
    if not scores:
        raise ValidationError(f"{source}: no scores in the file")
    return scores


def job_start(*, campaign: Campaign, endpoint: Endpoint, created_by=None, **options) -> DistillationJob:
    with transaction.atomic():
        job = job_create(campaign=campaign, endpoint=endpoint, created_by=created_by, **options)
        job_enqueue(job=job)
    return job


@transaction.atomic
def job_cancel(*, job: DistillationJob, reason: str = "") -> bool:
    """Stop handing out items: pending ones become cancelled (with `reason`, when given); calls already in flight
    finish and are kept."""
    changed = DistillationJob.objects.filter(pk=job.pk, status=DistillationJob.Status.RUNNING).update(
        status=DistillationJob.Status.CANCELLED, finished_at=timezone.now()
    )
    cancelled = {"status": DistillationItem.Status.CANCELLED} | ({"error": reason} if reason else {})
    job.items.filter(status=DistillationItem.Status.PENDING).update(**cancelled)
    job.refresh_from_db(fields=["status", "finished_at"])
    return bool(changed)


@transaction.atomic
def job_resume(*, job: DistillationJob) -> int:
    """Put every unfinished item (cancelled, failed, or left running by a lost worker) back in the queue.

    Finished generations are cached, so only the missing samples are asked for; failed ones are tried again.
    An item still running in a live worker is harmless to requeue: its generation claim makes the requeued task
    wait for the claim's lease.
    """
    DistillationJob.objects.filter(pk=job.pk).update(status=DistillationJob.Status.RUNNING, finished_at=None)
    unfinished = job.items.filter(
        status__in=[DistillationItem.Status.CANCELLED, DistillationItem.Status.FAILED, DistillationItem.Status.RUNNING]
    )
    # Failed calls get a fresh set of retries (the key or the server may have been fixed); finished ones stay cached.
    Generation.objects.filter(item_key__in=unfinished.values("item_key"), status=Generation.Status.FAILED).update(
        status=Generation.Status.PENDING, attempts=0, error=""
    )
    unfinished.update(status=DistillationItem.Status.PENDING, error="")
    job.refresh_from_db()
    queued = job_enqueue(job=job)
    if not queued:
        job_finish_if_complete(job_id=job.pk)
    return queued


def job_finish_if_complete(*, job_id: int) -> bool:
    unfinished = DistillationItem.objects.filter(
        job_id=job_id, status__in=[DistillationItem.Status.PENDING, DistillationItem.Status.RUNNING]
    )
    if unfinished.exists():
        return False
    return bool(
        DistillationJob.objects.filter(pk=job_id, status=DistillationJob.Status.RUNNING).update(
            status=DistillationJob.Status.DONE, finished_at=timezone.now()
        )
    )


# --- One item --------------------------------------------------------------------------------------------


class RetryLater(Exception):
    """The item went back to pending; run it again after `delay` seconds."""

    def __init__(self, reason: str, delay: float):
        super().__init__(f"{reason}; retry in {delay:.2f} s")
        self.reason = reason
        self.delay = delay


def backoff_delay(*, attempt: int, base_seconds: float, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (half fixed, half random), never shorter than the server's Retry-After."""
    ceiling = min(base_seconds * (2 ** max(attempt - 1, 0)), BACKOFF_CAP_SECONDS)
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass
class _ItemMessages:
    """Frames are sampled at most once per item run, and only if some sample still needs a call."""

    item: DistillationItem
    messages: list[dict] | None = None

    def get(self) -> list[dict]:
        if self.messages is None:
            job, pair = self.item.job, self.item.pair
            frame_options = {"fps": job.frames_fps, "max_frames": job.frames_max, "short_side": job.frames_short_side}
            if pair is None:
                self.messages = prompts.score_messages(
                    video_prompt=self.item.video.prompt,
                    score=self.item.score,
                    frames=frames_for_video(self.item.video, **frame_options),
                    reference=item_reference(self.item),
                )
                return self.messages
            self.messages = prompts.pair_messages(
                rubric=rubric_spec_for(rubric=job.campaign.rubric),
                video_prompt=pair.prompt,
                labels=self.item.labels,
                tone=self.item.tone,
                frames_a=frames_for_video(pair.video_a, **frame_options),
                frames_b=frames_for_video(pair.video_b, **frame_options),
                reference=item_reference(self.item),
            )
        return self.messages


def _generation_claim(*, generation: Generation, lease_seconds: float) -> bool:
    stale_before = timezone.now() - timedelta(seconds=lease_seconds)
    return bool(
        Generation.objects.filter(pk=generation.pk)
        .filter(Q(status=Generation.Status.PENDING) | Q(status=Generation.Status.CLAIMED, claimed_at__lt=stale_before))
        .update(status=Generation.Status.CLAIMED, claimed_at=timezone.now(), attempts=F("attempts") + 1)
    )


def _generation_store(*, generation: Generation, completion: Completion, endpoint: Endpoint) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.DONE,
        endpoint=endpoint,
        raw_text=completion.text,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost=completion.cost,
        latency_seconds=completion.latency_seconds,
        finish_reason=completion.finish_reason,
        error="",
        completed_at=timezone.now(),
    )


def generation_run(
    *,
    endpoint: Endpoint,
    item_key: str,
    prompt_version: str,
    sample_index: int,
    messages,
    purpose: str = "critique",
) -> Generation:
    """The cached result of one call, calling the endpoint only when no finished result exists.

    `messages` is a list or a callable returning one (built lazily). Raises RetryableCallError (the generation
    goes back to pending) or RateLimitBusy; records a PermanentCallError, or a retryable one past max_retries,
    as a failed generation.
    """
    generation, _ = Generation.objects.get_or_create(
        item_key=item_key,
        prompt_version=prompt_version,
        model=endpoint.model,
        sample_index=sample_index,
        purpose=purpose,
        defaults={"endpoint": endpoint},
    )
    if generation.status in (Generation.Status.DONE, Generation.Status.FAILED):
        return generation
    limits = Limits(
        endpoint_id=endpoint.pk,
        max_concurrency=endpoint.max_concurrency,
        requests_per_minute=endpoint.requests_per_minute,
        lease_seconds=endpoint.timeout_seconds + CLAIM_GRACE_SECONDS,
    )
    lease = endpoint.timeout_seconds + CLAIM_GRACE_SECONDS
    built = messages() if callable(messages) else messages
    with endpoint_slot(limits):
        if not _generation_claim(generation=generation, lease_seconds=lease):
            generation.refresh_from_db()
            if generation.status in (Generation.Status.DONE, Generation.Status.FAILED):
                return generation
            raise RetryableCallError("another worker is making this call", retry_after=lease)
        try:
            completion = chat_complete(config=endpoint_config(endpoint=endpoint), messages=built, seed=sample_index)
        except RetryableCallError as error:
            generation.refresh_from_db(fields=["attempts"])
            final = generation.attempts > endpoint.max_retries
            Generation.objects.filter(pk=generation.pk).update(
                status=Generation.Status.FAILED if final else Generation.Status.PENDING,
                error=error.reason,
                claimed_at=None,
            )
            if final:
                generation.refresh_from_db()
                return generation
            error.attempt = generation.attempts
            raise
        except PermanentCallError as error:
            Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.FAILED, error=error.reason)
            generation.refresh_from_db()
            return generation
    _generation_store(generation=generation, completion=completion, endpoint=endpoint)
    generation.refresh_from_db()
    return generation


def item_distill(*, item_id: int) -> str:
    """Run one item: K samples (cached), parse, filter, record every critique, choose the most consistent.

    Returns "done", "failed", "cancelled" or "skipped" (not pending: finished, or another worker has it).
    Raises RetryLater when a call should be tried again later.
    """
    item = DistillationItem.objects.select_related(
        "job__endpoint", "job__judge_endpoint", "job__campaign__rubric", "job__campaign__checklist",
        "pair__video_a", "pair__video_b", "video",
    ).get(pk=item_id)  # fmt: skip
    job = item.job
    if job.status == DistillationJob.Status.CANCELLED:
        DistillationItem.objects.filter(pk=item.pk, status=DistillationItem.Status.PENDING).update(
            status=DistillationItem.Status.CANCELLED
        )
        return "cancelled"
    claimed = DistillationItem.objects.filter(pk=item.pk, status=DistillationItem.Status.PENDING).update(
        status=DistillationItem.Status.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
    )
    if not claimed:
        return "skipped"

    messages = _ItemMessages(item=item)
    generations: list[Generation] = []
    critiques: list[Critique] = []
    try:
        for sample_index in range(job.samples):
            generations.append(
                generation_run(
                    endpoint=job.endpoint,
                    item_key=item.item_key,
                    prompt_version=job.prompt_version,
                    sample_index=sample_index,
                    messages=messages.get,
                )
            )
        context = item_filter_context(item=item)
        critiques = [
            critique_record(item=item, sample_index=generation.sample_index, text=generation.raw_text,
                            generation=generation, context=context)
            for generation in generations
            if generation.status == Generation.Status.DONE
        ]  # fmt: skip
        if job.judge_endpoint_id:
            for critique in critiques:
                _critique_judge(critique=critique, job=job, context=context)
    except (RetryableCallError, RateLimitBusy) as error:
        reason = error.reason if isinstance(error, RetryableCallError) else str(error)
        retry_after = error.retry_after
        attempt = getattr(error, "attempt", 0)
        DistillationItem.objects.filter(pk=item.pk).update(status=DistillationItem.Status.PENDING, error=reason)
        raise RetryLater(
            reason,
            backoff_delay(attempt=attempt, base_seconds=job.endpoint.backoff_base_seconds, retry_after=retry_after)
            if attempt
            else (retry_after or 0.5),
        ) from error
    except (MediaProcessingError, OSError) as error:
        # The frames could not be read: record it on the item rather than retry forever.
        _item_finish(item=item, status=DistillationItem.Status.FAILED, error=f"frames: {error}")
        return "failed"

    _choose_most_consistent(critiques=critiques)
    failures = [f"sample {g.sample_index}: {g.error}" for g in generations if g.status == Generation.Status.FAILED]
    if critiques:
        _item_finish(item=item, status=DistillationItem.Status.DONE, error="; ".join(failures))
        return "done"
    _item_finish(item=item, status=DistillationItem.Status.FAILED, error="; ".join(failures) or "no samples")
    return "failed"


def _facts_text(context) -> str:
    lines = []
    for side, facts in context.facts.items():
        known = ", ".join(
            f"{name.replace('_', ' ')}: {'yes' if value else 'no'}" for name, value in facts.checklist.items()
        )
        lines.append(
            f"Video {side}: {facts.duration_seconds:g} s, {facts.width}x{facts.height}, {facts.fps:g} fps"
            + (f"; {known}" if known else "")
        )
    return "\n".join(lines)


def _critique_judge(*, critique: Critique, job: DistillationJob, context) -> None:
    """The optional LLM-judge pass: a second endpoint reads a critique that passed the deterministic filters and
    may flag leakage or a factual error with a quote. Cached like every call; re-running adds nothing twice."""
    if not critique.passed:
        return
    digest = hashlib.sha256(critique.text.encode()).hexdigest()[:16]
    for purpose in (LEAKAGE, FACTUAL):
        generation = generation_run(
            endpoint=job.judge_endpoint,
            item_key=critique.item.item_key,
            prompt_version=f"{prompts.JUDGE_PROMPT_VERSION}:{digest}",
            sample_index=critique.sample_index,
            purpose=f"judge-{purpose}",
            messages=lambda purpose=purpose: prompts.judge_messages(
                purpose=purpose,
                critique=critique.text,
                reference=item_reference(critique.item),
                facts=_facts_text(context),
            ),
        )
        if generation.status != Generation.Status.DONE:
            continue
        rejection = judge_verdict_parse(answer=generation.raw_text, text=critique.text, filter_name=purpose)
        if rejection is None or rejection.as_dict() in critique.rejections:
            continue
        critique.rejections.append(rejection.as_dict())
        setattr(critique, f"{purpose}_passed", False)
        critique.passed = False
        critique.save(update_fields=["rejections", f"{purpose}_passed", "passed"])


def _item_finish(*, item: DistillationItem, status: str, error: str) -> None:
    DistillationItem.objects.filter(pk=item.pk).update(status=status, error=error, finished_at=timezone.now())
    job_finish_if_complete(job_id=item.job_id)


def _choose_most_consistent(*, critiques: list[Critique]) -> Critique | None:
    """Self-consistency: among the candidates that passed every filter, prefer the one agreeing most with the
    experts, then with the other samples' majority verdicts; ties go to the earliest sample."""
    candidates = [critique for critique in critiques if critique.passed]
    if not candidates:
        return None
    majority: dict[str, int] = {}
    votes: dict[str, Counter] = {}
    for critique in critiques:
        for code, verdict in ((critique.parsed or {}).get("criteria") or {}).items():
            votes.setdefault(code, Counter())[verdict] += 1
    majority = {code: counter.most_common(1)[0][0] for code, counter in votes.items()}

    def agreement_with_samples(critique: Critique) -> float:
        criteria = (critique.parsed or {}).get("criteria") or {}
        return sum(majority.get(code) == verdict for code, verdict in criteria.items()) / max(len(criteria), 1)

    best = max(candidates, key=lambda c: (c.consistency or 0.0, agreement_with_samples(c), -c.sample_index))
    Critique.objects.filter(item_id=best.item_id).exclude(pk=best.pk).update(chosen=False)
    Critique.objects.filter(pk=best.pk).update(chosen=True)
    best.chosen = True
    return best


# --- Critiques -------------------------------------------------------------------------------------------


def _apply_filters(*, critique: Critique, text: str, context) -> None:
    result = critique_filter(text=text, context=context)
    critique.parsed = result.parsed_verdicts()
    critique.parse_error = result.parse_error
    critique.leakage_passed = result.passed_filter(LEAKAGE)
    critique.alignment_passed = result.passed_filter(ALIGNMENT)
    understood = result.parsed is not None or result.score is not None
    critique.factual_passed = result.passed_filter(FACTUAL) if understood else None
    critique.passed = result.passed
    critique.rejections = [rejection.as_dict() for rejection in result.all_rejections()]
    critique.consistency = result.consistency


def critique_record(
    *, item: DistillationItem, sample_index: int, text: str, generation: Generation | None = None, context=None
) -> Critique:
    """Parse and filter one sample and store it (idempotent: an existing critique of that sample is returned)."""
    existing = Critique.objects.filter(item=item, sample_index=sample_index).first()
    if existing is not None:
        return existing
    critique = Critique(item=item, sample_index=sample_index, generation=generation, raw_text=text, text=text)
    _apply_filters(critique=critique, text=text, context=context or item_filter_context(item=item))
    try:
        with transaction.atomic():
            critique.save()
    except IntegrityError:
        return Critique.objects.get(item=item, sample_index=sample_index)
    return critique


@transaction.atomic
def critique_edit(*, critique: Critique, curator, text: str, seconds_spent: float | None = None) -> Critique:
    """Replace the text (the model's raw text is kept) and re-run the three deterministic filters on it; history is
    kept. The LLM-judge pass is not re-run: the curator who edits is the judge of the edit."""
    critique = Critique.objects.select_for_update().select_related("item__job").get(pk=critique.pk)
    if not text.strip():
        raise ValidationError({"text": "The edited critique is empty."})
    critique.text = text
    critique.edited = text != critique.raw_text
    _apply_filters(critique=critique, text=text, context=item_filter_context(item=critique.item))
    critique.review = Critique.Review.PENDING
    critique.save(
        update_fields=[
            "text", "edited", "parsed", "parse_error", "leakage_passed", "alignment_passed", "factual_passed",
            "passed", "rejections", "consistency", "review",
        ]
    )  # fmt: skip
    CritiqueRevision.objects.create(
        critique=critique, action=CritiqueRevision.Action.EDIT, text=text, user=curator, seconds_spent=seconds_spent
    )
    return critique


@transaction.atomic
def critique_accept(
    *, critique: Critique, curator, text: str | None = None, note: str = "", seconds_spent: float | None = None
) -> Critique:
    """Accept a critique for export, after editing it to `text` when given. Only a critique that passes all three
    filters (after the edit) can be accepted: edit the flagged spans away first."""
    if text is not None and text != Critique.objects.get(pk=critique.pk).text:
        critique = critique_edit(critique=critique, curator=curator, text=text)
    critique = Critique.objects.select_for_update().get(pk=critique.pk)
    if not critique.passed:
        reasons = "; ".join(r["message"] for r in critique.rejections[:3]) or critique.parse_error
        raise ValidationError(f"This critique does not pass the filters ({reasons}); edit it before accepting.")
    return _review_record(
        critique, curator, Critique.Review.ACCEPTED, CritiqueRevision.Action.ACCEPT, note, seconds_spent
    )


@transaction.atomic
def critique_reject(*, critique: Critique, curator, note: str = "", seconds_spent: float | None = None) -> Critique:
    critique = Critique.objects.select_for_update().get(pk=critique.pk)
    return _review_record(
        critique, curator, Critique.Review.REJECTED, CritiqueRevision.Action.REJECT, note, seconds_spent
    )


def _review_record(critique: Critique, curator, review: str, action: str, note: str, seconds_spent) -> Critique:
    """The curator's decision on a critique (locked by the caller), and its line in the history."""
    critique.review = review
    critique.reviewed_by = curator
    critique.reviewed_at = timezone.now()
    critique.save(update_fields=["review", "reviewed_by", "reviewed_at"])
    CritiqueRevision.objects.create(
        critique=critique, action=action, text=critique.text, note=note, user=curator, seconds_spent=seconds_spent
    )
    return critique
