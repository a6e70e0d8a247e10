from django.urls import path

from annotation import apis

urlpatterns = [
    path("campaigns/<int:campaign_id>/queue/", apis.CampaignQueueApi.as_view(), name="api-campaign-queue"),
    path("work/next/", apis.NextAssignmentApi.as_view(), name="api-assignment-next"),
]
