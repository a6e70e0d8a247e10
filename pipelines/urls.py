from django.urls import path

from pipelines import views

urlpatterns = [
    path("campaigns/<int:campaign_id>/upload/", views.pair_upload, name="pair-upload"),
]
