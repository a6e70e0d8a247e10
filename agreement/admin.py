from django.contrib import admin

from agreement.models import Adjudication, GoldLabel


@admin.register(GoldLabel)
class GoldLabelAdmin(admin.ModelAdmin):
    list_display = ("pair", "set_by", "set_at")
    list_filter = ("pair__campaign",)
    raw_id_fields = ("pair",)


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    """Read-only: adjudications are an audit trail, recorded from the pair review page."""

    list_display = ("pair", "adjudicated_by", "created_at", "reason")
    list_filter = ("pair__campaign",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
