from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render

from annotation.models import Video
from annotation.selectors import campaigns_for, user_can_ingest


@login_required
def home(request):
    ready = Video.Status.READY
    campaigns = campaigns_for(user=request.user).annotate(
        pair_count=Count("pairs", distinct=True),
        ready_pair_count=Count(
            "pairs", filter=Q(pairs__video_a__status=ready, pairs__video_b__status=ready), distinct=True
        ),
    )
    return render(
        request,
        "annotation/home.html",
        {"campaigns": campaigns, "can_ingest": user_can_ingest(user=request.user)},
    )
