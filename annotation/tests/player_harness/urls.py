"""Test-only URLconf: the harness page, sign-in, and the app's ranged media view.

Self-contained on purpose, so the player's browser tests do not depend on the rest of the app's URLs.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import include, path, re_path

from annotation.media_views import media_serve
from annotation.models import VideoPair

HARNESS_TEMPLATE = Path(__file__).with_name("harness.html")


@login_required
def pair_player_harness(request: HttpRequest, pair_id: int) -> HttpResponse:
    """The pair's videos in the player; `?players=2` renders a second player below the first."""
    pair = get_object_or_404(VideoPair.objects.select_related("video_a", "video_b"), pk=pair_id)
    # Read per request: the engine's loaders only look in template folders, and this lives beside the tests.
    template = engines["django"].from_string(HARNESS_TEMPLATE.read_text())
    context = {"pair": pair, "second_player": request.GET.get("players") == "2"}
    return HttpResponse(template.render(context, request))


urlpatterns = [
    path("harness/pair-player/<int:pair_id>/", pair_player_harness, name="pair-player-harness"),
    path("accounts/", include("django.contrib.auth.urls")),
    re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?P<path>.+)$", media_serve, name="media"),
]
