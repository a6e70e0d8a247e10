from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from annotation.selectors import CURATE, INGEST, access_campaign, user_has_role
from pipelines.forms import PairUploadForm
from pipelines.ingest import PairRejected, pair_ingest_uploaded
from pipelines.media import VideoRejected


@login_required
def pair_upload(request, campaign_id: int):
    campaign = access_campaign(user=request.user, campaign_id=campaign_id, roles=INGEST, action="upload pairs to it")
    form = PairUploadForm(request.POST or None, request.FILES or None)
    error = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            pair, created = pair_ingest_uploaded(
                campaign=campaign,
                prompt=data["prompt"],
                external_id=data["pair_id"] or None,
                video_a=data["video_a"],
                video_b=data["video_b"],
                source_a=data["source_a"],
                source_b=data["source_b"],
            )
        except (VideoRejected, PairRejected) as rejected:
            error = str(rejected)
        except ValidationError as invalid:
            error = "; ".join(invalid.messages)
        else:
            verb = "added" if created else "was already in the campaign"
            messages.success(request, f"Pair {pair.external_id} {verb}; its videos are being processed.")
            if user_has_role(user=request.user, roles=CURATE, campaign_id=campaign.pk):
                return redirect("campaign-detail", campaign_id=campaign.pk)
            return redirect("home")
    context = {
        "campaign": campaign,
        "form": form,
        "error": error,
        "max_mb": round(settings.VIDEO_MAX_BYTES / 1e6),
        "max_seconds": round(settings.VIDEO_MAX_DURATION_SECONDS),
    }
    rejected = request.method == "POST" and (error or form.errors)
    return render(request, "pipelines/pair_upload.html", context, status=400 if rejected else 200)
