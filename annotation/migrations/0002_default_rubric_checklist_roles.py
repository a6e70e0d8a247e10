from django.db import migrations

from annotation import defaults


def install_defaults(apps, schema_editor):
    defaults.install(apps.get_model)


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(install_defaults, migrations.RunPython.noop)]
