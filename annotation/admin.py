from django.contrib import admin

from annotation import models


class CriterionInline(admin.TabularInline):
    model = models.Criterion
    extra = 0


@admin.register(models.Rubric)
class RubricAdmin(admin.ModelAdmin):
    list_display = ("slug", "version", "title", "created_at")


@admin.register(models.Dimension)
class DimensionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "rubric", "order")
    list_filter = ("rubric",)
    inlines = [CriterionInline]


@admin.register(models.Criterion)
class CriterionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "dimension", "order")
    list_filter = ("dimension__rubric",)


class ChecklistQuestionInline(admin.TabularInline):
    model = models.ChecklistQuestion
    extra = 0
    fk_name = "checklist"
    raw_id_fields = ("not_applicable_when",)


@admin.register(models.Checklist)
class ChecklistAdmin(admin.ModelAdmin):
    list_display = ("slug", "version", "title")
    inlines = [ChecklistQuestionInline]


@admin.register(models.ChecklistQuestion)
class ChecklistQuestionAdmin(admin.ModelAdmin):
    list_display = ("text", "dimension", "sub_dimension", "option", "level", "checklist")
    list_filter = ("checklist", "dimension")
    raw_id_fields = ("not_applicable_when",)


@admin.register(models.Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ("original_name", "status", "duration_seconds", "width", "height", "codec", "source_model")
    list_filter = ("status", "codec")
    search_fields = ("original_name", "sha256", "prompt", "source_model")
    readonly_fields = ("sha256", "size_bytes", "created_at", "processed_at")


class MembershipInline(admin.TabularInline):
    model = models.CampaignMembership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(models.Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "rubric", "checklist", "overlap", "max_overlap", "status", "created_at")
    inlines = [MembershipInline]


@admin.register(models.CampaignMembership)
class CampaignMembershipAdmin(admin.ModelAdmin):
    list_display = ("campaign", "user", "role")
    list_filter = ("role", "campaign")


@admin.register(models.VideoPair)
class VideoPairAdmin(admin.ModelAdmin):
    list_display = ("external_id", "campaign", "video_a", "video_b")
    list_filter = ("campaign",)
    search_fields = ("external_id", "prompt")
    raw_id_fields = ("video_a", "video_b")


@admin.register(models.Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("pair", "expert", "swapped", "status", "submitted_at", "time_spent_seconds")
    list_filter = ("status", "campaign")
    raw_id_fields = ("pair", "expert")


class ExpertWorkReadOnly:
    """Judgments, their revisions and checklist answers change only through a submit (a new revision, refused in a
    locked campaign), and notes on moments only in the expert's workbench, never by editing rows here: the admin
    shows them read-only."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RevisionInline(ExpertWorkReadOnly, admin.TabularInline):
    model = models.PairJudgmentRevision
    extra = 0


@admin.register(models.PairJudgment)
class PairJudgmentAdmin(ExpertWorkReadOnly, admin.ModelAdmin):
    list_display = ("assignment", "revision", "updated_at")
    inlines = [RevisionInline]


@admin.register(models.PairJudgmentRevision)
class PairJudgmentRevisionAdmin(ExpertWorkReadOnly, admin.ModelAdmin):
    list_display = ("judgment", "revision", "created_at")


@admin.register(models.ChecklistAnswer)
class ChecklistAnswerAdmin(ExpertWorkReadOnly, admin.ModelAdmin):
    list_display = ("video", "question", "annotator", "assignment", "answer")
    list_filter = ("answer",)


@admin.register(models.TimedComment)
class TimedCommentAdmin(ExpertWorkReadOnly, admin.ModelAdmin):
    list_display = ("assignment", "seconds", "side", "text", "created_at")
    list_filter = ("side",)
