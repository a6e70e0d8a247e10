from django.urls import path

from leaderboards import apis

urlpatterns = [
    path("campaigns/<int:campaign_id>/leaderboard/", apis.LeaderboardApi.as_view(), name="api-leaderboard"),
]
