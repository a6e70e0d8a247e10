"""Pages: endpoints (add, edit, test), jobs (start, live progress, cancel, resume) and the curators' audit of
critiques. Thin: validate, call one service or selector, render."""

from __future__ import annotations

import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotation.selectors import CURATE, TRAIN, check_role_somewhere, user_has_role
from distillation import services
from distillation.forms import (
    ENDPOINT_SETTINGS_FIELDS,
    AuditFilterForm,
    CritiqueActionForm,
    EndpointForm,
    EndpointTestForm,
    JobStartForm,
)
from distillation.frames import test_card_frame
from distillation.models import Critique, Endpoint
from distillation.selectors import (
    READ_JOBS,
    access_campaign_for_job,
    access_critique,
    access_endpoint,
    access_job,
    audit_queue,
    audit_throughput,
    campaigns_for_jobs,
    check_may_manage_endpoints,
    critique_history,
    endpoint_api_key_hint,
    endpoints_all,
    highlighted_segments,
    job_progress,
    jobs_for_audit,
    jobs_recent,
)

MAX_SECONDS_PER_CRITIQUE = 3600.0


@login_required
def job_index(request):
    check_role_somewhere(user=request.user, roles=READ_JOBS, action="see distillation jobs")
    if request.method == "POST" and request.POST.get("campaign", "").isdigit():
        # A campaign outside the user's choices is a 403 naming the role, not a form error.
        access_campaign_for_job(user=request.user, campaign_id=int(request.POST["campaign"]))
    form = JobStartForm(request.POST or None, request.FILES or None)
    form.fields["campaign"].queryset = campaigns_for_jobs(user=request.user)
    if request.method == "POST" and form.is_valid():
        options = dict(form.cleaned_data)
        options["scores"] = options.pop("scores_file")
        try:
            job = services.job_start(
                campaign=options.pop("campaign"), endpoint=options.pop("endpoint"), created_by=request.user, **options
            )
        except ValidationError as invalid:
            form.add_error(None, "; ".join(invalid.messages))
        else:
            messages.success(request, f"Job #{job.pk} started with {job.total_items} items.")
            return redirect("distillation-job", job_id=job.pk)
    jobs = [(job, job_progress(job=job)) for job in jobs_recent(user=request.user, limit=20)]
    return render(request, "distillation/index.html", {"form": form, "jobs": jobs, "endpoints": endpoints_all()})


# --- Endpoints -------------------------------------------------------------------------------------------


@login_required
def endpoint_index(request):
    check_may_manage_endpoints(user=request.user)
    endpoints = [(endpoint, endpoint_api_key_hint(endpoint=endpoint)) for endpoint in endpoints_all()]
    return render(request, "distillation/endpoints.html", {"endpoints": endpoints})


@login_required
def endpoint_add(request):
    check_may_manage_endpoints(user=request.user)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            endpoint = services.endpoint_create(
                api_key=data["api_key"], **{field: data[field] for field in ENDPOINT_SETTINGS_FIELDS}
            )
        except ValidationError as invalid:
            form.add_error(None, invalid)
        else:
            messages.success(request, f"Endpoint {endpoint.name} added: test it below before starting a job.")
            return redirect("distillation-endpoint", endpoint_id=endpoint.pk)
    return render(request, "distillation/endpoint_form.html", {"form": form, "endpoint": None})


@login_required
def endpoint_detail(request, endpoint_id: int):
    """The edit form beside the test panel."""
    endpoint = access_endpoint(user=request.user, endpoint_id=endpoint_id)
    hint = endpoint_api_key_hint(endpoint=endpoint)
    form = EndpointForm(request.POST or None, instance=endpoint, api_key_hint=hint)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.endpoint_update(
                endpoint=endpoint,
                changes={field: data[field] for field in ENDPOINT_SETTINGS_FIELDS},
                api_key=data["api_key"],
                clear_api_key=data.get("clear_api_key", False),
            )
        except ValidationError as invalid:
            form.add_error(None, invalid)
        else:
            messages.success(request, f"Endpoint {endpoint.name} saved.")
            return redirect("distillation-endpoint", endpoint_id=endpoint.pk)
    if form.errors:
        # The form wrote its values onto the instance; show the saved endpoint, not the rejected edit.
        endpoint = Endpoint.objects.get(pk=endpoint.pk)
    context = {"form": form, "endpoint": endpoint, "api_key_hint": hint, "test_form": EndpointTestForm()}
    return render(request, "distillation/endpoint_form.html", context)


@login_required
def endpoint_test_card(request):
    """The frame a test sends, so that the page shows what the model is asked about."""
    check_may_manage_endpoints(user=request.user)
    response = HttpResponse(test_card_frame().jpeg, content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
@require_POST
def endpoint_test(request, endpoint_id: int):
    """One frame and a question through the real client, in this request (see services.endpoint_probe for why);
    htmx swaps the result into the page, without JavaScript the whole page comes back with it."""
    endpoint = access_endpoint(user=request.user, endpoint_id=endpoint_id)
    test_form = EndpointTestForm(request.POST)
    probe = None
    if test_form.is_valid():
        probe = services.endpoint_probe(endpoint=endpoint, question=test_form.cleaned_data["question"])
    context = {"endpoint": endpoint, "test_form": test_form, "probe": probe}
    if request.htmx:
        return render(request, "distillation/_endpoint_test.html", context)
    hint = endpoint_api_key_hint(endpoint=endpoint)
    context |= {"form": EndpointForm(instance=endpoint, api_key_hint=hint), "api_key_hint": hint}
    return render(request, "distillation/endpoint_form.html", context)


# --- Jobs ------------------------------------------------------------------------------------------------


def _progress_context(job, *, user) -> dict:
    return {
        "job": job,
        "progress": job_progress(job=job),
        "can_run": user_has_role(user=user, roles=TRAIN, campaign_id=job.campaign_id),
        "can_audit": user_has_role(user=user, roles=CURATE, campaign_id=job.campaign_id),
    }


@login_required
def job_detail(request, job_id: int):
    job = access_job(user=request.user, job_id=job_id)
    return render(request, "distillation/job.html", _progress_context(job, user=request.user))


@login_required
def job_progress_partial(request, job_id: int):
    job = access_job(user=request.user, job_id=job_id)
    return render(request, "distillation/_progress.html", _progress_context(job, user=request.user))


@login_required
@require_POST
def job_cancel_view(request, job_id: int):
    job = access_job(user=request.user, job_id=job_id, write=True)
    if services.job_cancel(job=job):
        messages.success(request, f"Job #{job.pk} cancelled; calls already in flight finish and are kept.")
    return redirect("distillation-job", job_id=job.pk)


@login_required
@require_POST
def job_resume_view(request, job_id: int):
    job = access_job(user=request.user, job_id=job_id, write=True)
    queued = services.job_resume(job=job)
    messages.success(request, f"Job #{job.pk} resumed: {queued} items queued; finished samples are reused.")
    return redirect("distillation-job", job_id=job.pk)


def _queue_filters(query: QueryDict, *, user) -> tuple[AuditFilterForm, dict]:
    form = AuditFilterForm(query or {"review": Critique.Review.PENDING})
    form.fields["job"].queryset = jobs_for_audit(user=user)
    filters = {"verdict": "", "review": Critique.Review.PENDING, "endpoint_id": None, "job_id": None}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "verdict": data["verdict"],
            "review": data["review"],
            "endpoint_id": data["endpoint"].pk if data["endpoint"] else None,
            "job_id": data["job"].pk if data["job"] else None,
        }
    return form, filters


@login_required
def audit_queue_view(request):
    check_role_somewhere(user=request.user, roles=CURATE, action="audit critiques")
    form, filters = _queue_filters(request.GET, user=request.user)
    critiques = list(audit_queue(user=request.user, **filters)[:200])
    context = {
        "form": form,
        "critiques": critiques,
        "query": request.GET.urlencode(),
        "throughput": audit_throughput(user=request.user),
    }
    return render(request, "distillation/audit_queue.html", context)


@login_required
def critique_review(request, critique_id: int):
    critique = access_critique(user=request.user, critique_id=critique_id)
    form = CritiqueActionForm(request.POST or None, initial={"text": critique.text, "opened_at": time.time()})
    query = request.GET.urlencode()
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        spent = None
        if data.get("opened_at"):
            spent = min(max(time.time() - data["opened_at"], 0.0), MAX_SECONDS_PER_CRITIQUE)
        text = data.get("text") or None
        try:
            if data["action"] == "accept":
                services.critique_accept(
                    critique=critique, curator=request.user, text=text, note=data["note"], seconds_spent=spent
                )
                messages.success(request, f"Critique #{critique.pk} accepted.")
            elif data["action"] == "reject":
                services.critique_reject(
                    critique=critique, curator=request.user, note=data["note"], seconds_spent=spent
                )
                messages.success(request, f"Critique #{critique.pk} rejected.")
            else:
                services.critique_edit(critique=critique, curator=request.user, text=text, seconds_spent=spent)
                messages.success(request, f"Critique #{critique.pk} edited; the filters ran again on the new text.")
                return redirect(reverse("distillation-critique", args=[critique.pk]) + (f"?{query}" if query else ""))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            _, filters = _queue_filters(request.GET, user=request.user)
            following = audit_queue(user=request.user, **filters).filter(id__gt=critique.pk).first()
            if following is not None:
                return redirect(reverse("distillation-critique", args=[following.pk]) + (f"?{query}" if query else ""))
            return redirect(reverse("distillation-audit") + (f"?{query}" if query else ""))
        critique.refresh_from_db()
    pair = critique.item.pair
    return render(
        request,
        "distillation/critique.html",
        {
            "critique": critique,
            "pair": pair,
            "video": critique.item.video,
            "form": form,
            "segments": highlighted_segments(text=critique.text, rejections=critique.rejections),
            "history": critique_history(critique=critique),
            "query": query,
            "playable": bool(pair and pair.video_a.proxy and pair.video_b.proxy and pair.video_a.poster
                             and pair.video_b.poster),
        },
    )  # fmt: skip
