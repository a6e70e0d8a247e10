from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotation import selectors, services
from annotation.forms import JudgmentForm, display_video_ids, display_videos, judgment_form_initial
from annotation.models import Campaign, CampaignMembership, PairFlag, Role, TimedComment, Video
from annotation.rendering import checklist_side_html, rubric_form_html


def workbench_transaction(view):
    """One transaction per workbench request, the session and user reads included, instead of one per query:
    a judging cycle (next, page, autosaves, submit) used 22. Services' own atomic blocks become savepoints."""
    return transaction.atomic(view)


@login_required
def home(request):
    ready = Video.Status.READY
    user = request.user
    campaigns = selectors.campaigns_for(user=user).annotate(
        pair_count=Count("pairs", distinct=True),
        ready_pair_count=Count(
            "pairs", filter=Q(pairs__video_a__status=ready, pairs__video_b__status=ready), distinct=True
        ),
        can_ingest=selectors.holds_role(user=user, roles=selectors.INGEST),
        can_lock=selectors.holds_role(user=user, roles=selectors.CURATE),
    )
    # Staff hold every role but only judge where they are a member as an expert.
    is_expert = CampaignMembership.objects.filter(user=user, role=Role.EXPERT).exists()
    context = {
        "campaigns": campaigns,
        "is_expert": is_expert,
        "can_create_campaign": selectors.user_may_create_campaign(user=user),
        "progress": selectors.campaign_progress_for(expert=user) if is_expert else [],
        "recent": selectors.assignments_recent_for(expert=user) if is_expert else [],
    }
    return render(request, "annotation/home.html", context)


@workbench_transaction
@login_required
@require_POST
def assignment_next(request):
    return _next_pair_redirect(request)


def _judgment_form(assignment, data) -> JudgmentForm:
    campaign = assignment.campaign
    return JudgmentForm(
        data,
        dimensions=selectors.rubric_structure(rubric=campaign.rubric),
        questions=selectors.checklist_questions(checklist=campaign.checklist),
    )


def _assignment_label(assignment, *, read_only: bool) -> str:
    """The expert's own assignment is "Task N" (blind judging); curators reading it see the pair id."""
    if read_only:
        return f"Pair {assignment.pair.external_id}"
    return f"Task {selectors.assignment_task_number(assignment=assignment)}"


def _workbench_render(
    request, assignment, *, values: dict | None = None, status=200, missing=(), error=None, flag_values=None
):
    """The workbench page. `values` are the form's field values; by default the draft or the saved judgment."""
    campaign = assignment.campaign
    judgment = selectors.judgment_for(assignment=assignment)
    read_only = assignment.expert_id != request.user.pk
    locked = campaign.status == Campaign.Status.LOCKED  # the expert's own work, but frozen: nothing can change
    left, right = display_videos(assignment=assignment)
    prefilled_sides = []
    if values is None:
        earlier = {}
        if not read_only and not locked and not assignment.draft and judgment is None:
            earlier = selectors.checklist_answers_earlier(assignment=assignment)
            prefilled_sides = [side for side, video in (("left", left), ("right", right)) if video.id in earlier]
        values = judgment_form_initial(assignment=assignment, judgment=judgment, earlier_answers=earlier)
    questions = selectors.checklist_questions(checklist=campaign.checklist)
    checklist = {
        side: checklist_side_html(
            checklist=campaign.checklist,
            questions=questions,
            side=side,
            prompt=assignment.pair.prompt,
            read_only=read_only or locked,
        )
        for side in ("left", "right")
    }
    context = {
        "assignment": assignment,
        "progress": None if read_only else selectors.assignment_progress(assignment=assignment),
        "flag": getattr(assignment, "flag", None) if not read_only else None,
        "flag_reasons": PairFlag.Reason.choices,
        "flag_values": flag_values or {},
        "label": _assignment_label(assignment, read_only=read_only),
        "values": values,
        "workbench_state": workbench_state(values=values, missing=missing),
        "left": left,
        "right": right,
        "prompt": assignment.pair.prompt,
        "rubric_form": rubric_form_html(
            rubric=campaign.rubric,
            dimensions=selectors.rubric_structure(rubric=campaign.rubric),
            read_only=read_only or locked,
        ),
        "has_checklist": bool(questions),
        "checklist_left": checklist["left"],
        "checklist_right": checklist["right"],
        "read_only": read_only,
        "locked": locked,
        "prefilled_sides": prefilled_sides,
        "judgment": judgment,
        "missing": list(missing),
        "error": error,
        "timed_comments": [
            _timed_comment_json(comment, assignment) for comment in selectors.timed_comments_of(assignment=assignment)
        ],
        "comments_open": not read_only and not locked and assignment.status == assignment.Status.ASSIGNED,
    }
    return render(request, "annotation/workbench.html", context, status=status)


CHOICE_FIELD_PREFIXES = ("criterion-", "dimension-", "severe-", "checklist-")


def workbench_state(*, values: dict, missing=()) -> dict:
    """What the workbench's script applies to the cached form markup: the chosen verdicts, severe boxes and
    checklist answers ({field: value}, the draft's or the judgment's) and the rows the last submit left without a
    verdict. Notes and the hidden fields are rendered into the page as usual."""
    return {
        "values": {
            field: value for field, value in values.items() if field.startswith(CHOICE_FIELD_PREFIXES) and value
        },
        "missing": list(missing),
    }


def _timed_comment_json(comment: TimedComment, assignment) -> dict:
    """A note as its expert saw it: the side as left, right or both (blind judging hides A and B)."""
    return {
        "id": comment.pk,
        "seconds": comment.seconds,
        "side": services.side_for_display(side=comment.side, swapped=assignment.swapped),
        "text": comment.text,
        "delete_url": reverse(
            "timed-comment-delete", kwargs={"assignment_id": assignment.pk, "comment_id": comment.pk}
        ),
    }


@workbench_transaction
@login_required
def workbench(request, assignment_id: int):
    assignment = selectors.assignment_access(user=request.user, assignment_id=assignment_id)
    if assignment.expert_id == request.user.pk:
        if selectors.guidelines_pending_for(expert=request.user, campaign=assignment.campaign):
            guidelines = reverse("campaign-guidelines", kwargs={"campaign_id": assignment.campaign_id})
            return redirect(f"{guidelines}?{urlencode({'next': request.get_full_path()})}")
        services.assignment_start(assignment=assignment)
    return _workbench_render(request, assignment)


@login_required
@require_POST
def timed_comment_add(request, assignment_id: int):
    """The expert's note at the player's time (JSON for the workbench's script): 201 with the note, 400 with the
    field errors, 409 once the judgment is submitted or the campaign locked."""
    assignment = selectors.assignment_access(user=request.user, assignment_id=assignment_id, write=True)
    try:
        seconds = float(request.POST.get("seconds", ""))
        side = services.side_from_display(side=request.POST.get("side", "both"), swapped=assignment.swapped)
        comment = services.timed_comment_add(
            assignment=assignment, seconds=seconds, side=side, text=request.POST.get("text", "")
        )
    except ValueError:
        return JsonResponse({"error": "The time must be a number of seconds."}, status=400)
    except services.CommentsClosed as closed:
        return JsonResponse({"error": str(closed)}, status=409)
    except ValidationError as invalid:
        return JsonResponse({"error": "; ".join(invalid.messages)}, status=400)
    return JsonResponse(_timed_comment_json(comment, assignment), status=201)


@login_required
@require_POST
def timed_comment_delete(request, assignment_id: int, comment_id: int):
    assignment = selectors.assignment_access(user=request.user, assignment_id=assignment_id, write=True)
    try:
        services.timed_comment_delete(assignment=assignment, comment_id=comment_id)
    except services.CommentsClosed as closed:
        return JsonResponse({"error": str(closed)}, status=409)
    return HttpResponse(status=204)


@workbench_transaction
@login_required
@require_POST
def draft_save(request, assignment_id: int):
    assignment = selectors.assignment_access(user=request.user, assignment_id=assignment_id, write=True, related=())
    draft = {key: value for key, value in request.POST.items() if key != "csrfmiddlewaretoken"}
    try:
        services.assignment_draft_save(assignment=assignment, draft=draft)
    except services.CampaignLocked as locked:
        return HttpResponse(str(locked), status=423, content_type="text/plain; charset=utf-8")
    return HttpResponse(status=204)


@workbench_transaction
@login_required
@require_POST
def judgment_submit(request, assignment_id: int):
    # What a valid submit reads; a page shown again for an error loads the rest as it renders.
    assignment = selectors.assignment_access(
        user=request.user,
        assignment_id=assignment_id,
        write=True,
        related=("campaign__rubric", "campaign__checklist", "pair"),
    )
    form = _judgment_form(assignment, request.POST)
    if not form.is_valid():
        return _workbench_render(
            request, assignment, values=request.POST.dict(), status=400, error="The form has invalid values."
        )
    missing = form.missing_verdicts()
    if missing:
        return _workbench_render(request, assignment, values=request.POST.dict(), status=400, missing=missing)
    criteria, dimensions = form.display_verdicts()
    left_id, right_id = display_video_ids(assignment=assignment)
    checklist = form.display_checklist()
    try:
        services.pair_judgment_submit(
            assignment=assignment,
            criteria=services.verdicts_from_display(verdicts=criteria, swapped=assignment.swapped),
            dimensions=services.verdicts_from_display(verdicts=dimensions, swapped=assignment.swapped),
            severe=services.severe_from_display(severe=form.display_severe(), swapped=assignment.swapped),
            notes=form.cleaned_data["notes"],
            checklist={left_id: checklist["left"], right_id: checklist["right"]},
            base_revision=form.cleaned_data["base_revision"],
            time_spent_seconds=form.cleaned_data.get("time_spent_seconds"),
        )
    except (services.JudgmentConflict, services.CampaignLocked) as conflict:
        return _workbench_render(request, assignment, status=409, error=str(conflict))
    except ValidationError as invalid:
        error = "; ".join(invalid.messages)
        # The service names videos by id; the expert knows them as left and right (ids would tell A from B).
        for side, video_id in (("left", left_id), ("right", right_id)):
            error = error.replace(f"video {video_id}:", f"{side} video:")
        return _workbench_render(request, assignment, values=request.POST.dict(), status=400, error=error)
    label = _assignment_label(assignment, read_only=False)
    messages.success(request, f"Judgment of {label} in {assignment.campaign.name} saved.")
    if request.POST.get("then") == "home":
        return redirect("home")
    try:
        following = services.assignment_next_for(expert=request.user)
    except services.NoPairAvailable as nothing:
        messages.info(request, str(nothing))
        return redirect("home")
    return redirect(reverse("workbench", kwargs={"assignment_id": following.pk}))


def _next_pair_redirect(request):
    try:
        following = services.assignment_next_for(expert=request.user)
    except services.NoPairAvailable as nothing:
        messages.info(request, str(nothing))
        return redirect("home")
    return redirect(reverse("workbench", kwargs={"assignment_id": following.pk}))


@login_required
@require_POST
def assignment_skip(request, assignment_id: int):
    assignment = selectors.assignment_access(user=request.user, assignment_id=assignment_id, write=True)
    try:
        services.assignment_skip(assignment=assignment)
    except ValidationError as invalid:
        return _workbench_render(request, assignment, status=400, error="; ".join(invalid.messages))
    messages.info(
        request, f"{_assignment_label(assignment, read_only=False)} skipped: it comes back after your new pairs."
    )
    return _next_pair_redirect(request)


@login_required
@require_POST
def pair_flag(request, assignment_id: int):
    assignment = selectors.assignment_access(user=request.user, assignment_id=assignment_id, write=True)
    reason, text = request.POST.get("reason", ""), request.POST.get("text", "")
    try:
        services.pair_flag(assignment=assignment, reason=reason, text=text)
    except services.CampaignLocked as locked:
        return _workbench_render(request, assignment, status=409, error=str(locked))
    except ValidationError as invalid:
        return _workbench_render(
            request,
            assignment,
            status=400,
            error="Flag not saved: " + "; ".join(invalid.messages),
            flag_values={"reason": reason, "text": text},
        )
    label = _assignment_label(assignment, read_only=False)
    messages.success(request, f"{label} flagged for the curators; it is not counted as a judgment.")
    return _next_pair_redirect(request)


@login_required
def pair_flag_queue(request, campaign_id: int):
    campaign = selectors.access_campaign(
        user=request.user, campaign_id=campaign_id, roles=selectors.CURATE, action="see its flagged pairs"
    )
    flags = selectors.pair_flags_for(campaign=campaign)
    return render(request, "annotation/flag_queue.html", {"campaign": campaign, "flags": flags})


@login_required
@require_POST
def campaign_lock_toggle(request, campaign_id: int):
    campaign = selectors.access_campaign(
        user=request.user, campaign_id=campaign_id, roles=selectors.CURATE, action="lock or unlock it"
    )
    if campaign.status == campaign.Status.LOCKED:
        services.campaign_unlock(campaign=campaign)
        messages.success(request, f"Campaign {campaign.name} unlocked: experts may revise their judgments again.")
    else:
        services.campaign_lock(campaign=campaign)
        messages.success(request, f"Campaign {campaign.name} locked: judgments are final.")
    return redirect("home")
