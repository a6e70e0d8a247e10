"""Reads of distillation data.

For exports: `critiques_for_export(campaign=...)` -> {pair_id: accepted critique text} (AesRM-CoT format).
Models: distillation.models.Critique (review = accepted, passed = all three filters), DistillationItem, DistillationJob.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone

from annotation.models import Campaign, ChecklistQuestion, Role, Video
from annotation.selectors import (
    CURATE,
    TRAIN,
    access_campaign,
    campaigns_for,
    check_role_somewhere,
    checklist_answer_sets,
    user_has_role,
)
from distillation.filters import FILTERS, FilterContext, VideoFacts
from distillation.models import Critique, CritiqueRevision, DistillationItem, DistillationJob, Endpoint, Generation
from distillation.prompts import CriterionSpec, DimensionSpec, RubricSpec
from distillation.secrets import api_key_decrypt

# --- Exports ---------------------------------------------------------------------------------------------


def critiques_for_export(*, campaign: Campaign) -> dict[int, str]:
    """pair_id -> the accepted critique text (AesRM-CoT format: <think>…</think><answer>VA: 1, VF: -1, VP: 0</answer>)
    of every pair whose critique passed all three filters AND was accepted by a curator (the edited text if edited).

    When several critiques of a pair were accepted (several samples or jobs), the most recently reviewed wins.
    One query.
    """
    rows = (
        Critique.objects.filter(
            item__job__campaign=campaign,
            item__pair__isnull=False,
            passed=True,
            review=Critique.Review.ACCEPTED,
        )
        .order_by("reviewed_at", "id")
        .values_list("item__pair_id", "text")
    )
    return dict(rows)


def scored_critiques_for_export(*, campaign: Campaign) -> dict[int, str]:
    """video_id -> the accepted critique text ('<think>critique</think><answer>score</answer>') of scored videos
    distilled in this campaign's jobs; the same rules as critiques_for_export. One query."""
    rows = (
        Critique.objects.filter(
            item__job__campaign=campaign, item__video__isnull=False, passed=True, review=Critique.Review.ACCEPTED
        )
        .order_by("reviewed_at", "id")
        .values_list("item__video_id", "text")
    )
    return dict(rows)


# --- Permissions -----------------------------------------------------------------------------------------


# ML engineers of a campaign run its distillation jobs; its curators read them and audit the critiques.
READ_JOBS = (Role.CURATOR, Role.ML_ENGINEER)


def user_can_distill(*, user) -> bool:
    return user_has_role(user=user, roles=READ_JOBS)


def user_can_audit(*, user) -> bool:
    return user_has_role(user=user, roles=CURATE)


# Endpoints belong to no campaign: a curator or ML engineer of any campaign (and staff) adds, tests and edits them.
MANAGE_ENDPOINTS = (Role.CURATOR, Role.ML_ENGINEER)


def user_can_manage_endpoints(*, user) -> bool:
    return user_has_role(user=user, roles=MANAGE_ENDPOINTS)


def check_may_manage_endpoints(*, user) -> None:
    check_role_somewhere(user=user, roles=MANAGE_ENDPOINTS, action="add, test or edit distillation endpoints")


def access_endpoint(*, user, endpoint_id: int) -> Endpoint:
    check_may_manage_endpoints(user=user)
    return get_object_or_404(Endpoint, pk=endpoint_id)


def campaigns_for_jobs(*, user) -> QuerySet[Campaign]:
    """Campaigns whose distillation jobs the user may start."""
    return campaigns_for(user=user, roles=TRAIN)


def access_campaign_for_job(*, user, campaign_id: int) -> Campaign:
    return access_campaign(user=user, campaign_id=campaign_id, roles=TRAIN, action="run its distillation jobs")


def access_job(*, user, job_id: int, write: bool = False) -> DistillationJob:
    """A job of a campaign where the user is a curator or ML engineer (`write`, to cancel or resume: ML engineer)."""
    job = get_object_or_404(DistillationJob.objects.select_related("campaign", "endpoint"), pk=job_id)
    if write:
        access_campaign_for_job(user=user, campaign_id=job.campaign_id)
    else:
        access_campaign(user=user, campaign_id=job.campaign_id, roles=READ_JOBS, action="see its distillation jobs")
    return job


def access_critique(*, user, critique_id: int) -> Critique:
    critique = get_object_or_404(
        Critique.objects.select_related(
            "item__job__endpoint", "item__job__campaign", "item__pair__video_a", "item__pair__video_b", "item__video"
        ),
        pk=critique_id,
    )
    access_campaign(user=user, campaign_id=critique.item.job.campaign_id, roles=CURATE, action="audit its critiques")
    return critique


# --- Endpoint secrets --------------------------------------------------------------------------------------


def endpoints_all() -> QuerySet[Endpoint]:
    return Endpoint.objects.order_by("name")


def endpoint_api_key(*, endpoint: Endpoint) -> str:
    """The key to send: the named environment variable if configured, else the stored encrypted key."""
    if endpoint.api_key_env:
        return os.environ.get(endpoint.api_key_env, "")
    return api_key_decrypt(endpoint.api_key_encrypted)


API_KEY_SHOWN_CHARACTERS = 4
API_KEY_SHORTEST_HINTED = 12  # below this, four characters would give away too much of the key


def endpoint_api_key_hint(*, endpoint: Endpoint) -> str:
    """How the key is shown back: where it comes from and its last four characters, never more."""
    key = endpoint_api_key(endpoint=endpoint)
    ending = f"ending in …{key[-API_KEY_SHOWN_CHARACTERS:]}" if len(key) >= API_KEY_SHORTEST_HINTED else "set"
    if endpoint.api_key_env:
        return f"from ${endpoint.api_key_env}, {ending}" if key else f"${endpoint.api_key_env} is not set here"
    if endpoint.api_key_encrypted and not key:
        return "unreadable (stored under another SECRET_KEY): enter it again"
    return ending if key else "not set"


# --- Rubric and facts ------------------------------------------------------------------------------------


def rubric_spec_for(*, rubric) -> RubricSpec:
    dimensions = list(rubric.dimensions.prefetch_related("criteria").order_by("order", "code"))
    return RubricSpec(
        dimensions=tuple(DimensionSpec(code=d.code, name=d.name, description=d.description) for d in dimensions),
        criteria=tuple(
            CriterionSpec(code=c.code, name=c.name, definition=c.definition, dimension=d.code)
            for d in dimensions
            for c in sorted(d.criteria.all(), key=lambda criterion: (criterion.order, criterion.code))
        ),
        guidance=(rubric.description or ""),
    )


# (sub_dimension, level) of the checklist question behind each fact the factual filter checks.
CHECKLIST_FACTS = {
    "camera_moves": ("Camera motion dynamic", 1),  # "Is the camera motion not static?"
    "has_text": ("Letters", 1),  # "Are there any letters present?"
    "camera_stable": ("Camera stability", 2),  # "Is the camera stable?"
}


def video_facts_for(*, videos: list[Video], campaign: Campaign) -> dict[int, VideoFacts]:
    """Metadata and the majority of the campaign's experts' checklist answers (yes/no; ties and n/a left out),
    per video id."""
    questions: dict[int, str] = {}
    if campaign.checklist_id is not None:
        wanted = {value: fact for fact, value in CHECKLIST_FACTS.items()}
        checklist_questions = ChecklistQuestion.objects.filter(checklist_id=campaign.checklist_id)
        for question in checklist_questions.only("id", "sub_dimension", "level"):
            fact = wanted.get((question.sub_dimension, question.level))
            if fact:
                questions[question.id] = fact
    counts: dict[tuple[int, str], Counter] = defaultdict(Counter)
    if questions:
        sets = checklist_answer_sets(campaign=campaign, video_ids=[video.id for video in videos])
        for row, video_id in enumerate(sets.video_ids.tolist()):
            for question_id, answer in sets.answers_of(row).items():
                if question_id in questions:
                    counts[(video_id, questions[question_id])][answer] += 1
    facts = {}
    for video in videos:
        checklist_facts = {}
        for fact in CHECKLIST_FACTS:
            tally = counts.get((video.id, fact), Counter())
            if tally["yes"] != tally["no"]:
                checklist_facts[fact] = tally["yes"] > tally["no"]
        facts[video.id] = VideoFacts(
            duration_seconds=video.duration_seconds,
            width=video.width,
            height=video.height,
            fps=video.fps,
            checklist=checklist_facts,
        )
    return facts


def item_filter_context(*, item: DistillationItem) -> FilterContext:
    job = item.job
    rubric = rubric_spec_for(rubric=job.campaign.rubric)
    if item.pair_id:
        pair = item.pair
        facts = video_facts_for(videos=[pair.video_a, pair.video_b], campaign=job.campaign)
        by_side = {"A": facts[pair.video_a_id], "B": facts[pair.video_b_id]}
    else:
        facts = video_facts_for(videos=[item.video], campaign=job.campaign)
        by_side = {"V": facts[item.video_id]}
    return FilterContext(
        labels=item.labels,
        score=item.score,
        facts=by_side,
        criteria_codes=rubric.criterion_codes if item.pair_id else (),
        alignment_mode=job.alignment_mode,
        min_criteria_share=job.min_criteria_share,
    )


# --- Progress --------------------------------------------------------------------------------------------


@dataclass
class JobProgress:
    total: int
    done: int
    failed: int
    cancelled: int
    running: int
    pending: int
    critiques: int
    passed: int
    rejected_by: dict[str, int]
    unparseable: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    calls: int
    eta_seconds: float | None
    reviewed: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.cancelled

    @property
    def percent(self) -> int:
        return int(100 * self.finished / self.total) if self.total else 100


def job_progress(*, job: DistillationJob) -> JobProgress:
    """Counts for the live job page; tokens and cost are of the calls this job's items used (cached or not)."""
    statuses = dict(job.items.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    critique_counts = Critique.objects.filter(item__job=job).aggregate(
        total=Count("id"),
        passed=Count("id", filter=Q(passed=True)),
        leakage=Count("id", filter=Q(leakage_passed=False)),
        alignment=Count("id", filter=Q(alignment_passed=False)),
        factual=Count("id", filter=Q(factual_passed=False)),
        unparseable=Count("id", filter=~Q(parse_error="")),
        accepted=Count("id", filter=Q(review=Critique.Review.ACCEPTED)),
        rejected=Count("id", filter=Q(review=Critique.Review.REJECTED)),
    )
    calls = Q(prompt_version=job.prompt_version, model=job.endpoint.model, sample_index__lt=job.samples)
    calls &= Q(purpose="critique")
    if job.judge_endpoint_id:
        calls |= Q(purpose__startswith="judge-", model=job.judge_endpoint.model, sample_index__lt=job.samples)
    usage = Generation.objects.filter(
        calls, item_key__in=job.items.values("item_key"), status=Generation.Status.DONE
    ).aggregate(
        prompt_tokens=Sum("prompt_tokens"), completion_tokens=Sum("completion_tokens"), cost=Sum("cost"), n=Count("id")
    )
    done = statuses.get(DistillationItem.Status.DONE, 0)
    failed = statuses.get(DistillationItem.Status.FAILED, 0)
    cancelled = statuses.get(DistillationItem.Status.CANCELLED, 0)
    total = job.total_items
    eta = None
    finished = done + failed
    if job.status == DistillationJob.Status.RUNNING and job.started_at and finished and total > finished + cancelled:
        elapsed = (timezone.now() - job.started_at).total_seconds()
        eta = elapsed / finished * (total - finished - cancelled)
    return JobProgress(
        total=total,
        done=done,
        failed=failed,
        cancelled=cancelled,
        running=statuses.get(DistillationItem.Status.RUNNING, 0),
        pending=statuses.get(DistillationItem.Status.PENDING, 0),
        critiques=critique_counts["total"],
        passed=critique_counts["passed"],
        rejected_by={name: critique_counts[name] for name in FILTERS},
        unparseable=critique_counts["unparseable"],
        prompt_tokens=usage["prompt_tokens"] or 0,
        completion_tokens=usage["completion_tokens"] or 0,
        cost=usage["cost"] or Decimal("0"),
        calls=usage["n"] or 0,
        eta_seconds=eta,
        reviewed={"accepted": critique_counts["accepted"], "rejected": critique_counts["rejected"]},
    )


def jobs_recent(*, user, limit: int = 50) -> QuerySet[DistillationJob]:
    """The latest jobs of the campaigns where the user is a curator or ML engineer."""
    return (
        DistillationJob.objects.filter(campaign__in=campaigns_for(user=user, roles=READ_JOBS))
        .select_related("campaign", "endpoint")
        .order_by("-created_at", "-id")[:limit]
    )


def jobs_for_audit(*, user) -> QuerySet[DistillationJob]:
    return DistillationJob.objects.filter(campaign__in=campaigns_for(user=user, roles=CURATE)).order_by("-id")


# --- Audit -----------------------------------------------------------------------------------------------

FILTER_VERDICTS = ("passed", "leakage", "alignment", "factual", "unparseable")


def audit_queue(
    *,
    user,
    verdict: str = "",
    review: str = Critique.Review.PENDING,
    endpoint_id: int | None = None,
    job_id: int | None = None,
) -> QuerySet[Critique]:
    """Critiques of the campaigns the user curates, filtered by filter verdict, review state, endpoint and job;
    oldest first."""
    critiques = (
        Critique.objects.filter(item__job__in=jobs_for_audit(user=user))
        .select_related("item__job__endpoint", "item__pair", "item__video")
        .order_by("item__job_id", "id")
    )
    if review:
        critiques = critiques.filter(review=review)
    if verdict == "passed":
        critiques = critiques.filter(passed=True)
    elif verdict in ("leakage", "alignment", "factual"):
        critiques = critiques.filter(**{f"{verdict}_passed": False})
    elif verdict == "unparseable":
        critiques = critiques.exclude(parse_error="")
    if endpoint_id:
        critiques = critiques.filter(item__job__endpoint_id=endpoint_id)
    if job_id:
        critiques = critiques.filter(item__job_id=job_id)
    return critiques


def critique_history(*, critique: Critique) -> QuerySet[CritiqueRevision]:
    return critique.revisions.select_related("user").order_by("created_at", "id")


def highlighted_segments(*, text: str, rejections: list[dict]) -> list[dict]:
    """The text cut into plain and flagged segments for the audit page: [{"text", "flags": [rejection, ...]}]."""
    cuts = {0, len(text)}
    spans = [r for r in rejections if 0 <= r["start"] < r["end"] <= len(text)]
    for rejection in spans:
        cuts.update((rejection["start"], rejection["end"]))
    points = sorted(cuts)
    segments = []
    for start, end in zip(points, points[1:], strict=False):
        flags = [r for r in spans if r["start"] <= start and end <= r["end"]]
        segments.append({"text": text[start:end], "flags": flags, "filters": sorted({r["filter"] for r in flags})})
    return segments


@dataclass(frozen=True)
class AuditThroughput:
    username: str
    actions: int
    accepted: int
    rejected: int
    edited: int
    median_seconds: float | None
    per_hour: float | None


def audit_throughput(*, user, since_days: int = 30) -> list[AuditThroughput]:
    """Per curator, in the campaigns the user curates: audit actions, accept/reject/edit counts, median time per
    critique, critiques per hour."""
    since = timezone.now() - timedelta(days=since_days)
    rows = CritiqueRevision.objects.filter(
        created_at__gte=since, critique__item__job__in=jobs_for_audit(user=user)
    ).values_list("user__username", "action", "seconds_spent", "critique_id")
    by_user: dict[str, list] = defaultdict(list)
    for row in rows:
        by_user[row[0]].append(row[1:])
    result = []
    for username, actions in sorted(by_user.items()):
        times = sorted(seconds for _, seconds, _ in actions if seconds)
        median = times[len(times) // 2] if times else None
        decided = {critique for action, _, critique in actions if action in ("accept", "reject")}
        result.append(
            AuditThroughput(
                username=username,
                actions=len(actions),
                accepted=sum(action == "accept" for action, _, _ in actions),
                rejected=sum(action == "reject" for action, _, _ in actions),
                edited=sum(action == "edit" for action, _, _ in actions),
                median_seconds=median,
                per_hour=(3600 * len(decided) / sum(times)) if times and sum(times) else None,
            )
        )
    return result
