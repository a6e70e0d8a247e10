"""The curators' campaign pages: create a campaign, run it (pairs, members, throughput), lock it."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from annotation import selectors, services
from annotation.campaign_forms import (
    CampaignCreateForm,
    GuidelinesForm,
    ManifestUploadForm,
    MemberAddForm,
    OverlapForm,
    QueueModelForm,
)
from annotation.guidelines import guidelines_html
from annotation.models import Campaign
from pipelines.ingest import PairRejected, manifest_import_uploaded
from pipelines.media import VideoRejected


@login_required
def campaign_new(request):
    selectors.check_may_create_campaign(user=request.user)
    form = CampaignCreateForm(request.POST or None, initial={"checklist": services.checklist_default()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            campaign = services.campaign_create(
                name=data["name"],
                rubric=data["rubric"],
                checklist=data["checklist"],
                overlap=data["overlap"],
                max_overlap=data["max_overlap"],
                agreement_threshold=data["agreement_threshold"],
                guidelines=data["guidelines"],
                created_by=request.user,
            )
        except ValidationError as invalid:
            _errors_onto(form, invalid)
        else:
            messages.success(request, f"Campaign {campaign.name} created; you are its curator.")
            return redirect("campaign-detail", campaign_id=campaign.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "annotation/campaign_new.html", {"form": form}, status=status)


def _errors_onto(form, invalid: ValidationError) -> None:
    """A service's ValidationError shown beside the field it names (or above the form)."""
    if hasattr(invalid, "error_dict"):
        for field, errors in invalid.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, invalid)


def _campaign_page(
    request,
    campaign: Campaign,
    *,
    member_form=None,
    manifest_form=None,
    overlap_form=None,
    queue_model_form=None,
    report=None,
    status=200,
):
    context = {
        "campaign": campaign,
        "members": selectors.campaign_members(campaign=campaign),
        "throughput": selectors.campaign_expert_throughput(campaign=campaign),
        "pair_count": campaign.pairs.count(),
        "member_form": member_form or MemberAddForm(),
        "manifest_form": manifest_form or ManifestUploadForm(),
        "guidelines_form": GuidelinesForm(initial={"guidelines": campaign.guidelines}),
        "overlap_form": overlap_form
        or OverlapForm(initial={"overlap": campaign.overlap, "max_overlap": campaign.max_overlap}),
        "overlap_counts": selectors.campaign_pairs_by_overlap(campaign=campaign)
        if campaign.overlap_is_adaptive
        else None,
        "queue_model_form": queue_model_form
        or QueueModelForm(campaign=campaign, initial={"queue_model": campaign.queue_model_id}),
        "model_priority_counts": selectors.campaign_pairs_by_model_priority(campaign=campaign)
        if campaign.queue_model_id is not None
        else None,
        "report": report,
        "max_mb": round(settings.VIDEO_MAX_BYTES / 1e6),
    }
    return render(request, "annotation/campaign_detail.html", context, status=status)


def _curated_campaign(request, campaign_id: int, action: str) -> Campaign:
    return selectors.access_campaign(user=request.user, campaign_id=campaign_id, roles=selectors.CURATE, action=action)


@login_required
def campaign_detail(request, campaign_id: int):
    return _campaign_page(request, _curated_campaign(request, campaign_id, "run it"))


@login_required
@require_POST
def campaign_member_add(request, campaign_id: int):
    campaign = _curated_campaign(request, campaign_id, "add members")
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            membership = services.campaign_member_add_by_username(
                campaign=campaign, username=form.cleaned_data["username"], role=form.cleaned_data["role"]
            )
        except ValidationError as invalid:
            _errors_onto(form, invalid)
        else:
            messages.success(
                request, f"{membership.user.username} is now {membership.get_role_display()} of {campaign.name}."
            )
            return redirect("campaign-detail", campaign_id=campaign.pk)
    return _campaign_page(request, campaign, member_form=form, status=400)


@login_required
@require_POST
def campaign_overlap(request, campaign_id: int):
    campaign = _curated_campaign(request, campaign_id, "change its overlap")
    form = OverlapForm(request.POST)
    if form.is_valid():
        try:
            services.campaign_overlap_set(
                campaign=campaign, overlap=form.cleaned_data["overlap"], max_overlap=form.cleaned_data["max_overlap"]
            )
        except ValidationError as invalid:
            _errors_onto(form, invalid)
        else:
            messages.success(request, f"Overlap of {campaign.name} saved.")
            return redirect("campaign-detail", campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return _campaign_page(request, campaign, overlap_form=form, status=400)


@login_required
@require_POST
def campaign_queue_model(request, campaign_id: int):
    campaign = _curated_campaign(request, campaign_id, "choose its queue model")
    form = QueueModelForm(request.POST, campaign=campaign)
    if form.is_valid():
        try:
            services.campaign_queue_model_set(campaign=campaign, model=form.cleaned_data["queue_model"])
        except ValidationError as invalid:
            _errors_onto(form, invalid)
        else:
            chosen = form.cleaned_data["queue_model"]
            messages.success(
                request,
                f"The queue of {campaign.name} now follows {chosen.name}." if chosen else "The queue ignores models.",
            )
            return redirect("campaign-detail", campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return _campaign_page(request, campaign, queue_model_form=form, status=400)


@login_required
@require_POST
def campaign_member_remove(request, campaign_id: int):
    campaign = _curated_campaign(request, campaign_id, "remove members")
    membership = selectors.campaign_members(campaign=campaign).filter(pk=request.POST.get("membership")).first()
    if membership is None:
        messages.error(request, "That member was already removed.")
        return redirect("campaign-detail", campaign_id=campaign.pk)
    try:
        services.campaign_member_remove(campaign=campaign, user_id=membership.user_id, role=membership.role)
    except ValidationError as invalid:
        messages.error(request, "; ".join(invalid.messages))
    else:
        messages.success(
            request, f"{membership.user.username} is no longer {membership.get_role_display()} of {campaign.name}."
        )
    return redirect("campaign-detail", campaign_id=campaign.pk)


@login_required
@require_POST
def campaign_manifest_upload(request, campaign_id: int):
    campaign = selectors.access_campaign(
        user=request.user, campaign_id=campaign_id, roles=selectors.INGEST, action="add pairs to it"
    )
    form = ManifestUploadForm(request.POST, request.FILES)
    report = None
    if form.is_valid():
        try:
            report = manifest_import_uploaded(
                campaign=campaign, manifest=form.cleaned_data["manifest"], videos=form.cleaned_data["videos"]
            )
        except (PairRejected, VideoRejected) as rejected:
            form.add_error("videos", str(rejected))
        else:
            if not report.errors:
                messages.success(
                    request, f"{report.created} pairs added, {report.skipped} already present; videos are processing."
                )
                return redirect("campaign-detail", campaign_id=campaign.pk)
            form.add_error(
                "manifest",
                [f"line {line}: {message}" for line, message in report.errors]
                + [f"The other lines were imported: {report.created} pairs added, {report.skipped} already present."],
            )
    if not selectors.user_has_role(user=request.user, roles=selectors.CURATE, campaign_id=campaign.pk):
        # An ML engineer may ingest but not see the curators' page: report in a message instead.
        for error in form.errors.get("manifest", []) + form.errors.get("videos", []):
            messages.error(request, error)
        return redirect("home")
    return _campaign_page(request, campaign, manifest_form=form, report=report, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def campaign_guidelines(request, campaign_id: int):
    """GET: the guidelines as any member reads them (`next`: where "Start judging" leads). POST: a curator saves
    their Markdown source (the form is on the campaign page)."""
    if request.method == "POST":
        return _campaign_guidelines_save(request, campaign_id)
    campaign = selectors.access_campaign(
        user=request.user, campaign_id=campaign_id, roles=selectors.ALL_ROLES, action="read its guidelines"
    )
    services.campaign_guidelines_mark_seen(campaign=campaign, user=request.user)
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    context = {
        "campaign": campaign,
        "guidelines": guidelines_html(campaign=campaign),
        "next_url": next_url,
        "can_edit": selectors.user_has_role(user=request.user, roles=selectors.CURATE, campaign_id=campaign.pk),
    }
    return render(request, "annotation/guidelines.html", context)


def _campaign_guidelines_save(request, campaign_id: int):
    campaign = _curated_campaign(request, campaign_id, "write its guidelines")
    form = GuidelinesForm(request.POST)
    if form.is_valid():
        services.campaign_guidelines_set(campaign=campaign, guidelines=form.cleaned_data["guidelines"])
        messages.success(request, f"Guidelines of {campaign.name} saved.")
    return redirect("campaign-detail", campaign_id=campaign.pk)


@login_required
def campaign_lock_confirm(request, campaign_id: int):
    """Locking makes every judgment final: the curator sees what it does and confirms it (POST)."""
    campaign = _curated_campaign(request, campaign_id, "lock or unlock it")
    if request.method == "POST":
        if campaign.status == Campaign.Status.LOCKED:
            services.campaign_unlock(campaign=campaign)
            messages.success(request, f"Campaign {campaign.name} unlocked: experts may revise their judgments again.")
        else:
            services.campaign_lock(campaign=campaign)
            messages.success(request, f"Campaign {campaign.name} locked: judgments are final.")
        return redirect("campaign-detail", campaign_id=campaign.pk)
    throughput = selectors.campaign_expert_throughput(campaign=campaign)
    context = {
        "campaign": campaign,
        "judgments": sum(row["judgments"] for row in throughput),
        "open": sum(row["open"] for row in throughput),
    }
    return render(request, "annotation/campaign_lock_confirm.html", context)
