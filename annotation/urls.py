from django.urls import include, path

from annotation import views

urlpatterns = [
    path("", views.home, name="home"),
    path("", include("pipelines.urls")),
]
