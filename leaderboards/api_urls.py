from django.urls import path

from leaderboards import apis

urlpatterns = [
    path("campaigns/<int:campaign_id>/leaderboard/", apis.LeaderboardApi.as_view(), name="api-leaderboard"),
    path(
        "campaigns/<int:campaign_id>/leaderboard/model/",
        apis.ModelScoringListCreateApi.as_view(),
        name="api-leaderboard-model-runs",
    ),
    path(
        "campaigns/<int:campaign_id>/leaderboard/model/<int:model_id>/",
        apis.ModelLeaderboardApi.as_view(),
        name="api-leaderboard-model",
    ),
    path("campaigns/<int:campaign_id>/generations/", apis.GenerationListCreateApi.as_view(), name="api-generations"),
    path("campaigns/<int:campaign_id>/pairing/", apis.PairingApi.as_view(), name="api-pairing"),
]
