from django.urls import path

from exports import apis, views

urlpatterns = [
    path("exports/", views.export_index, name="export-index"),
    path("exports/<int:snapshot_id>/", views.export_detail, name="export-detail"),
    path("exports/<int:snapshot_id>/download/", views.export_download, name="export-download"),
    path("exports/<int:snapshot_id>/cancel/", views.export_cancel_view, name="export-cancel"),
    path("api/exports/", apis.SnapshotListCreateApi.as_view(), name="api-exports"),
    path("api/exports/<int:snapshot_id>/", apis.SnapshotDetailApi.as_view(), name="api-export-detail"),
    path("api/exports/<int:snapshot_id>/download/", apis.SnapshotDownloadApi.as_view(), name="api-export-download"),
    path("api/exports/<int:snapshot_id>/cancel/", apis.SnapshotCancelApi.as_view(), name="api-export-cancel"),
]
