from django.urls import path

from training import apis, views

urlpatterns = [
    path("training/", views.training_index, name="training-index"),
    path("exports/<int:snapshot_id>/train/", views.snapshot_train, name="training-train"),
    path("training/jobs/<int:job_id>/", views.job_detail, name="training-job"),
    path("training/jobs/<int:job_id>/cancel/", views.job_cancel, name="training-job-cancel"),
    path("training/jobs/<int:job_id>/curves/", views.job_curves, name="training-job-curves"),
    path("training/jobs/<int:job_id>/files/<path:name>", views.job_file, name="training-job-file"),
    path("training/models/", views.model_index, name="training-models"),
    path("training/models/evaluate-on/", views.models_evaluate_on, name="training-models-evaluate-on"),
    path("training/models/compare/", views.model_compare, name="training-compare"),
    path("training/models/<int:model_id>/", views.model_detail, name="training-model"),
    path("training/models/<int:model_id>/evaluate/", views.model_evaluate, name="training-model-evaluate"),
    path("training/models/<int:model_id>/tag/", views.model_tag, name="training-model-tag"),
    path("training/models/<int:model_id>/delete/", views.model_delete, name="training-model-delete"),
    path("api/training/jobs/", apis.JobCreateApi.as_view(), name="api-training-jobs"),
    path("api/training/jobs/<int:job_id>/", apis.JobDetailApi.as_view(), name="api-training-job"),
    path("api/training/models/", apis.ModelListApi.as_view(), name="api-training-models"),
]
