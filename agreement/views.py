from __future__ import annotations

import base64
import csv
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify

from agreement import metrics, tables
from agreement.dashboard import DashboardContent, VerdictConfusions
from agreement.forms import ConfusionForm, PairLabelForm
from agreement.models import DashboardReport
from agreement.selectors import (
    access_campaign_for_agreement,
    access_pair_for_adjudication,
    adjudication_queue_for,
    campaigns_for_agreement,
    consensus_for_campaign,
    dashboard_report_for,
    gold_labels_for,
    pair_review_for,
    user_can_adjudicate,
)
from agreement.services import (
    adjudication_record,
    dashboard_report_get_or_request,
    gold_label_remove,
    gold_label_set,
)

CSV_TABLES = ("alpha", "checklist", "experts", "heatmap", "kappa", "confusion", "consensus", "gold")


def _svg_data_uri(svg: str | None) -> str | None:
    return None if svg is None else "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _levels(request) -> dict[str, str]:
    """Level-of-measurement overrides from the query string (?verdict_level=nominal); unknown values ignored."""
    levels = {}
    for kind in ("verdicts", "checklist"):
        value = request.GET.get(f"{kind.rstrip('s')}_level")
        if value in metrics.LEVELS:
            levels[kind] = value
    return levels


def _confusion(request, confusions: VerdictConfusions):
    """The confusion matrix the curator picked (two experts and a variable or group), or the first two experts."""
    experts = list(enumerate(confusions.rater_names))
    groups = [("all", "All verdicts"), ("criteria", "All criteria"), ("dimensions", "All dimensions")]
    variables = groups + [(key, key) for key in confusions.variables]
    form = ConfusionForm(request.GET or None, experts=experts, variables=variables)
    if len(experts) < 2:
        return form, None
    first, second, variable = 0, 1, "all"
    if form.is_bound and form.is_valid():
        first = form.cleaned_data["first"] if form.cleaned_data["first"] is not None else 0
        second = form.cleaned_data["second"] if form.cleaned_data["second"] is not None else 1
        variable = form.cleaned_data["variable"] or "all"
    if variable in confusions.groups:
        indices = confusions.groups[variable]
    elif variable == "all":
        indices = list(range(len(confusions.variables)))
    else:
        indices = [confusions.variables.index(variable)]
    return form, tables.confusion_table(confusions, first=first, second=second, variables=indices)


@login_required
def agreement_index(request):
    return render(request, "agreement/index.html", {"campaigns": campaigns_for_agreement(user=request.user)})


def _status_context(request, campaign, stored: DashboardReport) -> dict:
    """The line saying how old the shown report is; while a recompute is pending it polls the status view, which
    reloads the page once a newer report is stored."""
    levels = {f"{kind.rstrip('s')}_level": level for kind, level in _levels(request).items()}
    shown = stored.computed_at.isoformat() if stored.computed_at else ""
    return {"campaign": campaign, "stored": stored, "status_query": urlencode({**levels, "shown": shown})}


@login_required
def agreement_dashboard(request, campaign_id: int):
    """The report as last computed in the background (see services: dashboard_report_compute), with its age."""
    campaign = access_campaign_for_agreement(user=request.user, campaign_id=campaign_id)
    stored = dashboard_report_get_or_request(campaign=campaign, levels=_levels(request))
    content = DashboardContent.from_stored(stored.content)
    context = {**_status_context(request, campaign, stored), "content": content}
    if content is None:
        return render(request, "agreement/dashboard.html", context)
    report = content.report
    sort, descending = request.GET.get("sort", ""), request.GET.get("dir") == "desc"
    verdict_variables = report.by_group("criteria") + report.by_group("dimensions")
    confusion_form, confusion = _confusion(request, content.confusions)
    context |= {
        "report": report,
        "variables": tables.variables_sorted(verdict_variables, sort=sort, descending=descending),
        "checklist_variables": report.by_group("checklist"),
        "sort": sort,
        "descending": descending,
        "columns": [
            ("code", "Code"),
            ("name", "Name"),
            ("alpha", "α"),
            ("ci_low", "95% CI"),
            ("n_items", "Items"),
            ("n_raters", "Raters"),
            ("fleiss_kappa", "Fleiss κ"),
            ("percent_agreement", "% agree"),
        ],
        "alpha_chart": _svg_data_uri(content.charts["alpha"]),
        "heatmap": _svg_data_uri(content.charts["heatmap"]),
        "position_chart": _svg_data_uri(content.charts["position"]),
        "confusion_form": confusion_form,
        "confusion": confusion,
        "queue_size": content.queue_size,
        "levels": content.levels,
        "gold_labels": gold_labels_for(campaign=campaign),
        "can_adjudicate": user_can_adjudicate(user=request.user, campaign_id=campaign.pk),
        "csv_tables": CSV_TABLES,
    }
    return render(request, "agreement/dashboard.html", context)


@login_required
def agreement_dashboard_status(request, campaign_id: int):
    """Polled while a recompute is pending: the status line, or a page reload once a newer report is stored."""
    campaign = access_campaign_for_agreement(user=request.user, campaign_id=campaign_id)
    stored = dashboard_report_for(campaign=campaign, levels=_levels(request))
    if stored is None:
        raise Http404("This dashboard was never opened.")
    response = render(request, "agreement/_report_status.html", _status_context(request, campaign, stored))
    shown = stored.computed_at.isoformat() if stored.computed_at else ""
    if shown != request.GET.get("shown", ""):
        response["HX-Refresh"] = "true"
    return response


def _csv_table(request, campaign, name: str) -> tables.Table:
    if name == "consensus":
        return tables.consensus_table(consensus_for_campaign(campaign=campaign))
    if name == "gold":
        return tables.gold_table(gold_labels_for(campaign=campaign))
    content = DashboardContent.from_stored(
        dashboard_report_get_or_request(campaign=campaign, levels=_levels(request)).content
    )
    if content is None:
        return tables.Table(header=["message"], rows=[["the agreement report is being computed: try again shortly"]])
    report = content.report
    if name == "confusion":
        _, confusion = _confusion(request, content.confusions)
        if confusion is None:
            return tables.Table(header=["message"], rows=[["not enough data: fewer than two experts"]])
        return confusion
    if name == "alpha":
        return tables.variable_table(report.by_group("criteria") + report.by_group("dimensions") + report.pooled)
    if name == "checklist":
        return tables.variable_table(report.by_group("checklist"))
    if name == "experts":
        return tables.expert_table(report)
    if name == "heatmap":
        return tables.heatmap_table(report, content.confusions.variables)
    return tables.kappa_table(report)


@login_required
def agreement_csv(request, campaign_id: int, table: str):
    campaign = access_campaign_for_agreement(user=request.user, campaign_id=campaign_id)
    if table not in CSV_TABLES:
        raise Http404("No such table.")
    content = _csv_table(request, campaign, table)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slugify(campaign.name)}-{table}.csv"'
    writer = csv.writer(response)
    writer.writerow(content.header)
    writer.writerows([_spreadsheet_safe(cell) for cell in row] for row in content.rows)
    return response


def _spreadsheet_safe(cell):
    """Text a spreadsheet would run as a formula (a pair id or name from a manifest, say) is quoted (OWASP)."""
    if cell is None:
        return ""
    if isinstance(cell, str) and cell.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + cell
    return cell


@login_required
def adjudication_queue(request, campaign_id: int):
    campaign = access_campaign_for_agreement(user=request.user, campaign_id=campaign_id, adjudicate=True)
    return render(
        request,
        "agreement/adjudication_queue.html",
        {"campaign": campaign, "queue": adjudication_queue_for(campaign=campaign)},
    )


def _messages_of(invalid: ValidationError) -> list[str]:
    """A model's validation error as sentences, each prefixed by the field it concerns."""
    if not hasattr(invalid, "error_dict"):
        return invalid.messages
    return [
        message if field == "__all__" else f"{field}: {message}"
        for field, messages in invalid.message_dict.items()
        for message in messages
    ]


@login_required
def pair_review(request, campaign_id: int, pair_id: int):
    """Every judgment of the pair side by side with the player; the curator adjudicates or sets the gold answer."""
    pair = access_pair_for_adjudication(user=request.user, campaign_id=campaign_id, pair_id=pair_id)
    review = pair_review_for(pair=pair)
    form = PairLabelForm(
        request.POST or None,
        initial={f"verdict_{code}": str(label) for code, label in review.initial_labels().items()},
        criteria=[row.code for row in review.rows if row.kind == "criteria"],
        dimensions=[row.code for row in review.rows if row.kind == "dimensions"],
    )
    if request.method == "POST" and form.is_valid():
        criteria, dimensions = form.labels()
        action, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
        try:
            if action == "adjudicate":
                criteria, dimensions = review.adjudication_changes(criteria=criteria, dimensions=dimensions)
                if not (criteria or dimensions):
                    raise ValidationError(
                        "Nothing to adjudicate: every verdict chosen is an agreed vote already. Change a verdict, "
                        "or pick one of a disputed code."
                    )
                adjudication_record(
                    pair=pair, adjudicated_by=request.user, criteria=criteria, dimensions=dimensions, reason=reason
                )
                messages.success(request, f"Adjudication of pair {pair.external_id} recorded.")
            elif action == "gold":
                gold_label_set(pair=pair, set_by=request.user, criteria=criteria, dimensions=dimensions, note=reason)
                messages.success(request, f"Pair {pair.external_id} is now a gold pair.")
            else:
                gold_label_remove(pair=pair)
                messages.success(request, f"Pair {pair.external_id} is no longer a gold pair.")
        except ValidationError as invalid:
            # The models name their own fields (criteria, reason); the form has none of those names.
            form.add_error(None, _messages_of(invalid))
        else:
            return redirect("agreement-pair", campaign_id=pair.campaign_id, pair_id=pair.pk)
    context = {
        "campaign": pair.campaign,
        "pair": pair,
        "review": review,
        "rows": [(row, form[f"verdict_{row.code}"]) for row in review.rows],
        "form": form,
    }
    return render(request, "agreement/pair_review.html", context, status=400 if form.errors else 200)
