"""Checklist answers belong to the assignment they were given in (before: one set per video and expert, which a
later pair with the same video silently replaced), and each judgment revision keeps its own answers.

This migration keeps what exists: answers that have an assignment keep it; answers without one (their assignment
was deleted) go to their expert's latest submitted assignment whose pair shows the video, or are deleted when there
is none. The latest revision of each judgment gets the answers its assignment holds. 0004 then makes the
assignment required and the answers unique per (assignment, video, question)."""

from itertools import groupby
from operator import itemgetter

from django.db import migrations, models
from django.db.models import F, Q

BATCH = 2000


def attach_orphan_answers(apps, schema_editor):
    ChecklistAnswer = apps.get_model("annotation", "ChecklistAnswer")
    Assignment = apps.get_model("annotation", "Assignment")
    orphans = ChecklistAnswer.objects.filter(assignment__isnull=True)
    attached = deleted = 0
    for annotator_id, video_id in list(orphans.values_list("annotator_id", "video_id").distinct()):
        answers = orphans.filter(annotator_id=annotator_id, video_id=video_id)
        target = (
            Assignment.objects.filter(expert_id=annotator_id, status="submitted")
            .filter(Q(pair__video_a_id=video_id) | Q(pair__video_b_id=video_id))
            .order_by(F("submitted_at").desc(nulls_last=True), "-id")
            .values_list("id", flat=True)
            .first()
        )
        # The old key (video, question, annotator) allowed one answer per question, so the target holds no
        # answer these would duplicate.
        if target is None:
            deleted += answers.delete()[0]
        else:
            attached += answers.update(assignment_id=target)
    if attached or deleted:
        print(
            f"\n  Checklist answers without an assignment: {attached} attached to their expert's latest submitted "
            f"assignment of the video, {deleted} deleted (no submitted assignment of their expert shows the video)."
        )


def fill_latest_revision_checklists(apps, schema_editor):
    ChecklistAnswer = apps.get_model("annotation", "ChecklistAnswer")
    PairJudgmentRevision = apps.get_model("annotation", "PairJudgmentRevision")
    rows = (
        ChecklistAnswer.objects.filter(assignment__judgment__isnull=False)
        .order_by("assignment_id")
        .values_list("assignment_id", "video_id", "question_id", "answer")
        .iterator(chunk_size=10_000)
    )
    pending: dict[int, dict] = {}

    def flush():
        revisions = list(
            PairJudgmentRevision.objects.filter(
                judgment__assignment_id__in=list(pending), revision=F("judgment__revision")
            ).select_related("judgment")
        )
        for revision in revisions:
            revision.checklist = pending[revision.judgment.assignment_id]
        PairJudgmentRevision.objects.bulk_update(revisions, ["checklist"], batch_size=BATCH)
        pending.clear()

    for assignment_id, answers in groupby(rows, key=itemgetter(0)):
        checklist: dict[str, dict[str, str]] = {}
        for _, video_id, question_id, answer in answers:
            checklist.setdefault(str(video_id), {})[str(question_id)] = answer
        pending[assignment_id] = checklist
        if len(pending) >= BATCH:
            flush()
    if pending:
        flush()


class Migration(migrations.Migration):
    dependencies = [("annotation", "0002_default_rubric_checklist_roles")]

    operations = [
        migrations.AddField(
            model_name="pairjudgmentrevision",
            name="checklist",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='The checklist answers of this revision: {"video id": {"question id": "yes"|"no"|"na"}}.',
            ),
        ),
        migrations.RemoveConstraint(model_name="checklistanswer", name="answer_unique_per_annotator"),
        migrations.RunPython(attach_orphan_answers, migrations.RunPython.noop),
        migrations.RunPython(fill_latest_revision_checklists, migrations.RunPython.noop),
    ]
