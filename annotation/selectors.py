"""Reads of the annotation data, with permission checks where a user may not own the object."""

from __future__ import annotations

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.http import Http404

from annotation.models import (
    Assignment,
    Campaign,
    CampaignMembership,
    ChecklistAnswer,
    ChecklistQuestion,
    Dimension,
    PairJudgment,
    Role,
    Video,
    VideoPair,
)


def user_has_role(*, user, role: str) -> bool:
    if not user.is_authenticated:
        return False
    return user.is_staff or user.groups.filter(name=role).exists()


def user_can_ingest(*, user) -> bool:
    return user_has_role(user=user, role=Role.CURATOR) or user_has_role(user=user, role=Role.ML_ENGINEER)


def campaigns_for(*, user) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.select_related("rubric", "checklist").order_by("name")
    if user_can_ingest(user=user):
        return campaigns
    return campaigns.filter(memberships__user=user).distinct()


def expert_campaign_ids(*, expert, campaign: Campaign | None = None) -> list[int]:
    memberships = CampaignMembership.objects.filter(
        user=expert, role=Role.EXPERT, campaign__status=Campaign.Status.ACTIVE
    )
    if campaign is not None:
        memberships = memberships.filter(campaign=campaign)
    return list(memberships.values_list("campaign_id", flat=True))


def assignment_open_for(*, expert, campaign_ids: list[int]) -> Assignment | None:
    return (
        Assignment.objects.filter(expert=expert, status=Assignment.Status.ASSIGNED, campaign_id__in=campaign_ids)
        .order_by("created_at")
        .first()
    )


def pair_candidates_for(*, expert, campaign_ids: list[int], limit: int = 20) -> list[int]:
    """Ids of pairs the expert may take next, closest to full overlap first."""
    ready = Video.Status.READY
    return list(
        VideoPair.objects.filter(
            campaign_id__in=campaign_ids,
            assigned_count__lt=F("campaign__overlap"),
            video_a__status=ready,
            video_b__status=ready,
        )
        .exclude(Exists(Assignment.objects.filter(pair=OuterRef("pk"), expert=expert)))
        .order_by("-assigned_count", "id")
        .values_list("id", flat=True)[:limit]
    )


def assignment_access(*, user, assignment_id: int, write: bool = False) -> Assignment:
    """Fetch an assignment the user may see: its expert always, curators and staff read-only.

    Anyone else gets a 404, so assignment ids reveal nothing."""
    assignment = (
        Assignment.objects.select_related(
            "campaign__rubric", "campaign__checklist", "pair__video_a", "pair__video_b", "expert"
        )
        .filter(pk=assignment_id)
        .first()
    )
    if assignment is None:
        raise Http404("No such assignment.")
    if assignment.expert_id == user.pk:
        return assignment
    if not write and (user.is_staff or user_has_role(user=user, role=Role.CURATOR)):
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


def rubric_structure(*, rubric) -> list[Dimension]:
    return list(rubric.dimensions.prefetch_related("criteria").order_by("order"))


def judgment_for(*, assignment: Assignment) -> PairJudgment | None:
    try:
        return assignment.judgment
    except PairJudgment.DoesNotExist:
        return None


def checklist_questions(*, checklist) -> list[ChecklistQuestion]:
    if checklist is None:
        return []
    return list(checklist.questions.order_by("order"))


# --- Checklist answers ----------------------------------------------------------------------------
# Answers belong to the assignment they were given in. An expert who judged a video in two pairs of one campaign
# holds two sets of answers for it; readers of the campaign take those of the expert's latest submitted assignment.


def _later_submitted_showing_the_video(*, campaign_id: int, side: str) -> QuerySet[Assignment]:
    """Submitted assignments of the outer answer's expert in the campaign, submitted after the outer answer's own
    assignment, whose pair shows the outer answer's video as video `side` ("a" or "b")."""
    submitted_at = OuterRef("assignment__submitted_at")
    return Assignment.objects.filter(
        campaign_id=campaign_id,
        expert_id=OuterRef("annotator_id"),
        status=Assignment.Status.SUBMITTED,
        **{f"pair__video_{side}_id": OuterRef("video_id")},
    ).filter(Q(submitted_at__gt=submitted_at) | Q(submitted_at=submitted_at, pk__gt=OuterRef("assignment_id")))


def checklist_answers_latest(*, campaign_id: int) -> QuerySet[ChecklistAnswer]:
    """The checklist answers of a campaign that count, one set per (video, expert): answers of submitted
    assignments only, and of the expert's latest submitted assignment showing the video. Every reader of a
    campaign's answers (agreement, exports, distillation) starts from this.

    Written as two anti-joins (video as A, video as B) on equalities, so PostgreSQL hashes the campaign's
    assignments once instead of running a subquery per answer."""
    return ChecklistAnswer.objects.filter(
        ~Exists(_later_submitted_showing_the_video(campaign_id=campaign_id, side="a")),
        ~Exists(_later_submitted_showing_the_video(campaign_id=campaign_id, side="b")),
        assignment__campaign_id=campaign_id,
        assignment__status=Assignment.Status.SUBMITTED,
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


def assignments_recent_for(*, expert, limit: int = 10) -> list[Assignment]:
    return list(
        Assignment.objects.filter(expert=expert)
        .select_related("pair", "campaign")
        .order_by("-submitted_at", "-created_at")[:limit]
    )
