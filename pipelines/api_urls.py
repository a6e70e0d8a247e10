from django.urls import path

from pipelines import apis

urlpatterns = [
    path("pairs/", apis.PairListCreateApi.as_view(), name="api-pairs"),
    path("videos/<int:pk>/", apis.VideoDetailApi.as_view(), name="api-video-detail"),
]
