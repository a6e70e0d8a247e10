from __future__ import annotations

import base64
import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import slugify

from agreement import metrics, tables
from agreement.dashboard import DashboardContent, VerdictConfusions
from agreement.forms import ConfusionForm, PairFilterForm, PairLabelForm
from agreement.models import DashboardReport
from agreement.selectors import (
    PairFilters,
    access_campaign_for_agreement,
    access_pair_for_adjudication,
    adjudication_queue_for,
    adjudication_queue_next,
    campaigns_for_agreement,
    consensus_for_campaign,
    dashboard_report_for,
    gold_labels_for,
    pair_browser_page,
    pair_review_for,
    pair_sources_for,
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
        **_reliability_context(content),
    }
    return render(request, "agreement/dashboard.html", context)


def _reliability_context(content: DashboardContent) -> dict:
    """Each expert row with its Dawid-Skene reliability beside the leave-one-out figures (computed with the report;
    none for an expert the model had no verdict of)."""
    return {"expert_rows": [(expert, content.reliability.get(expert.username)) for expert in content.report.experts]}


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


def _page_key(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _browser_query(query: QueryDict, form: PairFilterForm, *, page: bool = True) -> str:
    """The browser's filters (and its page, unless `page` is false) as a query string, without blank values
    and without anything the filter form does not know: safe to put back into a link or a redirect."""
    kept = QueryDict(mutable=True)
    for name, value in form.filters().items():
        if value:
            kept[name] = value
    if page:
        for name in ("after", "before"):
            if _page_key(query.get(name)) is not None:
                kept[name] = query[name]
    return kept.urlencode()


@login_required
def pair_browser(request, campaign_id: int):
    """Every pair of the campaign, filtered and a page at a time; each row opens the pair's review page."""
    campaign = access_campaign_for_agreement(user=request.user, campaign_id=campaign_id, adjudicate=True)
    form = PairFilterForm(request.GET or None, sources=pair_sources_for(campaign=campaign))
    page = pair_browser_page(
        campaign=campaign,
        filters=PairFilters(**form.filters()),
        after=_page_key(request.GET.get("after")),
        before=_page_key(request.GET.get("before")),
    )
    filters_query = _browser_query(request.GET, form, page=False)
    context = {
        "campaign": campaign,
        "form": form,
        "page": page,
        "filters_query": filters_query,
        # Where a review page opened from this page sends the curator back to: these filters, this page.
        "back_query": urlencode({"browser": _browser_query(request.GET, form)}),
    }
    template = "agreement/_pair_browser_results.html" if request.htmx else "agreement/pair_browser.html"
    return render(request, template, context)


def _errors_onto(form: PairLabelForm, invalid: ValidationError) -> None:
    """A service's ValidationError beside the field it concerns: the reason under the reason field, anything about
    the verdicts (the models call them criteria and dimensions) above the verdict table."""
    if not hasattr(invalid, "error_dict"):
        form.add_error(None, invalid.messages)
        return
    for field, field_messages in invalid.message_dict.items():
        if field in form.fields:
            form.add_error(field, field_messages)
        else:
            form.add_error(None, [text if field == "__all__" else f"{field}: {text}" for text in field_messages])


def _focus_first_error(form: PairLabelForm) -> None:
    """Mark the fields in error and focus the first one when the page loads again, so the browser shows the field
    and its error instead of the top of the page. An error about the verdicts as a whole focuses the first."""
    invalid = [name for name in form.fields if name in form.errors]
    for name in invalid:
        form.fields[name].widget.attrs.update({"aria-invalid": "true", "aria-describedby": f"{name}-errors"})
    verdicts = [name for name in form.fields if name.startswith("verdict_")]
    target = invalid[0] if invalid else (verdicts[0] if form.non_field_errors() and verdicts else None)
    if target is not None:
        form.fields[target].widget.attrs["autofocus"] = True


def _pair_browser_url(request, campaign) -> str | None:
    """The pair browser page, with its filters, that the review page was opened from (None: it was not)."""
    browser_query = request.GET.get("browser")
    if browser_query is None:
        return None
    query = QueryDict(browser_query)
    kept = _browser_query(query, PairFilterForm(query, sources=pair_sources_for(campaign=campaign)))
    return reverse("agreement-pair-browser", args=[campaign.pk]) + (f"?{kept}" if kept else "")


def _after_recording(request, pair, review) -> str:
    """Where a curator goes once a label is recorded: back to the pair browser with its filters when they came from
    there, else to the next pair of the adjudication queue (or the queue itself once nothing else waits)."""
    back_url = _pair_browser_url(request, pair.campaign)
    if back_url is not None:
        return back_url
    next_pair_id = adjudication_queue_next(campaign=pair.campaign, after=review.consensus)
    if next_pair_id is None:
        messages.info(request, "Nothing else waits in the adjudication queue.")
        return reverse("agreement-queue", args=[pair.campaign_id])
    return reverse("agreement-pair", args=[pair.campaign_id, next_pair_id])


@login_required
def pair_review(request, campaign_id: int, pair_id: int):
    """Every judgment of the pair beside the player; the curator adjudicates or sets the gold answer."""
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
                return redirect(request.get_full_path())
        except ValidationError as invalid:
            _errors_onto(form, invalid)
        else:
            return redirect(_after_recording(request, pair, review))
    _focus_first_error(form)
    context = {
        "campaign": pair.campaign,
        "pair": pair,
        "review": review,
        "rows": [(row, form[f"verdict_{row.code}"]) for row in review.rows],
        "form": form,
        "back_url": _pair_browser_url(request, pair.campaign),
    }
    return render(request, "agreement/pair_review.html", context, status=400 if form.errors else 200)
