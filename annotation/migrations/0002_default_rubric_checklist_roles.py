from django.db import migrations

from annotation import defaults


def install_defaults(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in defaults.ROLE_GROUPS:
        Group.objects.get_or_create(name=name)

    Rubric = apps.get_model("annotation", "Rubric")
    rubric_data = defaults.load_json(defaults.DEFAULT_RUBRIC_FILE)
    if not Rubric.objects.filter(slug=rubric_data["slug"], version=rubric_data["version"]).exists():
        defaults.rubric_build(
            rubric_data,
            rubric_model=Rubric,
            dimension_model=apps.get_model("annotation", "Dimension"),
            criterion_model=apps.get_model("annotation", "Criterion"),
        )

    Checklist = apps.get_model("annotation", "Checklist")
    checklist_data = defaults.load_json(defaults.DEFAULT_CHECKLIST_FILE)
    if not Checklist.objects.filter(slug=checklist_data["slug"], version=checklist_data["version"]).exists():
        defaults.checklist_build(
            checklist_data, checklist_model=Checklist, question_model=apps.get_model("annotation", "ChecklistQuestion")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(install_defaults, migrations.RunPython.noop)]
