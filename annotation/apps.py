from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "annotation"

    def ready(self) -> None:
        from annotation import signals  # noqa: F401  (connects the receivers)
        from webapp import lookups  # noqa: F401  (registers field__any)
