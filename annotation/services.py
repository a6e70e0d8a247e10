"""Writes to the annotation data: rubric versions, checklists, campaigns and their members."""

from __future__ import annotations

import itertools
import secrets
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from annotation import defaults, selectors
from annotation.checklist import ChecklistContradiction, checklist_apply_progressive, checklist_pack, question_specs
from annotation.model_queue import pair_model_priority
from annotation.models import (
    Assignment,
    Campaign,
    CampaignMembership,
    Checklist,
    ChecklistAnswer,
    ChecklistQuestion,
    Criterion,
    Dimension,
    PairFlag,
    PairJudgment,
    PairJudgmentRevision,
    Role,
    Rubric,
    TimedComment,
    VideoPair,
    check_severe_flags,
    check_verdicts_match_rubric,
)
from annotation.overlap import dimension_verdicts_disagree
from annotation.signals import judgments_changed
from leaderboards.models import ModelJudgmentRun, ModelPairVerdict


@transaction.atomic
def rubric_import(*, path: Path) -> Rubric:
    return defaults.rubric_build(
        defaults.load_json(path), rubric_model=Rubric, dimension_model=Dimension, criterion_model=Criterion
    )


@transaction.atomic
def checklist_import(*, path: Path) -> Checklist:
    return defaults.checklist_build(
        defaults.load_json(path), checklist_model=Checklist, question_model=ChecklistQuestion
    )


@transaction.atomic
def rubric_new_version(*, rubric: Rubric) -> Rubric:
    """Copy a rubric into the next free version number, ready to be edited."""
    next_version = (
        Rubric.objects.filter(slug=rubric.slug).order_by("-version").values_list("version", flat=True).first()
    ) + 1
    copy = Rubric.objects.create(
        slug=rubric.slug, version=next_version, title=rubric.title, description=rubric.description
    )
    for dimension in rubric.dimensions.prefetch_related("criteria"):
        dimension_copy = Dimension.objects.create(
            rubric=copy,
            code=dimension.code,
            name=dimension.name,
            description=dimension.description,
            order=dimension.order,
        )
        Criterion.objects.bulk_create(
            Criterion(
                dimension=dimension_copy,
                code=criterion.code,
                name=criterion.name,
                definition=criterion.definition,
                guidance=criterion.guidance,
                order=criterion.order,
            )
            for criterion in dimension.criteria.all()
        )
    return copy


def rubric_default() -> Rubric:
    data = defaults.load_json(defaults.DEFAULT_RUBRIC_FILE)
    return Rubric.objects.get(slug=data["slug"], version=data["version"])


def checklist_default() -> Checklist:
    data = defaults.load_json(defaults.DEFAULT_CHECKLIST_FILE)
    return Checklist.objects.get(slug=data["slug"], version=data["version"])


DEFAULT_CHECKLIST = "default"


@transaction.atomic
def campaign_create(
    *,
    name: str,
    rubric: Rubric | None = None,
    checklist: Checklist | None | str = DEFAULT_CHECKLIST,
    overlap: int = 3,
    max_overlap: int | None = None,
    agreement_threshold: float | None = None,
    description: str = "",
    guidelines: str = "",
    created_by=None,
) -> Campaign:
    """A new active campaign. `checklist=None` makes a rubric-only campaign (verdicts, no checklist answers); by
    default it gets the default checklist. `max_overlap` above `overlap` makes its overlap adaptive
    (annotation.overlap). Its creator, when given, becomes its curator."""
    campaign = Campaign(
        name=name,
        rubric=rubric or rubric_default(),
        checklist=checklist_default() if checklist == DEFAULT_CHECKLIST else checklist,
        overlap=overlap,
        max_overlap=max_overlap,
        description=description,
        guidelines=guidelines,
        created_by=created_by,
    )
    if agreement_threshold is not None:
        campaign.agreement_threshold = agreement_threshold
    campaign.full_clean()
    campaign.save()
    if created_by is not None:
        campaign_member_add(campaign=campaign, user=created_by, role=Role.CURATOR)
    return campaign


def campaign_guidelines_set(*, campaign: Campaign, guidelines: str) -> None:
    """Replace the campaign's guidelines (Markdown source, stored as written)."""
    campaign.guidelines = guidelines
    campaign.full_clean(validate_unique=False, validate_constraints=False)
    campaign.save(update_fields=["guidelines"])


def campaign_overlap_set(*, campaign: Campaign, overlap: int, max_overlap: int | None) -> None:
    """Change how many experts judge each pair. Pairs keep the extra experts their disagreement asked for, counted
    from the new overlap and capped by the new maximum; a pair already past its new target keeps its judgments and
    gets no new expert. ValidationError (by field) for an overlap below 1 or a maximum below the overlap."""
    campaign.overlap, campaign.max_overlap = overlap, max_overlap
    campaign.full_clean(validate_unique=False)
    campaign.save(update_fields=["overlap", "max_overlap"])


class QueueModelNotJudged(ValidationError):
    """The model chosen for a campaign's queue has not been set to judge the campaign's pairs."""


PRIORITY_UPDATE_CHUNK = 5000


def campaign_queue_model_set(*, campaign: Campaign, model) -> None:
    """Choose the reward model whose verdicts order the queue (annotation.model_queue), or none (`model` None: every
    pair's priority back to 0, the queue exactly as without one). The model must have a scoring run on this
    campaign (started, not necessarily finished: priorities are recomputed when it finishes)."""
    if model is not None and not ModelJudgmentRun.objects.filter(model=model, campaign=campaign).exists():
        raise QueueModelNotJudged(
            {"queue_model": f"{model} has not judged this campaign's pairs: start scoring on the leaderboard page."}
        )
    with transaction.atomic():
        campaign.queue_model = model
        campaign.save(update_fields=["queue_model"])
        campaign_model_priorities_recompute(campaign_id=campaign.pk)


def campaign_model_priorities_recompute(*, campaign_id: int) -> int:
    """Set every pair's VideoPair.model_priority from the campaign's queue model's stored verdicts and the experts'
    judgments so far (all 0 without a queue model). Only changed rows are written; how many were.

    The campaign row is locked FOR NO KEY UPDATE first: recomputations of one campaign take turns (their UPDATEs
    lock pairs in no fixed order), and submits in flight, which hold it FOR SHARE, finish first; a submit that comes
    later waits, then updates its pair from this result (see "Row locks")."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign_id)
        wanted: dict[int, int] = {}
        if campaign.queue_model_id is not None:
            verdicts = ModelPairVerdict.objects.filter(
                run__campaign_id=campaign_id, run__model_id=campaign.queue_model_id
            ).values_list("pair_id", "overall")
            expert_dimensions: dict[int, list[dict]] = {}
            for pair_id, dimensions in PairJudgment.objects.filter(assignment__campaign_id=campaign_id).values_list(
                "assignment__pair_id", "dimensions"
            ):
                expert_dimensions.setdefault(pair_id, []).append(dimensions)
            for pair_id, overall in verdicts.iterator(chunk_size=PRIORITY_UPDATE_CHUNK):
                priority = pair_model_priority(
                    model_judged=True, model_overall=overall, expert_dimensions=expert_dimensions.get(pair_id, [])
                )
                if priority:
                    wanted[pair_id] = priority
        stored = dict(
            VideoPair.objects.filter(campaign_id=campaign_id, model_priority__gt=0).values_list("pk", "model_priority")
        )
        changed_by_priority: dict[int, list[int]] = {}
        for pair_id in set(stored) | set(wanted):
            if stored.get(pair_id, 0) != wanted.get(pair_id, 0):
                changed_by_priority.setdefault(wanted.get(pair_id, 0), []).append(pair_id)
        written = 0
        for priority, pair_ids in changed_by_priority.items():
            pair_ids.sort()
            for start in range(0, len(pair_ids), PRIORITY_UPDATE_CHUNK):
                written += VideoPair.objects.filter(pk__in=pair_ids[start : start + PRIORITY_UPDATE_CHUNK]).update(
                    model_priority=priority
                )
        return written


def pair_model_priority_refresh(*, campaign: Campaign, pair_id: int) -> None:
    """After a judgment of the pair: its priority from the queue model's verdict and the votes now. The caller
    holds the pair's row lock (pair_judgment_submit)."""
    verdict = (
        ModelPairVerdict.objects.filter(
            run__campaign_id=campaign.pk, run__model_id=campaign.queue_model_id, pair_id=pair_id
        )
        .values_list("overall")
        .first()
    )
    dimensions = list(PairJudgment.objects.filter(assignment__pair_id=pair_id).values_list("dimensions", flat=True))
    priority = pair_model_priority(
        model_judged=verdict is not None,
        model_overall=verdict[0] if verdict is not None else None,
        expert_dimensions=dimensions,
    )
    VideoPair.objects.filter(pk=pair_id).exclude(model_priority=priority).update(model_priority=priority)


def campaign_guidelines_mark_seen(*, campaign: Campaign, user) -> None:
    """Remember that the member has read the guidelines, so the workbench no longer opens them first."""
    CampaignMembership.objects.filter(campaign=campaign, user=user, guidelines_seen_at__isnull=True).update(
        guidelines_seen_at=timezone.now()
    )


def campaign_member_add(*, campaign: Campaign, user, role: str) -> CampaignMembership:
    """Give `user` the role in this campaign only: rights are per campaign (annotation.selectors, Rights)."""
    membership, _ = CampaignMembership.objects.get_or_create(campaign=campaign, user=user, role=Role(role))
    user.__dict__.pop("_roles_held_anywhere", None)  # selectors.roles_held_anywhere's memo on this object
    return membership


def campaign_member_add_by_username(*, campaign: Campaign, username: str, role: str) -> CampaignMembership:
    """campaign_member_add for a username typed by a curator; ValidationError naming the field if it is unknown."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    user = get_user_model().objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise ValidationError({"username": f"No active user is called {username.strip()!r}."})
    return campaign_member_add(campaign=campaign, user=user, role=role)


@transaction.atomic
def campaign_member_remove(*, campaign: Campaign, user_id: int, role: str) -> None:
    """Take the role in this campaign away. The last curator stays, so someone can still run the campaign; an
    expert's submitted judgments stay too (they are the campaign's data), only their open unflagged pairs are released
    for other experts (a flagged one stays, so the curators' flag queue keeps it)."""
    memberships = CampaignMembership.objects.select_for_update().filter(campaign=campaign, role=role)
    if role == Role.CURATOR and [m.user_id for m in memberships] == [user_id]:
        raise ValidationError("A campaign keeps at least one curator: add another before removing this one.")
    removed, _ = memberships.filter(user_id=user_id).delete()
    if removed and role == Role.EXPERT:
        open_assignments = Assignment.objects.filter(
            campaign=campaign, expert_id=user_id, status=Assignment.Status.ASSIGNED, flag__isnull=True
        )
        # The pairs first, in id order, then the assignments (see "Row locks"): an adaptive campaign's submit
        # holds its pair while it waits for its assignment.
        pair_ids = list(open_assignments.values_list("pair_id", flat=True))
        list(VideoPair.objects.select_for_update(no_key=True).filter(pk__in=pair_ids).order_by("pk").values("pk"))
        # Locked, so a submit in flight finishes first and its assignment, no longer open, is kept.
        released = list(
            open_assignments.select_for_update(of=("self",)).filter(pair_id__in=pair_ids).values_list("pk", "pair_id")
        )
        Assignment.objects.filter(pk__in=[pk for pk, _ in released]).delete()
        for _, pair_id in released:
            VideoPair.objects.filter(pk=pair_id).update(assigned_count=F("assigned_count") - 1)


def user_ensure(*, username: str, password: str, is_superuser: bool = False):
    """Create a user (or reset its password). Roles come with campaign memberships (campaign_member_add)."""
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = user.is_superuser = is_superuser
    user.save(update_fields=["password", "is_staff", "is_superuser"])
    return user


# --- Row locks ------------------------------------------------------------------------------------
# Services that write judgments take row locks in one order, and only on the rows they change:
#     campaign (FOR SHARE, see campaign_check_open) -> user (expert) -> pair -> assignment.
# assignment_next_for locks the expert's user row, then candidate pairs (SKIP LOCKED), and inserts the assignment;
# pair_judgment_submit locks the assignment row only (`of=("self",)`): a lock on the campaign or pair row as well
# serialised every submit and deadlocked against "next pair", whose insert of an assignment needs a key-share lock
# on the campaign row while it holds the pair row. In a campaign with adaptive overlap or a queue model the submit
# also locks the pair (FOR NO KEY UPDATE, before the assignment), so submits on one pair take turns and each sees
# the others' judgments when it decides whether the pair needs another expert and sets its model priority; "next
# pair" skips a pair held so and retries. campaign_model_priorities_recompute locks the campaign FOR NO KEY UPDATE
# (it waits for submits in flight), then updates pairs.
# judgment_import locks the pair, then the submit its assignment; campaign_member_remove the released assignments'
# pairs, then the assignments.
# Locks that exist only to serialise a row's writers are FOR NO KEY UPDATE, so inserts that reference the row
# (their foreign-key check takes FOR KEY SHARE) are not blocked by them.


class CampaignLocked(Exception):
    """A curator locked the campaign: it accepts no judgment, revision, draft or checklist answer."""


def campaign_share_lock(*, campaign_id: int) -> Campaign:
    """The campaign, its status kept as read until this transaction ends.

    The campaign row is read FOR SHARE: many submits hold it at once (FOR SHARE conflicts neither with itself nor
    with the FOR KEY SHARE of inserts referencing the campaign), while campaign_lock's UPDATE waits for every
    submit in flight and a submit started after the lock waits for it and then reads "locked". So a lock racing a
    submit cannot slip through. Django's select_for_update has no FOR SHARE, hence raw SQL on PostgreSQL;
    SQLite serialises writers by itself."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("campaign_share_lock holds its lock until the transaction ends: call it in one.")
    suffix = " FOR SHARE" if connection.vendor == "postgresql" else ""
    table = Campaign._meta.db_table
    return next(iter(Campaign.objects.raw(f"SELECT * FROM {table} WHERE id = %s{suffix}", [campaign_id])))


def campaign_check_open(*, campaign_id: int, action: str) -> Campaign:
    """Raise CampaignLocked (its message ends with `action`) unless the campaign is active, and keep it so until
    this transaction ends (campaign_share_lock)."""
    campaign = campaign_share_lock(campaign_id=campaign_id)
    if campaign.status == Campaign.Status.LOCKED:
        raise CampaignLocked(f"Campaign {campaign.name} is locked; {action}")
    return campaign


# --- Assignment -------------------------------------------------------------------------------


class NoPairAvailable(Exception):
    """Nothing left for this expert: every pair is done by them or has its full overlap."""


def assignment_create(*, pair: VideoPair, expert, swapped: bool | None = None) -> Assignment:
    """Hand `pair` to `expert` as their next task number in the campaign. The caller holds the pair's row lock and
    the expert's (see assignment_next_for), so two tabs cannot take the same number."""
    assignment = Assignment(
        campaign_id=pair.campaign_id,
        pair=pair,
        expert=expert,
        swapped=secrets.randbelow(2) == 1 if swapped is None else swapped,
        task_number=selectors.assignment_task_number_next(expert=expert, campaign_id=pair.campaign_id),
    )
    # The foreign keys come from rows the caller holds locked; checking them again would cost 3 queries.
    assignment.full_clean(exclude=["campaign", "pair", "expert"], validate_unique=False)
    assignment.save()
    VideoPair.objects.filter(pk=pair.pk).update(assigned_count=F("assigned_count") + 1)
    return assignment


def assignment_next_for(*, expert, campaign: Campaign | None = None, patience_s: float = 3.0) -> Assignment:
    """The expert's open assignment, or a new one.

    Pairs with the fewest slots left before their target come first, so a half-done campaign has many
    fully judged pairs rather than many pairs judged once. A pair's target is its campaign's overlap,
    or more for a disputed pair under adaptive overlap (Campaign.overlap_target).

    Concurrency: the expert's own row is locked so two tabs cannot each open a new assignment, and candidate
    pairs are locked with SKIP LOCKED so two experts never take the same last slot of a pair. A pair skipped
    because another expert holds it (or a submit deciding whether it needs another expert) may still have a slot
    when they are done, so that case is retried in a fresh transaction, for up to `patience_s` seconds, rather
    than reported as "nothing left": under load a submit holds its pair for longer than a few fixed retries wait.
    """
    give_up_at = time.monotonic() + patience_s
    for attempt in itertools.count():
        skipped_locked = False
        with transaction.atomic():
            get_user_model().objects.select_for_update(no_key=True).filter(pk=expert.pk).values_list("pk").first()
            campaign_overlaps = selectors.expert_campaign_overlaps(expert=expert, campaign=campaign)
            overlap_of = {overlap.campaign_id: overlap for overlap in campaign_overlaps}
            open_assignment = selectors.assignment_open_for(expert=expert, campaign_ids=list(overlap_of))
            if open_assignment is not None:
                return open_assignment
            for pair_id in selectors.pair_candidates_for(expert=expert, campaign_overlaps=campaign_overlaps):
                pair = (
                    VideoPair.objects.select_for_update(skip_locked=True, no_key=True)
                    .only("id", "campaign_id", "assigned_count", "extra_overlap")
                    .filter(pk=pair_id)
                    .first()
                )
                if pair is None:
                    skipped_locked = True
                    continue
                if pair.assigned_count >= overlap_of[pair.campaign_id].target(extra_overlap=pair.extra_overlap):
                    continue
                # No check for an existing assignment of this expert: the candidates exclude their pairs, their
                # row lock keeps their other tabs out, and the unique constraint backs both.
                return assignment_create(pair=pair, expert=expert)
        if not skipped_locked or time.monotonic() >= give_up_at:
            break
        time.sleep(min(0.01 * (attempt + 1), 0.1) * (0.5 + secrets.randbelow(1000) / 1000))
    skipped = selectors.assignment_skipped_for(
        expert=expert, campaign_ids=selectors.expert_campaign_ids(expert=expert, campaign=campaign)
    )
    if skipped is not None:
        return skipped
    raise NoPairAvailable("No pair is waiting for you right now.")


def assignment_skip(*, assignment: Assignment) -> None:
    """Put an open assignment at the end of its expert's queue: new pairs first, then skipped ones, oldest skip
    first. It keeps its slot of the pair, so nothing is lost and no other expert takes it meanwhile."""
    if assignment.status != Assignment.Status.ASSIGNED:
        raise ValidationError("A submitted judgment cannot be skipped.")
    Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.ASSIGNED).update(skipped_at=timezone.now())


@transaction.atomic
def pair_flag(*, assignment: Assignment, reason: str, text: str = "") -> PairFlag:
    """Record (or replace) the expert's flag on the assignment's pair and skip it. A flag is no judgment: it
    creates no PairJudgment, so agreement, consensus and exports never count it."""
    campaign_check_open(campaign_id=assignment.campaign_id, action="pairs can no longer be flagged.")
    # By id: an unsaved flag built from the assignment object would sit in its `flag` cache if validation fails.
    flag = PairFlag.objects.filter(assignment_id=assignment.pk).first() or PairFlag(
        assignment_id=assignment.pk, pair_id=assignment.pair_id, expert_id=assignment.expert_id
    )
    flag.reason = reason
    flag.text = text.strip()
    flag.full_clean()
    flag.save()
    if assignment.status == Assignment.Status.ASSIGNED:
        assignment_skip(assignment=assignment)
    return flag


def assignment_start(*, assignment: Assignment) -> None:
    if assignment.started_at is None:
        Assignment.objects.filter(pk=assignment.pk, started_at__isnull=True).update(started_at=timezone.now())


@transaction.atomic
def assignment_draft_save(*, assignment: Assignment, draft: dict) -> None:
    """Autosave: the draft is the form state as the browser has it (display terms, not canonical).
    A locked campaign keeps no draft (CampaignLocked)."""
    if not isinstance(draft, dict):
        raise ValidationError("A draft must be a JSON object.")
    campaign_check_open(campaign_id=assignment.campaign_id, action="drafts are no longer saved.")
    Assignment.objects.filter(pk=assignment.pk).update(draft=draft)


# --- Judgment ---------------------------------------------------------------------------------


class JudgmentConflict(Exception):
    """The submit was based on an outdated revision: another tab or device submitted first."""


def verdicts_from_display(*, verdicts: dict[str, int], swapped: bool) -> dict[str, int]:
    """Display terms (+1 = left better) to canonical terms (+1 = A better)."""
    return {code: -value if swapped else value for code, value in verdicts.items()}


def severe_from_display(*, severe: dict[str, dict[str, bool]], swapped: bool) -> dict[str, dict[str, bool]]:
    """{"left": {...}, "right": {...}} to {"A": {...}, "B": {...}}."""
    left, right = severe.get("left", {}), severe.get("right", {})
    return {"A": right, "B": left} if swapped else {"A": left, "B": right}


def checklist_answers_normalise(*, campaign: Campaign, answers_by_video: dict[int, dict[int, str]]) -> dict:
    """The answers completed by the progressive rules, {video id: {question id: answer}}; ValidationError if they
    contradict each other or leave a question of the campaign's checklist unanswered."""
    if campaign.checklist_id is None:
        if any(answers_by_video.values()):
            raise ValidationError({"checklist": "This campaign has no checklist."})
        return {}
    specs = question_specs(selectors.checklist_questions(checklist=campaign.checklist))
    normalised, missing = {}, {}
    for video_id, answers in answers_by_video.items():
        try:
            filled = checklist_apply_progressive(specs, answers)
        except ChecklistContradiction as contradiction:
            raise ValidationError({"checklist": str(contradiction)}) from contradiction
        gaps = [spec.id for spec in specs if spec.id not in filled]
        if gaps:
            missing[video_id] = gaps
        normalised[video_id] = filled
    if missing:
        raise ValidationError(
            {"checklist": [f"video {video_id}: {len(ids)} questions unanswered" for video_id, ids in missing.items()]}
        )
    return normalised


def checklist_for_revision(answers_by_video: dict[int, dict[int, str]]) -> dict[str, dict[str, str]]:
    """{video id: {question id: answer}} as a revision stores it (JSON object keys are strings)."""
    return {
        str(video_id): {str(question_id): answers[question_id] for question_id in sorted(answers)}
        for video_id, answers in sorted(answers_by_video.items())
    }


@transaction.atomic
def pair_judgment_submit(
    *,
    assignment: Assignment,
    criteria: dict[str, int],
    dimensions: dict[str, int],
    severe: dict[str, dict[str, bool]] | None = None,
    notes: str = "",
    checklist: dict[int, dict[int, str]] | None = None,
    base_revision: int = 0,
    time_spent_seconds: float | None = None,
) -> PairJudgment:
    """Submit (base_revision 0) or revise (base_revision = the revision the expert was editing).

    Verdicts are canonical (+1 = A better). `checklist` maps video id -> {question id: yes/no/na}; the answers
    belong to this assignment: they replace its earlier answers and no other assignment's. A second submit based
    on the same revision (double click, a second tab) raises JudgmentConflict and changes nothing; a locked
    campaign raises CampaignLocked and changes nothing. Under adaptive overlap a submit or revision that leaves the
    pair's judgments in disagreement asks for one more expert (pair_overlap_raise_if_disputed).
    """
    # Lock order (see "Row locks" above): the campaign FOR SHARE, then (adaptive overlap or a queue model only) the
    # pair, then this assignment's row.
    open_campaign = campaign_check_open(
        campaign_id=assignment.campaign_id, action="judgments are final and can no longer be submitted or revised."
    )
    if open_campaign.overlap_is_adaptive or open_campaign.queue_model_id is not None:
        VideoPair.objects.select_for_update(no_key=True).filter(pk=assignment.pair_id).values("pk").first()
    # The row is read again under its lock (its status and draft may have changed since the request read it); the
    # campaign, its definitions and the pair come from the caller's read: none of them changes under a judgment.
    campaign, pair = assignment.campaign, assignment.pair
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    assignment.campaign, assignment.pair = campaign, pair
    existing = PairJudgment.objects.filter(assignment=assignment).first()
    current_revision = existing.revision if existing else 0
    if base_revision != current_revision:
        raise JudgmentConflict(
            "This pair was already submitted from another tab or device"
            f" (revision {current_revision}); reload to see the saved judgment."
        )

    severe = severe or {"A": {}, "B": {}}
    # The rubric and checklist are read from the definition cache: its keys hold their version and last change.
    structure = selectors.rubric_structure(rubric=campaign.rubric)
    check_verdicts_match_rubric(rubric=campaign.rubric, criteria=criteria, dimensions=dimensions, structure=structure)
    check_severe_flags(rubric=campaign.rubric, severe=severe, structure=structure)
    pair_videos = {assignment.pair.video_a_id, assignment.pair.video_b_id}
    checklist = checklist or {}
    if set(checklist) - pair_videos:
        raise ValidationError({"checklist": "Checklist answers must be for the pair's two videos."})
    if campaign.checklist_id is not None:
        checklist = {video_id: checklist.get(video_id, {}) for video_id in sorted(pair_videos)}
    normalised_checklist = checklist_answers_normalise(campaign=campaign, answers_by_video=checklist)
    question_ids = selectors.checklist_question_ids(checklist=campaign.checklist)
    packed_a, packed_b = (
        checklist_pack(question_ids, normalised_checklist.get(video_id, {}))
        for video_id in (assignment.pair.video_a_id, assignment.pair.video_b_id)
    )

    now = timezone.now()
    if existing:
        judgment = existing
        judgment.criteria, judgment.dimensions, judgment.severe, judgment.notes = criteria, dimensions, severe, notes
        judgment.checklist_a, judgment.checklist_b = packed_a, packed_b
        judgment.revision = current_revision + 1
        judgment.save(
            update_fields=[
                "criteria",
                "dimensions",
                "severe",
                "notes",
                "checklist_a",
                "checklist_b",
                "revision",
                "updated_at",
            ]
        )
    else:
        judgment = PairJudgment.objects.create(
            assignment=assignment,
            criteria=criteria,
            dimensions=dimensions,
            severe=severe,
            notes=notes,
            checklist_a=packed_a,
            checklist_b=packed_b,
        )
    PairJudgmentRevision.objects.create(
        judgment=judgment,
        revision=judgment.revision,
        criteria=criteria,
        dimensions=dimensions,
        severe=severe,
        notes=notes,
        checklist=checklist_for_revision(normalised_checklist),
    )
    # Only this assignment's answers are replaced: the same video judged in another pair keeps its own.
    ChecklistAnswer.objects.filter(assignment=assignment).delete()
    checklist_answers_insert(assignment=assignment, answers_by_video=normalised_checklist, at=now)

    started = assignment.started_at or assignment.created_at
    elapsed = max(0.0, (now - started).total_seconds())
    spent = elapsed if time_spent_seconds is None else min(max(0.0, float(time_spent_seconds)), elapsed)
    assignment.status = Assignment.Status.SUBMITTED
    assignment.submitted_at = now
    assignment.time_spent_seconds = spent
    assignment.draft = {}
    assignment.save(update_fields=["status", "submitted_at", "time_spent_seconds", "draft"])
    if open_campaign.overlap_is_adaptive:
        pair_overlap_raise_if_disputed(campaign=open_campaign, pair_id=assignment.pair_id)
    if open_campaign.queue_model_id is not None:
        pair_model_priority_refresh(campaign=open_campaign, pair_id=assignment.pair_id)
    transaction.on_commit(lambda: judgments_changed.send(sender=PairJudgment, campaign_id=campaign.pk))
    return judgment


def checklist_answers_insert(*, assignment: Assignment, answers_by_video: dict[int, dict[int, str]], at) -> None:
    """Store an assignment's checklist answers ({video id: {question id: answer}}, already normalised) in one
    statement. A judgment carries 256 of them; as model instances through bulk_create they cost more Python than
    the rest of a submit."""
    rows = [
        (video_id, question_id, answer)
        for video_id, answers in answers_by_video.items()
        for question_id, answer in answers.items()
    ]
    if not rows:
        return
    table = connection.ops.quote_name(ChecklistAnswer._meta.db_table)
    columns = "(assignment_id, video_id, question_id, annotator_id, answer, created_at, updated_at)"
    at = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            video_ids, question_ids, answers = (list(column) for column in zip(*rows, strict=True))
            cursor.execute(
                f"INSERT INTO {table} {columns} SELECT %s, v, q, %s, a, %s, %s "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[]) AS answer(v, q, a)",
                [assignment.pk, assignment.expert_id, at, at, video_ids, question_ids, answers],
            )
        else:  # SQLite (the embedded default) has no unnest
            cursor.executemany(
                f"INSERT INTO {table} {columns} VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (assignment.pk, video, question, assignment.expert_id, answer, at, at)
                    for video, question, answer in rows
                ],
            )


def pair_overlap_raise_if_disputed(*, campaign: Campaign, pair_id: int) -> bool:
    """Adaptive overlap: give the pair one more expert (up to the campaign's maximum) when every expert it has now
    has submitted and their dimension verdicts disagree (annotation.overlap). Whether it was raised.

    The caller holds the pair's row lock, so concurrent submits on the pair decide one after the other, each
    seeing the judgments committed before it. A revision is decided the same way; a target never falls, since
    the assignments it allowed are handed out already. Adjudication changes no target: the experts' votes decide
    whether a pair needs another expert, and a curator's adjudication settles a label whatever the overlap."""
    pair = VideoPair.objects.only("id", "campaign_id", "assigned_count", "extra_overlap").get(pk=pair_id)
    target = campaign.overlap_target(extra_overlap=pair.extra_overlap)
    if target >= campaign.overlap_ceiling:
        return False
    dimension_verdicts = list(
        PairJudgment.objects.filter(assignment__pair_id=pair_id).values_list("dimensions", flat=True)
    )
    if len(dimension_verdicts) < target:
        return False  # experts still at work on it may settle it
    if not dimension_verdicts_disagree(dimension_verdicts, threshold=campaign.agreement_threshold):
        return False
    # One expert more than it has judgments: imported judgments, or an overlap a curator lowered, may have left it
    # with more judgments than its target.
    raised_target = min(max(target, len(dimension_verdicts)) + 1, campaign.overlap_ceiling)
    VideoPair.objects.filter(pk=pair_id).update(extra_overlap=raised_target - campaign.overlap)
    return True


def campaign_lock(*, campaign: Campaign) -> None:
    """Freeze the campaign: no judgment, revision, draft or checklist answer is accepted, and the queue hands out
    no new pairs. The UPDATE's row lock waits for submits in flight (they hold the row FOR SHARE, see
    campaign_check_open), and submits after it read "locked"."""
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.LOCKED)
    transaction.on_commit(lambda: judgments_changed.send(sender=Campaign, campaign_id=campaign.pk))


def campaign_unlock(*, campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ACTIVE)


# --- Time-stamped comments --------------------------------------------------------------------


class CommentsClosed(Exception):
    """The assignment takes no more comments: its judgment is submitted, or its campaign is locked."""


# A note may sit a little past the shorter video's end: the player's clock runs on to the longer one's, and the
# browser reports times rounded to the frame it shows.
COMMENT_TIME_TOLERANCE_SECONDS = 0.5


def side_from_display(*, side: str, swapped: bool) -> str:
    """The canonical side (A, B or both) of a side the expert named as shown (left, right or both)."""
    if side == "both":
        return TimedComment.Side.BOTH
    if side not in ("left", "right"):
        raise ValidationError({"side": "The side must be left, right or both."})
    left_is_a = not swapped
    return TimedComment.Side.A if (side == "left") == left_is_a else TimedComment.Side.B


def side_for_display(*, side: str, swapped: bool) -> str:
    """The side as the expert saw it (left, right or both) of a canonical one."""
    if side == TimedComment.Side.BOTH:
        return "both"
    a_is_left = not swapped
    return "left" if (side == TimedComment.Side.A) == a_is_left else "right"


def _assignment_open_for_comments(*, assignment: Assignment, action: str) -> Assignment:
    """The assignment, its row locked, if its campaign is active and it is not submitted; else CommentsClosed.
    Lock order as pair_judgment_submit's: the campaign FOR SHARE, then the assignment, so a submit racing a
    comment either sees the comment stored or the comment sees the submit."""
    try:
        campaign_check_open(campaign_id=assignment.campaign_id, action=action)
    except CampaignLocked as locked:
        raise CommentsClosed(str(locked)) from locked
    locked_assignment = (
        Assignment.objects.select_for_update(of=("self",), no_key=True)
        .select_related("pair__video_a", "pair__video_b")
        .get(pk=assignment.pk)
    )
    if locked_assignment.status != Assignment.Status.ASSIGNED:
        raise CommentsClosed(f"This judgment is submitted; {action}")
    return locked_assignment


@transaction.atomic
def timed_comment_add(*, assignment: Assignment, seconds: float, side: str, text: str) -> TimedComment:
    """Pin the expert's note to `seconds` of the pair on `side` (A, B or both). Raises CommentsClosed once the
    judgment is submitted or the campaign locked. Two identical notes (two tabs) are both kept: notes are cheap
    and a duplicate harms nothing."""
    assignment = _assignment_open_for_comments(assignment=assignment, action="comments can no longer be added.")
    pair = assignment.pair
    longest = max(pair.video_a.duration_seconds, pair.video_b.duration_seconds)
    if not isinstance(seconds, int | float) or seconds != seconds or seconds < 0:
        raise ValidationError({"seconds": "The time must be a number of seconds, 0 or more."})
    if not text.strip():
        raise ValidationError({"text": "Write the note first."})
    if seconds > longest + COMMENT_TIME_TOLERANCE_SECONDS:
        raise ValidationError({"seconds": f"The time is past the end of the videos ({longest:.3f} s)."})
    comment = TimedComment(assignment=assignment, seconds=min(float(seconds), longest), side=side, text=text.strip())
    comment.full_clean(exclude=["assignment"])
    comment.save()
    return comment


@transaction.atomic
def timed_comment_delete(*, assignment: Assignment, comment_id: int) -> None:
    """Delete one of the assignment's notes (its expert's own) while the assignment is open; CommentsClosed after.
    A note already deleted (another tab) is no error."""
    assignment = _assignment_open_for_comments(assignment=assignment, action="comments can no longer be deleted.")
    TimedComment.objects.filter(pk=comment_id, assignment=assignment).delete()
