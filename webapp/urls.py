from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from annotation.media_views import media_serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("webapp.account_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("pipelines.api_urls")),
    path("api/", include("leaderboards.api_urls")),
    path("api/", include("annotation.api_urls")),
    path("", include("agreement.urls")),
    path("", include("distillation.urls")),
    path("", include("exports.urls")),
    path("", include("training.urls")),
    path("", include("leaderboards.urls")),
    path("", include("annotation.urls")),
]

if not settings.AWS_STORAGE_BUCKET_NAME:
    urlpatterns.append(re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?P<path>.+)$", media_serve, name="media"))
