from django.urls import path

from distillation import apis, views

urlpatterns = [
    path("distillation/", views.job_index, name="distillation-index"),
    path("distillation/endpoints/", views.endpoint_index, name="distillation-endpoints"),
    path("distillation/endpoints/new/", views.endpoint_add, name="distillation-endpoint-add"),
    path("distillation/endpoints/test-card.jpg", views.endpoint_test_card, name="distillation-endpoint-test-card"),
    path("distillation/endpoints/<int:endpoint_id>/", views.endpoint_detail, name="distillation-endpoint"),
    path("distillation/endpoints/<int:endpoint_id>/test/", views.endpoint_test, name="distillation-endpoint-test"),
    path("distillation/jobs/<int:job_id>/", views.job_detail, name="distillation-job"),
    path("distillation/jobs/<int:job_id>/progress/", views.job_progress_partial, name="distillation-job-progress"),
    path("distillation/jobs/<int:job_id>/cancel/", views.job_cancel_view, name="distillation-job-cancel"),
    path("distillation/jobs/<int:job_id>/resume/", views.job_resume_view, name="distillation-job-resume"),
    path("distillation/audit/", views.audit_queue_view, name="distillation-audit"),
    path("distillation/critiques/<int:critique_id>/", views.critique_review, name="distillation-critique"),
    path("api/distillation/jobs/", apis.JobStartApi.as_view(), name="api-distillation-jobs"),
    path("api/distillation/jobs/<int:job_id>/", apis.JobStatusApi.as_view(), name="api-distillation-job"),
]
