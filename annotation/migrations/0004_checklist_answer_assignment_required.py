"""The schema half of 0003, in its own transaction: PostgreSQL refuses to alter a table whose rows were just
updated in the same transaction (pending foreign-key trigger events)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotation", "0003_checklist_answers_belong_to_assignments")]

    operations = [
        migrations.AlterField(
            model_name="checklistanswer",
            name="assignment",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="checklist_answers",
                to="annotation.assignment",
            ),
        ),
        migrations.AddConstraint(
            model_name="checklistanswer",
            constraint=models.UniqueConstraint(
                fields=("assignment", "video", "question"), name="answer_unique_per_assignment"
            ),
        ),
    ]
