from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.selectors import EXPORT, TRAIN, check_role_somewhere, user_has_role
from exports.archive import tar_size, tar_stream
from exports.forms import ExportForm
from exports.models import ExportSnapshot
from exports.selectors import (
    SnapshotFilesMissing,
    access_campaign_for_export,
    access_snapshot,
    campaigns_for_export,
    earlier_snapshots_to_diff,
    export_options_summary,
    snapshot_diff,
    snapshot_preview,
    snapshots_for,
)
from exports.services import ExportError, ExportNotCancellable, export_builds_check, export_cancel, export_request


@login_required
def export_index(request):
    """Every snapshot the user may see (who, when, what), and the form to make a new one."""
    check_role_somewhere(user=request.user, roles=EXPORT, action="make exports")
    if request.method == "POST" and request.POST.get("campaign", "").isdigit():
        # A campaign outside the user's choices is a 403 naming the role, not a form error.
        access_campaign_for_export(user=request.user, campaign_id=int(request.POST["campaign"]))
    form = ExportForm(request.POST or None, campaigns=campaigns_for_export(user=request.user))
    if request.method == "POST" and form.is_valid():
        try:
            snapshot = export_request(
                campaign=form.cleaned_data["campaign"],
                export_format=form.cleaned_data["format"],
                options=form.options(),
                created_by=request.user,
            )
        except ExportError as error:
            form.add_error(None, str(error))
        else:
            return redirect("export-detail", snapshot_id=snapshot.pk)
    export_builds_check()  # a build whose worker died shows as resumed or failed, not running for ever
    snapshots = snapshots_for(user=request.user)[:200]
    context = {"form": form, "snapshots": snapshots}
    return render(request, "exports/index.html", context, status=400 if form.errors else 200)


@login_required
def export_detail(request, snapshot_id: int):
    export_builds_check()
    snapshot = access_snapshot(user=request.user, snapshot_id=snapshot_id)
    if request.htmx:
        response = render(request, "exports/_progress.html", _detail_context(request, snapshot))
        if snapshot.status == ExportSnapshot.Status.SUCCEEDED:
            response["HX-Refresh"] = "true"  # the whole page: manifest, preview and diff exist only now
        return response
    extra = {}
    if snapshot.status == ExportSnapshot.Status.SUCCEEDED:
        extra = _files_context(snapshot, diff_id=request.GET.get("diff", ""))
    return render(request, "exports/detail.html", _detail_context(request, snapshot, **extra))


def _files_context(snapshot: ExportSnapshot, *, diff_id: str) -> dict:
    """The preview of the snapshot's first rows, the earlier snapshots it can be compared with, and the diff
    against the one asked for (``?diff=<id>``)."""
    context: dict = {"earlier_snapshots": earlier_snapshots_to_diff(snapshot=snapshot)[:50]}
    try:
        context["preview"] = snapshot_preview(snapshot=snapshot)
    except SnapshotFilesMissing as error:
        context["files_error"] = str(error)
    if diff_id:
        earlier = earlier_snapshots_to_diff(snapshot=snapshot).filter(pk=int(diff_id) if diff_id.isdigit() else 0)
        if not earlier:
            context["diff_error"] = "Choose an earlier finished export of this campaign in the same format."
        else:
            try:
                context["diff"] = snapshot_diff(earlier=earlier[0], later=snapshot)
            except SnapshotFilesMissing as error:
                context["diff_error"] = str(error)
    return context


def _detail_context(request, snapshot: ExportSnapshot, **extra) -> dict:
    return {
        "snapshot": snapshot,
        "options_summary": export_options_summary(options=snapshot.options or {}),
        "can_train": user_has_role(user=request.user, roles=TRAIN, campaign_id=snapshot.campaign_id),
        **extra,
    }


@login_required
@require_POST
def export_cancel_view(request, snapshot_id: int):
    snapshot = access_snapshot(user=request.user, snapshot_id=snapshot_id)
    try:
        export_cancel(snapshot=snapshot, user=request.user)
    except ExportNotCancellable as error:
        context = _detail_context(request, snapshot, cancel_error=str(error))
        return render(request, "exports/detail.html", context, status=409)
    return redirect("export-detail", snapshot_id=snapshot.pk)


def tar_response(snapshot: ExportSnapshot) -> StreamingHttpResponse:
    folder = Path(snapshot.path)
    if snapshot.status != ExportSnapshot.Status.SUCCEEDED or not folder.is_dir():
        raise Http404("This export has no finished folder to download.")
    root = folder.name
    response = StreamingHttpResponse(tar_stream(folder=folder, root_name=root), content_type="application/x-tar")
    response["Content-Length"] = str(tar_size(folder=folder, root_name=root))
    response["Content-Disposition"] = f'attachment; filename="{root}.tar"'
    return response


@login_required
def export_download(request, snapshot_id: int):
    return tar_response(access_snapshot(user=request.user, snapshot_id=snapshot_id))
