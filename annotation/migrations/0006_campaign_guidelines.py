from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0005_pair_flags_and_skipped_assignments'),
    ]

    operations = [
        migrations.AddField(
            model_name='campaign',
            name='guidelines',
            field=models.TextField(blank=True, help_text='What experts should know before judging, as Markdown source, written by its curators.'),
        ),
    ]
