from django.urls import path

from leaderboards import views

urlpatterns = [
    path("campaigns/<int:campaign_id>/leaderboard/", views.leaderboard_page, name="leaderboard"),
    path("campaigns/<int:campaign_id>/leaderboard/status/", views.leaderboard_status, name="leaderboard-status"),
    path("campaigns/<int:campaign_id>/leaderboard.json", views.leaderboard_json, name="leaderboard-json"),
    path("campaigns/<int:campaign_id>/leaderboard/<str:table>.csv", views.leaderboard_csv, name="leaderboard-csv"),
    path(
        "campaigns/<int:campaign_id>/leaderboard/model/", views.leaderboard_model_start, name="leaderboard-model-start"
    ),
    path(
        "campaigns/<int:campaign_id>/leaderboard/model/status/",
        views.leaderboard_model_status,
        name="leaderboard-model-status",
    ),
    path("campaigns/<int:campaign_id>/pairing/", views.pairing_page, name="pairing"),
    path("campaigns/<int:campaign_id>/reliability/", views.reliability_page, name="leaderboard-reliability"),
    path(
        "campaigns/<int:campaign_id>/reliability/status/",
        views.leaderboard_status,
        {"kind": "reliability"},
        name="leaderboard-reliability-status",
    ),
]
