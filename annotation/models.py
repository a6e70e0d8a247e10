"""AesLab's data: rubrics and checklists (versioned), videos, pairs, campaigns, assignments, judgments.

Verdicts are always stored relative to the canonical A/B of a VideoPair: +1 means video A is
better, -1 video B, 0 comparable. The order a pair was displayed in lives on the Assignment.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class RubricLockedError(ValidationError):
    """A rubric version that has judgments is frozen: create a new version instead."""


class Role(models.TextChoices):
    EXPERT = "expert", "Expert"
    CURATOR = "curator", "Curator"
    ML_ENGINEER = "ml_engineer", "ML engineer"


class Verdict(models.IntegerChoices):
    A_BETTER = 1, "A better"
    COMPARABLE = 0, "Comparable"
    B_BETTER = -1, "B better"


class VersionedDefinition(models.Model):
    """A rubric or checklist: identified by slug and version, so a changed definition is a new version."""

    slug = models.SlugField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(
        default=timezone.now,
        help_text="When it or one of its dimensions, criteria or questions last changed (annotation.signals): part "
        "of the keys of everything cached from it, so a cached copy is never stale.",
    )

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="%(class)s_unique_slug_version"),
        ]
        ordering = ["slug", "-version"]

    def __str__(self) -> str:
        return f"{self.slug} v{self.version}"


# --- Rubric -----------------------------------------------------------------------------------


class Rubric(VersionedDefinition):
    """Dimensions and their criteria, judged on pairs; frozen once it has judgments."""

    def save(self, *args, **kwargs) -> None:
        self.check_editable()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self.check_editable()
        return super().delete(*args, **kwargs)

    @property
    def label(self) -> str:
        return f"{self.slug}-v{self.version}"

    def has_judgments(self) -> bool:
        if self.pk is None:
            return False
        return PairJudgment.objects.filter(assignment__campaign__rubric_id=self.pk).exists()

    def check_editable(self) -> None:
        if self.has_judgments():
            raise RubricLockedError(
                f"Rubric {self} already has judgments and cannot be edited; create a new version instead "
                "(annotation.services.rubric_new_version)."
            )


class Dimension(models.Model):
    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="dimensions")
    code = models.CharField(max_length=10)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rubric", "code"], name="dimension_unique_code")]
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs) -> None:
        self.rubric.check_editable()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self.rubric.check_editable()
        return super().delete(*args, **kwargs)


class Criterion(models.Model):
    dimension = models.ForeignKey(Dimension, on_delete=models.CASCADE, related_name="criteria")
    code = models.CharField(max_length=10)
    name = models.CharField(max_length=100)
    definition = models.TextField()
    guidance = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dimension", "code"], name="criterion_unique_code")]
        ordering = ["dimension__order", "order", "code"]
        verbose_name_plural = "criteria"

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs) -> None:
        self.dimension.rubric.check_editable()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self.dimension.rubric.check_editable()
        return super().delete(*args, **kwargs)


# --- Checklist --------------------------------------------------------------------------------


class Checklist(VersionedDefinition):
    """A per-video yes/no checklist; its questions are ChecklistQuestion rows."""


class ChecklistQuestion(models.Model):
    """One yes/no question, made from one option of a sub-dimension (VisionReward).

    Options of a sub-dimension are ordered by `level`: a higher level is a stronger claim, and a
    "yes" at one level implies "yes" at every lower level of the same sub-dimension. A question
    with `not_applicable_when` set is not applicable when that (presence) question is answered "no".
    """

    checklist = models.ForeignKey(Checklist, on_delete=models.CASCADE, related_name="questions")
    dimension = models.CharField(max_length=50)
    sub_dimension = models.CharField(max_length=100)
    option = models.CharField(max_length=100)
    level = models.PositiveIntegerField()
    text = models.CharField(max_length=300)
    order = models.PositiveIntegerField(default=0)
    not_applicable_when = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="gated_questions",
        help_text='Not applicable when this presence question is answered "no".',
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["checklist", "sub_dimension", "level"], name="question_unique_level"),
        ]
        ordering = ["order"]

    def __str__(self) -> str:
        return self.text

    def text_for(self, prompt: str) -> str:
        return self.text.replace("[[prompt]]", prompt)


# --- Videos and pairs ---------------------------------------------------------------------------


class Video(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    file = models.FileField(upload_to="videos/original/", max_length=300)
    original_name = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.BigIntegerField()
    duration_seconds = models.FloatField()
    fps = models.FloatField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    codec = models.CharField(max_length=50)
    frame_count = models.PositiveIntegerField()
    has_audio = models.BooleanField(default=False)
    source_model = models.CharField(max_length=200, blank=True)
    prompt = models.TextField(blank=True)
    proxy = models.FileField(upload_to="videos/proxy/", max_length=300, blank=True)
    poster = models.FileField(upload_to="videos/poster/", max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.sha256[:10]})"


class Campaign(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        LOCKED = "locked", "Locked"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="campaigns")
    checklist = models.ForeignKey(Checklist, on_delete=models.PROTECT, related_name="campaigns", null=True, blank=True)
    overlap = models.PositiveIntegerField(
        default=3,
        help_text="How many different experts judge each pair; with max_overlap set, the fewest (adaptive overlap).",
    )
    max_overlap = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Adaptive overlap: a pair whose judgments disagree gets one more expert at a time, up to this many "
        "(annotation.overlap). Empty: every pair gets exactly `overlap`.",
    )
    agreement_threshold = models.FloatField(
        default=0.6, help_text="Pairs whose consensus is backed by a smaller share of raters go to adjudication."
    )
    guidelines = models.TextField(
        blank=True, help_text="What experts should know before judging, as Markdown source, written by its curators."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    queue_model = models.ForeignKey(
        "training.RegisteredModel",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Model-in-the-loop queue: among pairs equally far from their target, those this reward model is "
        "unsure of or disagrees with the experts on come first (VideoPair.model_priority, from its verdicts on this "
        "campaign). Empty: the queue ignores models.",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="CampaignMembership", related_name="campaigns")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(overlap__gte=1), name="campaign_overlap_positive"),
            models.CheckConstraint(
                condition=models.Q(max_overlap__isnull=True) | models.Q(max_overlap__gte=models.F("overlap")),
                name="campaign_max_overlap_at_least_overlap",
                violation_error_message="The maximum overlap cannot be below the overlap.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def overlap_ceiling(self) -> int:
        """The most experts a pair of this campaign can get: max_overlap, or the fixed overlap."""
        return self.overlap if self.max_overlap is None else self.max_overlap

    @property
    def overlap_is_adaptive(self) -> bool:
        return self.overlap_ceiling > self.overlap

    def overlap_target(self, *, extra_overlap: int) -> int:
        """How many experts a pair that asked for `extra_overlap` more than the minimum gets now."""
        return min(self.overlap + extra_overlap, self.overlap_ceiling)


class CampaignMembership(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    guidelines_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="When this member first opened the campaign's guidelines page."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "user", "role"], name="membership_unique_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} in {self.campaign}"


class VideoPair(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="pairs")
    external_id = models.CharField(max_length=200, help_text="The pair_id of the manifest line.")
    prompt = models.TextField()
    video_a = models.ForeignKey(Video, on_delete=models.PROTECT, related_name="pairs_as_a")
    video_b = models.ForeignKey(Video, on_delete=models.PROTECT, related_name="pairs_as_b")
    metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text='Free metadata of the manifest line, e.g. {"category": "landscape"}: leaderboards break down by '
        "category. Never shown to experts.",
    )
    assigned_count = models.PositiveIntegerField(
        default=0, help_text="Assignments handed out for this pair; only changed under the pair's row lock."
    )
    extra_overlap = models.PositiveIntegerField(
        default=0,
        db_default=0,  # rows written with COPY or raw INSERT (benchmarks) need no value either
        help_text="Experts this pair asked for beyond its campaign's overlap because its judgments disagreed "
        "(adaptive overlap, annotation.overlap); its target is Campaign.overlap_target. Only raised, under the "
        "pair's row lock.",
    )
    model_priority = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        help_text="Model-in-the-loop queue (annotation.model_queue): 1 if the campaign's queue model found the pair "
        "uncertain, plus 2 if its verdict goes against the majority of the experts' votes so far. 0 in campaigns "
        "without a queue model.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The expert queue (annotation.selectors.pair_candidates_queryset): a pair is open while assigned_count -
        # extra_overlap < the campaign's overlap, a range of this index, read fewest slots left first, then the
        # queue model's priority (all 0 without one, so the old order), then by id. Stored relative to the
        # campaign's overlap, so pairs created anywhere (bulk inserts included) need no target of their own and a
        # curator's change of the overlap applies at once.
        indexes = [
            models.Index(
                "campaign",
                (models.F("assigned_count") - models.F("extra_overlap")).desc(),
                models.F("model_priority").desc(),
                "id",
                name="pair_queue_next",
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "external_id"], name="pair_unique_external_id"),
            models.CheckConstraint(condition=~models.Q(video_a=models.F("video_b")), name="pair_distinct_videos"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.campaign}/{self.external_id}"


class Assignment(models.Model):
    class Status(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        SUBMITTED = "submitted", "Submitted"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="assignments")
    pair = models.ForeignKey(VideoPair, on_delete=models.CASCADE, related_name="assignments")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    swapped = models.BooleanField(help_text="Video B was displayed on the left.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ASSIGNED, db_index=True)
    draft = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    time_spent_seconds = models.FloatField(default=0.0)
    skipped_at = models.DateTimeField(
        null=True, blank=True, help_text="When the expert last skipped it: it waits behind their new pairs."
    )
    task_number = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text='What the expert calls it, "Task N": one more than their previous assignment in the campaign, set '
        "when it is handed out (null on rows written in bulk: then counted, annotation.selectors).",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pair", "expert"], name="assignment_unique_expert_pair")]
        indexes = [
            models.Index(fields=["expert", "status"]),
            # An expert's open pairs, oldest first (annotation.selectors.assignment_open_for): a handful of rows
            # however many judgments the expert has submitted.
            models.Index(
                fields=["expert", "created_at"],
                condition=models.Q(status="assigned", skipped_at__isnull=True),
                name="assignment_open_queue",
            ),
            # An expert's judgments in one campaign, latest first, with their active time: the progress line
            # (annotation.selectors.assignment_progress) counts them and reads the latest few for the pace without
            # touching the table.
            models.Index(
                fields=["expert", "campaign", "submitted_at"],
                condition=models.Q(status="submitted"),
                include=["time_spent_seconds"],
                name="assignment_submitted_by_expert",
            ),
            # The expert's last task number in a campaign, for the next one (annotation.services.assignment_create).
            models.Index(fields=["expert", "campaign", "-task_number"], name="assignment_task_numbers"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.pair} for {self.expert}"


class PairJudgment(models.Model):
    """An expert's submitted judgment of one pair, canonical A/B.

    criteria:   {"VA1": 1, "VA2": 0, ...}           one entry per criterion of the rubric
    dimensions: {"VA": 1, "VF": -1, "VP": 0}        one entry per dimension
    severe:     {"A": {"VA": false, ...}, "B": {...}}  severe-violation flags per video and dimension
    checklist_a, checklist_b: the assignment's checklist answers for video A and B once more, packed
                (annotation.checklist.checklist_pack: one character per question of the campaign's checklist,
                ids ascending), written with the ChecklistAnswer rows. Readers of a whole campaign (agreement,
                exports, leaderboards) read these: 30,000 judgments are 30,000 rows, not 3.8 million.
    """

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="judgment")
    criteria = models.JSONField()
    dimensions = models.JSONField()
    severe = models.JSONField(default=dict)
    checklist_a = models.TextField(blank=True, default="")
    checklist_b = models.TextField(blank=True, default="")
    notes = models.TextField(blank=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Judgment of {self.assignment}"

    def clean(self) -> None:
        rubric = self.assignment.campaign.rubric
        check_verdicts_match_rubric(rubric=rubric, criteria=self.criteria, dimensions=self.dimensions)
        check_severe_flags(rubric=rubric, severe=self.severe)


def check_verdicts_match_rubric(
    *, rubric: Rubric, criteria: dict, dimensions: dict, structure: list[Dimension] | None = None
) -> None:
    """ValidationError unless there is one verdict per criterion and per dimension of the rubric. `structure`, the
    rubric's dimensions with their criteria (annotation.selectors.rubric_structure, cached), saves reading them."""
    if structure is None:
        dimension_codes = set(rubric.dimensions.values_list("code", flat=True))
        criterion_codes = set(Criterion.objects.filter(dimension__rubric=rubric).values_list("code", flat=True))
    else:
        dimension_codes = {dimension.code for dimension in structure}
        criterion_codes = {criterion.code for dimension in structure for criterion in dimension.criteria.all()}
    errors: dict[str, list[str]] = {}
    for field, given, expected in (
        ("criteria", criteria, criterion_codes),
        ("dimensions", dimensions, dimension_codes),
    ):
        if not isinstance(given, dict):
            errors[field] = [f"{field} must be an object of code -> verdict."]
            continue
        missing = sorted(expected - set(given))
        unknown = sorted(set(given) - expected)
        bad_values = sorted(
            code for code, value in given.items() if value not in Verdict.values or isinstance(value, bool)
        )
        messages = []
        if missing:
            messages.append(f"missing: {', '.join(missing)}")
        if unknown:
            messages.append(f"unknown codes: {', '.join(unknown)}")
        if bad_values:
            messages.append(f"verdicts must be 1, 0 or -1: {', '.join(bad_values)}")
        if messages:
            errors[field] = messages
    if errors:
        raise ValidationError(errors)


def check_severe_flags(*, rubric: Rubric, severe: dict, structure: list[Dimension] | None = None) -> None:
    if structure is None:
        dimension_codes = set(rubric.dimensions.values_list("code", flat=True))
    else:
        dimension_codes = {dimension.code for dimension in structure}
    if not isinstance(severe, dict) or not set(severe) <= {"A", "B"}:
        raise ValidationError({"severe": 'severe must be {"A": {...}, "B": {...}}.'})
    for side, flags in severe.items():
        if not isinstance(flags, dict) or not set(flags) <= dimension_codes:
            raise ValidationError({"severe": f"severe[{side}] must map dimension codes to booleans."})
        if not all(isinstance(value, bool) for value in flags.values()):
            raise ValidationError({"severe": f"severe[{side}] values must be true or false."})


class PairJudgmentRevision(models.Model):
    """Every submitted version of a judgment, kept so revisions are auditable."""

    judgment = models.ForeignKey(PairJudgment, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    criteria = models.JSONField()
    dimensions = models.JSONField()
    severe = models.JSONField(default=dict)
    notes = models.TextField(blank=True)
    checklist = models.JSONField(
        default=dict,
        blank=True,
        help_text='The checklist answers of this revision: {"video id": {"question id": "yes"|"no"|"na"}}.',
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["judgment", "revision"], name="revision_unique_number")]
        ordering = ["judgment", "revision"]

    def __str__(self) -> str:
        return f"{self.judgment} (revision {self.revision})"


class ChecklistAnswer(models.Model):
    """One answer of one expert's checklist for one video, given in one assignment (its judgment's checklist).

    Answers belong to the assignment, so the same video judged again in another pair or campaign gets its own
    answers and never changes those of an earlier judgment. `annotator` is the assignment's expert, kept here for
    reads by expert. Readers of a campaign take one assignment's answers per (video, expert): see
    annotation.selectors.checklist_answer_sets."""

    class Answer(models.TextChoices):
        YES = "yes", "Yes"
        NO = "no", "No"
        NOT_APPLICABLE = "na", "Not applicable"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="checklist_answers")
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="checklist_answers")
    question = models.ForeignKey(ChecklistQuestion, on_delete=models.CASCADE, related_name="answers")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="checklist_answers")
    answer = models.CharField(max_length=3, choices=Answer.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "video", "question"], name="answer_unique_per_assignment"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} on {self.video}: {self.question} -> {self.answer}"


class PairFlag(models.Model):
    """An expert's report that a pair cannot be judged as it is. Never a judgment: agreement, consensus and
    exports read PairJudgment only. Curators of the campaign see flags in its flag queue."""

    class Reason(models.TextChoices):
        BROKEN_VIDEO = "broken_video", "Broken video"
        IDENTICAL_VIDEOS = "identical_videos", "Identical videos"
        OFFENSIVE_CONTENT = "offensive_content", "Offensive content"
        OTHER = "other", "Other"

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="flag")
    pair = models.ForeignKey(VideoPair, on_delete=models.CASCADE, related_name="flags")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pair_flags")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    text = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.pair} by {self.expert}"

    def clean(self) -> None:
        if self.reason == self.Reason.OTHER and not self.text.strip():
            raise ValidationError({"text": "Say what is wrong with the pair."})


class TimedComment(models.Model):
    """An expert's note pinned to a moment of the pair player, made while judging. Never a judgment: agreement,
    consensus, overlap and exports read PairJudgment only. Its author is the assignment's expert.

    `side` is canonical like verdicts: A, B, or both (the two players run in sync, so one time fits both sides)."""

    class Side(models.TextChoices):
        A = "A", "Video A"
        B = "B", "Video B"
        BOTH = "both", "Both videos"

    TEXT_MAX_LENGTH = 1000

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="timed_comments")
    seconds = models.FloatField(help_text="The player's time when the note was made.")
    side = models.CharField(max_length=4, choices=Side.choices, default=Side.BOTH)
    text = models.TextField(max_length=TEXT_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seconds", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(seconds__gte=0), name="timed_comment_seconds_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.seconds:.3f} s ({self.side}) on {self.assignment}"
