from django.apps import AppConfig


class LeaderboardsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "leaderboards"
    verbose_name = "Generator leaderboards"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from agreement.models import Adjudication
        from annotation.signals import judgments_changed

        judgments_changed.connect(_judgments_changed, dispatch_uid="leaderboard-results-stale")
        # An adjudication changes a pair's consensus label, so the leaderboard; agreement records it without
        # annotation's signal (it is not a judgment).
        post_save.connect(_adjudication_saved, sender=Adjudication, dispatch_uid="leaderboard-results-adjudicated")


def _judgments_changed(sender, *, campaign_id: int, **kwargs) -> None:
    from leaderboards.services import leaderboard_results_mark_stale

    leaderboard_results_mark_stale(campaign_id=campaign_id)


def _adjudication_saved(sender, instance, **kwargs) -> None:
    from leaderboards.services import leaderboard_results_mark_stale_on_commit

    leaderboard_results_mark_stale_on_commit(campaign_id=instance.pair.campaign_id)
