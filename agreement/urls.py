from django.urls import path

from agreement import views

urlpatterns = [
    path("agreement/", views.agreement_index, name="agreement-index"),
    path("campaigns/<int:campaign_id>/agreement/", views.agreement_dashboard, name="agreement-dashboard"),
    path(
        "campaigns/<int:campaign_id>/agreement/status/",
        views.agreement_dashboard_status,
        name="agreement-dashboard-status",
    ),
    path("campaigns/<int:campaign_id>/agreement/<str:table>.csv", views.agreement_csv, name="agreement-csv"),
    path("campaigns/<int:campaign_id>/pairs/", views.pair_browser, name="agreement-pair-browser"),
    path("campaigns/<int:campaign_id>/adjudication/", views.adjudication_queue, name="agreement-queue"),
    path("campaigns/<int:campaign_id>/adjudication/<int:pair_id>/", views.pair_review, name="agreement-pair"),
]
