from collections import defaultdict

from django.db import migrations, models

PACKED = {"no": "n", "yes": "y", "na": "a"}


def pack_existing_answers(apps, schema_editor):
    """Fill checklist_a / checklist_b of every judgment from its ChecklistAnswer rows, 1,000 judgments at a time."""
    PairJudgment = apps.get_model("annotation", "PairJudgment")
    ChecklistAnswer = apps.get_model("annotation", "ChecklistAnswer")
    ChecklistQuestion = apps.get_model("annotation", "ChecklistQuestion")
    question_ids = defaultdict(list)
    for checklist_id, question_id in ChecklistQuestion.objects.order_by("id").values_list("checklist_id", "id"):
        question_ids[checklist_id].append(question_id)
    judgments = (
        PairJudgment.objects.filter(assignment__campaign__checklist__isnull=False)
        .order_by("id")
        .values_list(
            "id",
            "assignment_id",
            "assignment__campaign__checklist_id",
            "assignment__pair__video_a_id",
            "assignment__pair__video_b_id",
        )
    )
    rows = list(judgments)
    for start in range(0, len(rows), 1000):
        batch = rows[start : start + 1000]
        given = defaultdict(dict)
        for assignment_id, video_id, question_id, answer in ChecklistAnswer.objects.filter(
            assignment_id__in=[row[1] for row in batch]
        ).values_list("assignment_id", "video_id", "question_id", "answer"):
            given[assignment_id, video_id][question_id] = answer
        updated = []
        for judgment_id, assignment_id, checklist_id, video_a_id, video_b_id in batch:
            packed = []
            for video_id in (video_a_id, video_b_id):
                answers = given.get((assignment_id, video_id), {})
                packed.append(
                    "".join(PACKED.get(answers.get(q), "-") for q in question_ids[checklist_id]) if answers else ""
                )
            updated.append(PairJudgment(id=judgment_id, checklist_a=packed[0], checklist_b=packed[1]))
        PairJudgment.objects.bulk_update(updated, ["checklist_a", "checklist_b"])


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0013_model_in_the_loop_queue"),
    ]

    operations = [
        migrations.AddField(
            model_name="pairjudgment",
            name="checklist_a",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="pairjudgment",
            name="checklist_b",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(pack_existing_answers, migrations.RunPython.noop),
    ]
