from django.urls import include, path

from annotation import campaign_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/<int:campaign_id>/lock/", views.campaign_lock_toggle, name="campaign-lock-toggle"),
    path("work/next/", views.assignment_next, name="assignment-next"),
    path("work/assignments/<int:assignment_id>/", views.workbench, name="workbench"),
    path("work/assignments/<int:assignment_id>/draft/", views.draft_save, name="draft-save"),
    path("work/assignments/<int:assignment_id>/submit/", views.judgment_submit, name="judgment-submit"),
    path("work/assignments/<int:assignment_id>/skip/", views.assignment_skip, name="assignment-skip"),
    path("work/assignments/<int:assignment_id>/flag/", views.pair_flag, name="pair-flag"),
    path("work/assignments/<int:assignment_id>/comments/", views.timed_comment_add, name="timed-comment-add"),
    path(
        "work/assignments/<int:assignment_id>/comments/<int:comment_id>/delete/",
        views.timed_comment_delete,
        name="timed-comment-delete",
    ),
    path("campaigns/<int:campaign_id>/flags/", views.pair_flag_queue, name="pair-flag-queue"),
    path("campaigns/new/", campaign_views.campaign_new, name="campaign-new"),
    path("campaigns/<int:campaign_id>/", campaign_views.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/overlap/", campaign_views.campaign_overlap, name="campaign-overlap"),
    path("campaigns/<int:campaign_id>/queue-model/", campaign_views.campaign_queue_model, name="campaign-queue-model"),
    path("campaigns/<int:campaign_id>/members/add/", campaign_views.campaign_member_add, name="campaign-member-add"),
    path(
        "campaigns/<int:campaign_id>/members/remove/",
        campaign_views.campaign_member_remove,
        name="campaign-member-remove",
    ),
    path("campaigns/<int:campaign_id>/manifest/", campaign_views.campaign_manifest_upload, name="campaign-manifest"),
    path(
        "campaigns/<int:campaign_id>/guidelines/",
        campaign_views.campaign_guidelines,
        name="campaign-guidelines",
    ),
    path("campaigns/<int:campaign_id>/lock/confirm/", campaign_views.campaign_lock_confirm, name="campaign-lock"),
    path("", include("pipelines.urls")),
]
