"""Reads of the annotation data, with permission checks where a user may not own the object."""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import NamedTuple

import numpy as np
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from annotation.checklist import PACKED, UNANSWERED, checklist_unpack
from annotation.model_queue import DISPUTED, UNCERTAIN
from annotation.models import (
    Assignment,
    Campaign,
    CampaignMembership,
    ChecklistAnswer,
    ChecklistQuestion,
    Dimension,
    PairFlag,
    PairJudgment,
    Role,
    TimedComment,
    Video,
    VideoPair,
)

# --- Rights -------------------------------------------------------------------------------------------
# Rights come from campaign memberships only: a role is held in one campaign, never globally. Staff hold every
# role everywhere. The auth groups named after the roles grant nothing.

JUDGE = (Role.EXPERT,)
CURATE = (Role.CURATOR,)  # lock, adjudicate, gold, audit critiques
INGEST = (Role.CURATOR, Role.ML_ENGINEER)  # upload pairs, read pair and video records
READ_AGREEMENT = (Role.CURATOR, Role.ML_ENGINEER)
EXPORT = (Role.CURATOR, Role.ML_ENGINEER)
TRAIN = (Role.ML_ENGINEER,)  # training, the model registry and playground, distillation jobs

ALL_ROLES = tuple(Role)


def _role_names(roles) -> str:
    """Role labels for a message: "curator", "curator or ML engineer" (lower case but for initialisms)."""
    labels = [Role(role).label for role in roles]
    labels = [label if label[1:2].isupper() else label[0].lower() + label[1:] for label in labels]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def campaigns_for(*, user, roles=ALL_ROLES) -> QuerySet[Campaign]:
    """Campaigns where the user holds one of `roles` (staff: every campaign), by name."""
    campaigns = Campaign.objects.select_related("rubric", "checklist").order_by("name")
    if not user.is_authenticated:
        return campaigns.none()
    if user.is_staff:
        return campaigns
    member = CampaignMembership.objects.filter(campaign=OuterRef("pk"), user=user, role__in=list(roles))
    return campaigns.filter(Exists(member))


def user_has_role(*, user, roles, campaign_id: int | None = None) -> bool:
    """Whether the user holds one of `roles` in that campaign, or in any campaign when none is given (staff: yes)."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    if campaign_id is None:
        return not roles_held_anywhere(user=user).isdisjoint(roles)
    return CampaignMembership.objects.filter(user=user, role__in=list(roles), campaign_id=campaign_id).exists()


def roles_held_anywhere(*, user) -> frozenset[str]:
    """The roles the user holds in some campaign. Read once per user object, so once per request: every page's
    menu asks four times (agreement, distillation, exports, training)."""
    held = user.__dict__.get("_roles_held_anywhere")
    if held is None:
        held = frozenset(CampaignMembership.objects.filter(user=user).values_list("role", flat=True).distinct())
        user.__dict__["_roles_held_anywhere"] = held
    return held


def holds_role(*, user, roles) -> Exists | Value:
    """For annotating campaigns: whether the user holds one of `roles` in the row's campaign (staff: true)."""
    if user.is_staff:
        return Value(True)
    return Exists(CampaignMembership.objects.filter(campaign=OuterRef("pk"), user=user, role__in=list(roles)))


def access_campaign(*, user, campaign_id: int, roles, action: str = "do this") -> Campaign:
    """The campaign if the user holds one of `roles` in it (staff: always); 404 if there is no such campaign,
    403 naming the role needed if there is one but the user lacks the role there."""
    campaign = Campaign.objects.select_related("rubric", "checklist").filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404("No such campaign.")
    if not user_has_role(user=user, roles=roles, campaign_id=campaign.pk):
        raise PermissionDenied(f"Only a {_role_names(roles)} of campaign {campaign.name} can {action}.")
    return campaign


def check_role_somewhere(*, user, roles, action: str) -> None:
    """403 unless the user holds one of `roles` in at least one campaign: pages that list rows of many campaigns."""
    if not user_has_role(user=user, roles=roles):
        raise PermissionDenied(f"Only a {_role_names(roles)} of a campaign can {action}.")


def expert_campaign_ids(*, expert, campaign: Campaign | None = None) -> list[int]:
    return [overlap.campaign_id for overlap in expert_campaign_overlaps(expert=expert, campaign=campaign)]


class CampaignOverlap(NamedTuple):
    """What the queue needs of a campaign: its overlap and, for adaptive overlap, its maximum (None: fixed)."""

    campaign_id: int
    overlap: int
    max_overlap: int | None

    def target(self, *, extra_overlap: int) -> int:
        """As Campaign.overlap_target: the experts a pair gets now."""
        ceiling = self.overlap if self.max_overlap is None else self.max_overlap
        return min(self.overlap + extra_overlap, ceiling)


def expert_campaign_overlaps(*, expert, campaign: Campaign | None = None) -> list[CampaignOverlap]:
    """The overlaps of the active campaigns the expert judges in (only `campaign`, if given)."""
    memberships = CampaignMembership.objects.filter(
        user=expert, role=Role.EXPERT, campaign__status=Campaign.Status.ACTIVE
    )
    if campaign is not None:
        memberships = memberships.filter(campaign=campaign)
    return [
        CampaignOverlap(*row)
        for row in memberships.values_list("campaign_id", "campaign__overlap", "campaign__max_overlap")
    ]


def assignment_open_for(*, expert, campaign_ids: list[int]) -> Assignment | None:
    """The expert's oldest open assignment they have not skipped."""
    return (
        Assignment.objects.filter(
            expert=expert, status=Assignment.Status.ASSIGNED, campaign_id__in=campaign_ids, skipped_at__isnull=True
        )
        .order_by("created_at")
        .first()
    )


def assignment_skipped_for(*, expert, campaign_ids: list[int]) -> Assignment | None:
    """The open assignment the expert skipped longest ago: what they get back once no new pair is waiting."""
    return (
        Assignment.objects.filter(
            expert=expert, status=Assignment.Status.ASSIGNED, campaign_id__in=campaign_ids, skipped_at__isnull=False
        )
        .order_by("skipped_at", "id")
        .first()
    )


PROGRESS_COUNT_LIMIT = 200  # the progress line counts exactly up to this many pairs, then says "over"
PACE_JUDGMENTS = 50  # the pace is the median active time of the expert's latest judgments in the campaign


def _count_up_to(queryset: QuerySet, limit: int) -> tuple[str, tuple]:
    """SQL and parameters counting the rows of `queryset`, stopping after `limit` + 1 of them."""
    sql, params = queryset.values("pk")[: limit + 1].query.sql_with_params()
    return f"(SELECT COUNT(*) FROM ({sql}) AS counted)", params


def assignment_progress(*, assignment: Assignment, count_limit: int | None = None) -> dict:
    """Where the expert stands in the assignment's campaign, read in two queries that touch a bounded number of
    index entries however large the campaign or the expert's history:

    - `remaining`: the pairs left to them, this one included: their open assignments there plus the ready pairs
      still open to them (not full, not theirs);
    - `position` of `total`: `done` (their submitted judgments there) + 1, of `done` + `remaining`;
    - `minutes_left` for the `remaining` pairs at their pace: the median active time of their latest
      PACE_JUDGMENTS submitted judgments there, those with a time (None before the first).

    Each count stops after `count_limit` + 1 rows. Past the limit the exact figure is not read:
    `remaining_over_limit` is set and `remaining`/`minutes_left` are lower bounds; if `done` is past it,
    `position` and `total` are None. The page then says "over 200 pairs left · at least K min at your pace", or
    "N pairs left · about K min left at your pace" when only `done` is past it. `count_limit` defaults to
    PROGRESS_COUNT_LIMIT."""
    count_limit = PROGRESS_COUNT_LIMIT if count_limit is None else count_limit
    expert_here = Assignment.objects.filter(campaign_id=assignment.campaign_id, expert_id=assignment.expert_id)
    ready = Video.Status.READY
    campaign = assignment.campaign
    still_open = (
        pairs_open(campaign_id=campaign.pk, overlap=campaign.overlap, max_overlap=campaign.max_overlap)
        .filter(video_a__status=ready, video_b__status=ready)
        .exclude(Exists(Assignment.objects.filter(pair=OuterRef("pk"), expert_id=assignment.expert_id)))
    )
    counts = [
        _count_up_to(expert_here.filter(status=Assignment.Status.SUBMITTED).order_by(), count_limit),
        _count_up_to(expert_here.filter(status=Assignment.Status.ASSIGNED).order_by(), count_limit),
        # In the queue's order, so that it is read along pair_queue_next like pair_candidates_queryset.
        _count_up_to(still_open.order_by(F("queue_key").desc(), F("model_priority").desc(), "id"), count_limit),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(sql for sql, _ in counts), [param for _, params in counts for param in params]
        )
        done, held_open, still_open_count = cursor.fetchone()
    # Zero times (judgments from before time was tracked) are dropped here, not in SQL: a filter in the query would
    # read past them through the whole history.
    latest_seconds = [
        seconds
        for seconds in expert_here.filter(status=Assignment.Status.SUBMITTED)
        .order_by("-submitted_at")
        .values_list("time_spent_seconds", flat=True)[:PACE_JUDGMENTS]
        if seconds > 0
    ]
    remaining = held_open + still_open_count
    remaining_over_limit = held_open > count_limit or still_open_count > count_limit
    submitted = assignment.status == Assignment.Status.SUBMITTED
    exact_position = done <= count_limit and not remaining_over_limit
    minutes_left = None
    if latest_seconds:
        minutes_left = math.ceil(remaining * statistics.median(latest_seconds) / 60)
    return {
        "position": (done if submitted else done + 1) if exact_position else None,
        "total": done + remaining if exact_position else None,
        "remaining": remaining,
        "remaining_over_limit": remaining_over_limit,
        "minutes_left": minutes_left,
        "count_limit": count_limit,
    }


def pairs_open(*, campaign_id: int, overlap: int, max_overlap: int | None = None) -> QuerySet[VideoPair]:
    """The campaign's pairs with fewer assignments than their target (Campaign.overlap_target), annotated with
    `queue_key` = assigned_count - extra_overlap, the key of the index `pair_queue_next`.

    The overlaps are constants of the query, so "open" is the index range `queue_key < overlap`; an adaptive
    campaign's maximum is one more comparison on the rows read (it only bites on pairs raised past a maximum a
    curator lowered later)."""
    pairs = VideoPair.objects.alias(queue_key=F("assigned_count") - F("extra_overlap")).filter(
        campaign_id=campaign_id, queue_key__lt=overlap
    )
    if max_overlap is not None and max_overlap > overlap:
        pairs = pairs.filter(assigned_count__lt=max_overlap)
    return pairs


def pair_candidates_queryset(
    *, expert, campaign_id: int, overlap: int, max_overlap: int | None = None, limit: int = 20
) -> QuerySet:
    """(id, slots taken, model priority) of the first `limit` pairs of one campaign the expert may take, in the
    queue's order: fewest slots left first (for a fixed overlap: most assignments first), then the highest
    priority from the campaign's queue model (annotation.model_queue; all 0 without one), then by id.

    Index-backed, so it costs the same at 10,000 pairs as at 1,000,000: the overlap is a constant of the query,
    so "open" is a range of the index `pair_queue_next` (campaign, assigned_count - extra_overlap descending,
    model_priority descending, id),
    read in the queue's order and stopped after `limit` pairs (pairs_open); each pair read costs a primary-key
    probe of its two videos and one of the unique (pair, expert) index. Full pairs are never read. Joining the
    campaign for its overlap instead made the planner read every pair of the campaign and both video tables in
    full."""
    ready = Video.Status.READY
    return (
        pairs_open(campaign_id=campaign_id, overlap=overlap, max_overlap=max_overlap)
        .filter(video_a__status=ready, video_b__status=ready)
        .exclude(Exists(Assignment.objects.filter(pair=OuterRef("pk"), expert=expert)))
        .annotate(slots_taken=F("assigned_count") - F("extra_overlap"))
        .order_by("-slots_taken", "-model_priority", "id")
        .values_list("id", "slots_taken", "model_priority")[:limit]
    )


def pair_candidates_for(*, expert, campaign_overlaps: list[CampaignOverlap], limit: int = 20) -> list[int]:
    """Ids of pairs the expert may take next, fewest slots left first, then the queue model's priority, from the
    campaigns given (see pair_candidates_queryset)."""
    queues = [
        pair_candidates_queryset(
            expert=expert,
            campaign_id=campaign.campaign_id,
            overlap=campaign.overlap,
            max_overlap=campaign.max_overlap,
            limit=limit,
        )
        for campaign in campaign_overlaps
    ]
    if not queues:
        return []
    if len(queues) == 1:
        return [pair_id for pair_id, _, _ in queues[0]]
    # Several campaigns: each is read along its own index range, and the union is merged in the queue's order.
    merged = queues[0].union(*queues[1:], all=True).order_by("-slots_taken", "-model_priority", "id")[:limit]
    return [pair_id for pair_id, _, _ in merged]


WORKBENCH_RELATIONS = ("campaign__rubric", "campaign__checklist", "pair__video_a", "pair__video_b", "expert", "flag")


def assignment_access(
    *, user, assignment_id: int, write: bool = False, related: tuple[str, ...] = WORKBENCH_RELATIONS
) -> Assignment:
    """Fetch an assignment the user may see: its expert always, the campaign's curators and staff read-only.
    `related`: the relations read with it (the workbench page's by default; an autosave needs none).

    Anyone else gets a 404, so assignment ids reveal nothing."""
    assignment = Assignment.objects.select_related(*related).filter(pk=assignment_id).first()
    if assignment is None:
        raise Http404("No such assignment.")
    if assignment.expert_id == user.pk:
        return assignment
    if not write and user_has_role(user=user, roles=CURATE, campaign_id=assignment.campaign_id):
        return assignment
    raise Http404("No such assignment.")


def campaign_progress_for(*, expert) -> list[dict]:
    """Per campaign the expert judges: how many they submitted, how many they hold, how many remain."""
    rows = (
        CampaignMembership.objects.filter(user=expert, role=Role.EXPERT)
        .select_related("campaign")
        .annotate(
            done=Count(
                "campaign__assignments",
                filter=Q(
                    campaign__assignments__expert=expert, campaign__assignments__status=Assignment.Status.SUBMITTED
                ),
            ),
            assigned=Count("campaign__assignments", filter=Q(campaign__assignments__expert=expert)),
        )
        .order_by("campaign__name")
    )
    return [{"campaign": row.campaign, "done": row.done, "assigned": row.assigned} for row in rows]


# --- Definitions, cached ----------------------------------------------------------------------------
# A campaign's rubric and checklist are the same for every pair, and a judged rubric never changes; what the
# workbench builds from them (their rows, its markup) is built once and kept in this process and in Django's cache,
# shared by every process and machine. Keys hold the definition's id, version and `changed_at`, which
# annotation.signals moves on every edit of its parts, so an entry is never stale and is never invalidated.

_LOCAL_DEFINITIONS: dict[str, object] = {}
_LOCAL_DEFINITIONS_MAX = 256


def definition_cached(*, definition, purpose: str, build):
    """What `build()` returns for this rubric or checklist (`purpose` names what it is), built at most once per
    version and edit of the definition: from this process's memory, else Django's cache, else built and kept."""
    key = (
        f"aeslab:{type(definition).__name__.lower()}:{definition.pk}:v{definition.version}:"
        f"{definition.changed_at.timestamp():.6f}:{purpose}"
    )
    found = _LOCAL_DEFINITIONS.get(key)
    if found is None:
        found = cache.get(key)
        if found is None:
            found = build()
            cache.set(key, found, timeout=None)
        if len(_LOCAL_DEFINITIONS) >= _LOCAL_DEFINITIONS_MAX:
            _LOCAL_DEFINITIONS.clear()
        _LOCAL_DEFINITIONS[key] = found
    return found


def rubric_structure(*, rubric) -> list[Dimension]:
    """The rubric's dimensions in order, each with its criteria prefetched (cached: definition_cached)."""
    return definition_cached(
        definition=rubric,
        purpose="structure",
        build=lambda: list(rubric.dimensions.prefetch_related("criteria").order_by("order")),
    )


def checklist_questions(*, checklist) -> list[ChecklistQuestion]:
    """The checklist's questions in order, none without a checklist (cached: definition_cached)."""
    if checklist is None:
        return []
    return definition_cached(
        definition=checklist, purpose="questions", build=lambda: list(checklist.questions.order_by("order"))
    )


def checklist_question_ids(*, checklist) -> list[int]:
    """The checklist's question ids, ascending: the order of a judgment's packed answers (checklist_pack)."""
    return sorted(question.pk for question in checklist_questions(checklist=checklist))


def judgment_for(*, assignment: Assignment) -> PairJudgment | None:
    try:
        return assignment.judgment
    except PairJudgment.DoesNotExist:
        return None


# --- Checklist answers ----------------------------------------------------------------------------
# Answers belong to the assignment they were given in. An expert who judged a video in two pairs of one campaign
# holds two sets of answers for it; readers of the campaign take those of the expert's latest submitted assignment.


@dataclass(frozen=True)
class ChecklistAnswerSets:
    """The checklist answers of a campaign that count, one row per (video, expert): `answers[i]` are the packed
    answers (annotation.checklist.PACKED characters as bytes, b"-" unanswered) of `annotator_ids[i]` for
    `video_ids[i]`, one column per id of `question_ids` (the checklist's, ascending)."""

    question_ids: list[int]
    annotator_ids: np.ndarray
    video_ids: np.ndarray
    answers: np.ndarray  # (rows, questions) uint8

    def answers_of(self, row: int) -> dict[int, str]:
        """{question id: answer} of one row, unanswered questions left out."""
        return checklist_unpack(self.question_ids, self.answers[row].tobytes().decode())

    def codes(self, domain: tuple[str, ...]) -> np.ndarray:
        """The answers as indexes into `domain` (answer texts such as "yes"), -1 where unanswered or not in it."""
        lookup = np.full(256, -1, dtype=np.int64)
        for code, answer in enumerate(domain):
            lookup[ord(PACKED[answer])] = code
        return lookup[self.answers]


def checklist_answer_sets(*, campaign: Campaign, video_ids: list[int] | None = None) -> ChecklistAnswerSets:
    """The checklist answers of a campaign that count (of `video_ids` only, if given), one set per (video, expert):
    answers of submitted assignments only, and of the expert's latest submitted assignment showing the video. Every
    reader of a campaign's answers (agreement, exports, leaderboards, distillation) starts from this.

    Read from the judgments' packed answers: one query on the campaign's judgments (the checklist's question ids
    are cached), instead of a row per answer (a 10,000-pair campaign with three experts holds 3.8 million)."""
    question_ids = checklist_question_ids(checklist=campaign.checklist)
    judgments = PairJudgment.objects.filter(
        assignment__campaign_id=campaign.pk, assignment__status=Assignment.Status.SUBMITTED
    )
    wanted = None
    if video_ids is not None:
        wanted = set(video_ids)
        judgments = judgments.filter(
            Q(assignment__pair__video_a_id__any=video_ids) | Q(assignment__pair__video_b_id__any=video_ids)
        )
    # Oldest submit first (one without a time first of all), so a later row of the same expert and video replaces
    # an earlier one: the rule needs no submit times in Python, which cost a datetime each to read.
    latest: dict[tuple[int, int], str] = {}
    for expert_id, video_a_id, video_b_id, packed_a, packed_b in judgments.order_by(
        F("assignment__submitted_at").asc(nulls_first=True), "assignment_id"
    ).values_list(
        "assignment__expert_id",
        "assignment__pair__video_a_id",
        "assignment__pair__video_b_id",
        "checklist_a",
        "checklist_b",
    ):
        for video_id, packed in ((video_a_id, packed_a), (video_b_id, packed_b)):
            if wanted is None or video_id in wanted:
                latest[(expert_id, video_id)] = packed
    kept = [(key, packed) for key, packed in latest.items() if packed]
    width = len(question_ids)
    text = "".join(packed.ljust(width, UNANSWERED)[:width] for _, packed in kept)
    return ChecklistAnswerSets(
        question_ids=question_ids,
        annotator_ids=np.array([expert_id for (expert_id, _), _ in kept], dtype=np.int64),
        video_ids=np.array([video_id for (_, video_id), _ in kept], dtype=np.int64),
        answers=np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(len(kept), width),
    )


def checklist_answers_earlier(*, assignment: Assignment) -> dict[int, dict[int, str]]:
    """For pre-filling the workbench: per video of the assignment's pair, the expert's answers from their latest
    other submitted assignment showing that video, in this campaign first, else in another campaign with the same
    checklist. {video id: {question id: answer}}; videos the expert never answered are left out. One query."""
    campaign = assignment.campaign
    if campaign.checklist_id is None:
        return {}
    rows = (
        ChecklistAnswer.objects.filter(
            annotator_id=assignment.expert_id,
            video_id__in=[assignment.pair.video_a_id, assignment.pair.video_b_id],
            assignment__status=Assignment.Status.SUBMITTED,
            assignment__submitted_at__isnull=False,
            assignment__campaign__checklist_id=campaign.checklist_id,
        )
        .exclude(assignment_id=assignment.pk)
        .values_list(
            "video_id", "assignment_id", "assignment__campaign_id", "assignment__submitted_at", "question_id", "answer"
        )
    )
    answers: dict[tuple[int, int], dict[int, str]] = {}
    best: dict[int, tuple] = {}  # video id -> (preference, assignment id)
    for video_id, source_id, campaign_id, submitted_at, question_id, answer in rows:
        answers.setdefault((video_id, source_id), {})[question_id] = answer
        preference = (campaign_id == campaign.pk, submitted_at, source_id)
        if video_id not in best or preference > best[video_id][0]:
            best[video_id] = (preference, source_id)
    return {video_id: answers[(video_id, source_id)] for video_id, (_, source_id) in best.items()}


def video_file_readable(*, user, name: str) -> bool:
    """Whether `name` (a path under the media folder) is a file of a video the user may read: its proxy or poster
    for members (any role) of a campaign with the video, its original for the campaign's curators and ML engineers
    (an original may carry tags naming its generator), any of them for staff."""
    # Stored names start with the video's sha256 (pipelines.ingest); the unique index finds the row at once.
    stem = PurePosixPath(name).stem
    videos = Video.objects.filter(sha256=stem[:64]) if re.fullmatch(r"[0-9a-f]{64}", stem[:64]) else Video.objects
    if user.is_staff:
        return videos.filter(Q(file=name) | Q(proxy=name) | Q(poster=name)).exists()

    def in_campaigns(roles) -> Q:
        member = CampaignMembership.objects.filter(user=user, role__in=list(roles)).values("campaign_id")
        return Q(pairs_as_a__campaign_id__in=member) | Q(pairs_as_b__campaign_id__in=member)

    shown = (Q(proxy=name) | Q(poster=name)) & in_campaigns(ALL_ROLES)
    original = Q(file=name) & in_campaigns(INGEST)
    return videos.filter(shown | original).exists()


# --- Blind labels ---------------------------------------------------------------------------------------
# Experts judge blind: they never see a pair's id (it often names the generators), a video's source or file name,
# or which video is A. They know an assignment as "Task N", N its rank among their assignments in the campaign.


def _task_numbers() -> QuerySet:
    """A subquery: the rank of the outer assignment among its expert's assignments in its campaign (1, 2, ...)."""
    return (
        Assignment.objects.filter(expert=OuterRef("expert"), campaign=OuterRef("campaign"), pk__lte=OuterRef("pk"))
        .order_by()
        .values("expert")
        .annotate(number=Count("pk"))
        .values("number")
    )


def _task_number() -> Coalesce:
    """The stored task number; counted (a read of the expert's whole history there) only where none was stored."""
    return Coalesce(F("task_number"), Subquery(_task_numbers()))


def assignment_task_number(*, assignment: Assignment) -> int:
    if assignment.task_number is not None:
        return assignment.task_number
    return (
        Assignment.objects.filter(pk=assignment.pk)
        .annotate(number=Subquery(_task_numbers()))
        .values_list("number", flat=True)
        .get()
    )


def assignment_task_number_next(*, expert, campaign_id: int) -> int:
    """One more than the expert's highest task number in the campaign (one entry of the index
    assignment_task_numbers), or than their count of assignments there if none has a number (rows written in
    bulk); one query, as PostgreSQL's COALESCE counts only when there is no number."""
    mine = Assignment.objects.filter(expert=expert, campaign_id=OuterRef("pk"))
    highest = mine.filter(task_number__isnull=False).order_by("-task_number").values("task_number")[:1]
    counted = mine.order_by().values("campaign_id").annotate(number=Count("pk")).values("number")
    last = (
        Campaign.objects.filter(pk=campaign_id)
        .annotate(last=Coalesce(Subquery(highest), Subquery(counted), Value(0)))
        .values_list("last", flat=True)
        .get()
    )
    return last + 1


def assignments_recent_for(*, expert, limit: int = 10) -> list[Assignment]:
    """The expert's latest assignments with their `task_number`; the pair is not loaded (experts judge blind)."""
    return list(
        Assignment.objects.filter(expert=expert)
        .select_related("campaign")
        .annotate(task_number_shown=_task_number())
        .order_by("-submitted_at", "-created_at")[:limit]
    )


def pair_flags_for(*, campaign: Campaign) -> QuerySet[PairFlag]:
    """The campaign's flagged pairs, newest first, for its curators' flag queue."""
    return PairFlag.objects.filter(pair__campaign=campaign).select_related("pair", "expert", "assignment")


# --- Curating a campaign ------------------------------------------------------------------------------


def user_may_create_campaign(*, user) -> bool:
    """Staff, or a curator of some campaign: curating is already their job, and a new campaign makes them its
    curator. Experts and ML engineers ask a curator or staff."""
    return user_has_role(user=user, roles=CURATE)


def check_may_create_campaign(*, user) -> None:
    if not user_may_create_campaign(user=user):
        raise PermissionDenied("Only staff or a curator of a campaign can create a campaign.")


def campaign_members(*, campaign: Campaign) -> QuerySet[CampaignMembership]:
    """The campaign's memberships, by role then username."""
    return (
        CampaignMembership.objects.filter(campaign=campaign).select_related("user").order_by("role", "user__username")
    )


def campaign_pairs_by_overlap(*, campaign: Campaign) -> dict[str, int]:
    """Adaptive overlap on the campaign page: how many pairs are at the overlap (`at_minimum`), asked for more
    experts but not the most (`raised`), and at the maximum (`at_maximum`). One aggregate over the campaign's pairs."""
    ceiling_extra = campaign.overlap_ceiling - campaign.overlap
    return VideoPair.objects.filter(campaign=campaign).aggregate(
        at_minimum=Count("pk", filter=Q(extra_overlap=0)),
        raised=Count("pk", filter=Q(extra_overlap__gt=0, extra_overlap__lt=ceiling_extra)),
        at_maximum=Count("pk", filter=Q(extra_overlap__gt=0, extra_overlap__gte=ceiling_extra)),
    )


def queue_model_choices(*, campaign: Campaign) -> QuerySet:
    """The registered reward models a curator may pick for the campaign's queue: those with a scoring run on it."""
    from training.models import RegisteredModel

    return RegisteredModel.objects.filter(judgment_runs__campaign=campaign).order_by("name", "pk")


def campaign_pairs_by_model_priority(*, campaign: Campaign) -> dict[str, int]:
    """Model-in-the-loop queue on the campaign page: pairs the queue model is unsure of (`uncertain`), whose verdict
    goes against the experts' majority (`disputed`, uncertain or not), and all raised in the queue (`prioritised`).
    One aggregate over the campaign's pairs."""
    return VideoPair.objects.filter(campaign=campaign).aggregate(
        prioritised=Count("pk", filter=Q(model_priority__gt=0)),
        uncertain=Count("pk", filter=Q(model_priority__in=[UNCERTAIN, UNCERTAIN + DISPUTED])),
        disputed=Count("pk", filter=Q(model_priority__gte=DISPUTED)),
    )


def campaign_expert_throughput(*, campaign: Campaign) -> list[dict]:
    """One row per expert of the campaign, by username: `judgments` submitted, `open` assignments, `flags` raised,
    `median_seconds` of active time per submitted pair (None before the first) and `last_activity` (their latest
    assignment handed out, submit or flag; None if they never started)."""
    experts = campaign_members(campaign=campaign).filter(role=Role.EXPERT)
    rows = {
        membership.user_id: {
            "expert": membership.user,
            "judgments": 0,
            "open": 0,
            "flags": 0,
            "seconds": [],
            "last_activity": None,
        }
        for membership in experts
    }

    def touch(row: dict, moment) -> None:
        if moment is not None and (row["last_activity"] is None or moment > row["last_activity"]):
            row["last_activity"] = moment

    assignments = Assignment.objects.filter(campaign=campaign, expert_id__in=list(rows)).values_list(
        "expert_id", "status", "time_spent_seconds", "created_at", "submitted_at"
    )
    for expert_id, status, seconds, created_at, submitted_at in assignments:
        row = rows[expert_id]
        if status == Assignment.Status.SUBMITTED:
            row["judgments"] += 1
            row["seconds"].append(seconds)
        else:
            row["open"] += 1
        touch(row, submitted_at or created_at)
    for expert_id, created_at in PairFlag.objects.filter(pair__campaign=campaign, expert_id__in=list(rows)).values_list(
        "expert_id", "created_at"
    ):
        rows[expert_id]["flags"] += 1
        touch(rows[expert_id], created_at)
    result = []
    for row in rows.values():
        seconds = row.pop("seconds")
        row["median_seconds"] = statistics.median(seconds) if seconds else None
        result.append(row)
    return result


# --- Time-stamped comments and guidelines ------------------------------------------------------------------


def timed_comments_of(*, assignment: Assignment) -> QuerySet[TimedComment]:
    """The assignment's notes in player order."""
    return TimedComment.objects.filter(assignment=assignment).order_by("seconds", "id")


def timed_comments_by_expert(*, pair: VideoPair) -> list[dict]:
    """Every expert's notes on the pair, for its curators: [{"expert", "submitted", "comments"}] by expert name,
    experts without notes left out. One query."""
    comments = (
        TimedComment.objects.filter(assignment__pair=pair)
        .select_related("assignment__expert")
        .order_by("assignment__expert__username", "seconds", "id")
    )
    by_assignment: dict[int, dict] = {}
    for comment in comments:
        assignment = comment.assignment
        entry = by_assignment.setdefault(
            assignment.pk,
            {
                "expert": assignment.expert,
                "submitted": assignment.status == Assignment.Status.SUBMITTED,
                "comments": [],
            },
        )
        entry["comments"].append(comment)
    return list(by_assignment.values())


def guidelines_pending_for(*, expert, campaign: Campaign) -> bool:
    """Whether the workbench should open the campaign's guidelines first: it has some, and this expert has never
    opened them."""
    if not campaign.guidelines.strip():
        return False
    return CampaignMembership.objects.filter(
        campaign=campaign, user=expert, role=Role.EXPERT, guidelines_seen_at__isnull=True
    ).exists()
