from django.apps import AppConfig


class AgreementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "agreement"
    verbose_name = "Agreement, consensus and adjudication"

    def ready(self) -> None:
        from annotation.signals import judgments_changed

        judgments_changed.connect(_judgments_changed, dispatch_uid="agreement-dashboard-reports-stale")


def _judgments_changed(sender, *, campaign_id: int, **kwargs) -> None:
    from agreement.services import dashboard_reports_mark_stale

    dashboard_reports_mark_stale(campaign_id=campaign_id)
