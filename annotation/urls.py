from django.urls import include, path

from annotation import views

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/<int:campaign_id>/lock/", views.campaign_lock_toggle, name="campaign-lock-toggle"),
    path("work/next/", views.assignment_next, name="assignment-next"),
    path("work/assignments/<int:assignment_id>/", views.workbench, name="workbench"),
    path("work/assignments/<int:assignment_id>/draft/", views.draft_save, name="draft-save"),
    path("work/assignments/<int:assignment_id>/submit/", views.judgment_submit, name="judgment-submit"),
    path("", include("pipelines.urls")),
]
