"""The app's URLconf plus one view that fails, to see the 500 page the way a user would."""

from django.urls import path

from webapp.urls import urlpatterns as app_urlpatterns


def failing_view(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [*app_urlpatterns, path("failing/", failing_view)]
