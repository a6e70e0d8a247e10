"""Leaderboard and reliability pages, CSV and JSON downloads: curators and ML engineers only (they name generators)."""

from __future__ import annotations

import base64
import csv
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import http_date
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods

from annotation.models import Campaign
from annotation.selectors import INGEST, access_campaign
from leaderboards import tables
from leaderboards.forms import LeaderboardForm, PairingForm
from leaderboards.models import LeaderboardResult
from leaderboards.pairing import pairing_apply, pairing_plan
from leaderboards.selectors import (
    OVERALL,
    ExpertReliability,
    Leaderboard,
    access_campaign_for_leaderboard,
    access_model_for_scoring,
    campaigns_comparable_with,
    leaderboard_result_for,
    leaderboard_result_json,
    leaderboard_result_key,
    model_comparison_for,
    model_judgment_runs_for,
    model_targets_for,
    registered_models_for_scoring,
    targets_for,
)
from leaderboards.services import (
    RESULT_CONTENT_VERSION,
    ScoringRefused,
    leaderboard_result_get_or_request,
    model_judgment_run_start,
)


def _svg_data_uri(svg: str | None) -> str | None:
    return None if svg is None else "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@dataclass
class StoredLeaderboard:
    """What the page and the downloads show: the stored result (its age, whether it is being recomputed) and the
    leaderboard read back from it (None until its first computation ends)."""

    campaign: Campaign
    result: LeaderboardResult
    leaderboard: Leaderboard | None
    form: LeaderboardForm


def _options_from_request(request, campaign_id: int) -> tuple[Campaign, LeaderboardForm, list[Campaign]]:
    """The campaign (access checked), the options form bound to the query string, and the campaigns it pools."""
    campaign = access_campaign_for_leaderboard(user=request.user, campaign_id=campaign_id)
    comparable = list(campaigns_comparable_with(user=request.user, campaign=campaign))
    form = LeaderboardForm(
        LeaderboardForm.with_defaults(request.GET),
        targets=targets_for(campaign=campaign),
        comparable=[(other.pk, other.name) for other in comparable],
    )
    campaigns = [campaign, *(other for other in comparable if other.pk in form.also_ids())]
    return campaign, form, campaigns


def _leaderboard_from_request(request, campaign_id: int) -> StoredLeaderboard:
    """The leaderboard as last computed in the background (services: leaderboard_result_compute); no fit here."""
    campaign, form, campaigns = _options_from_request(request, campaign_id)
    result = leaderboard_result_get_or_request(campaigns=campaigns, **form.options())
    content = result.content or {}
    leaderboard = None
    if content.get("version") == RESULT_CONTENT_VERSION:
        leaderboard = Leaderboard.from_stored(content["leaderboard"], campaigns=campaigns)
    return StoredLeaderboard(campaign=campaign, result=result, leaderboard=leaderboard, form=form)


def _status_context(request, campaign: Campaign, result: LeaderboardResult, status_url: str) -> dict:
    """The line saying how old the shown result is; while a recompute is pending it polls the status view, which
    reloads the page once a newer result is stored."""
    shown = result.computed_at.isoformat() if result.computed_at else ""
    query = [(name, value) for name in SHOWN_OPTIONS for value in request.GET.getlist(name)] + [("shown", shown)]
    return {"campaign": campaign, "stored": result, "status_url": status_url, "status_query": urlencode(query)}


@login_required
def leaderboard_page(request, campaign_id: int):
    stored = _leaderboard_from_request(request, campaign_id)
    campaign, leaderboard, form = stored.campaign, stored.leaderboard, stored.form
    charts = (stored.result.content or {}).get("charts", {})
    context = {
        **_status_context(request, campaign, stored.result, reverse("leaderboard-status", args=[campaign.pk])),
        "leaderboard": leaderboard,
        "rows": leaderboard.ranking.rows() if leaderboard and leaderboard.ranking else [],
        "matrix": tables.win_rate_matrix(leaderboard) if leaderboard else [],
        "form": form,
        "query": request.GET.urlencode(),
        "scores_chart": _svg_data_uri(charts.get("scores")),
        "win_rate_chart": _svg_data_uri(charts.get("win_rate")),
        **_reward_model_context(request, campaign, form),
    }
    return render(request, "leaderboards/leaderboard.html", context, status=400 if form.errors else 200)


@login_required
def leaderboard_status(request, campaign_id: int, kind: str = LeaderboardResult.Kind.LEADERBOARD):
    """Polled while a recompute is pending: the status line, or a page reload once a newer result is stored."""
    campaign, form, campaigns = _options_from_request(request, campaign_id)
    if kind == LeaderboardResult.Kind.RELIABILITY:
        key = leaderboard_result_key(kind=kind, campaigns=[campaign])
        status_url = reverse("leaderboard-reliability-status", args=[campaign.pk])
    else:
        key = leaderboard_result_key(kind=LeaderboardResult.Kind.LEADERBOARD, campaigns=campaigns, **form.options())
        status_url = reverse("leaderboard-status", args=[campaign.pk])
    result = leaderboard_result_for(key=key)
    if result is None:
        raise Http404("This leaderboard was never opened.")
    response = render(
        request, "leaderboards/_result_status.html", _status_context(request, campaign, result, status_url)
    )
    shown = result.computed_at.isoformat() if result.computed_at else ""
    if shown != request.GET.get("shown", ""):
        response["HX-Refresh"] = "true"
    return response


SHOWN_OPTIONS = ("target", "source", "resamples", "seed", "also")


def _chosen_run(request, campaign):
    """The run of the model named by ?model=<id>, else the campaign's latest run (None when there is none)."""
    runs = list(model_judgment_runs_for(campaign=campaign))
    chosen = request.GET.get("model", "")
    if chosen.isdigit():
        return next((run for run in runs if run.model_id == int(chosen)), None), runs
    return (runs[0] if runs else None), runs


def _reward_model_context(request, campaign, form: LeaderboardForm) -> dict:
    """The "Reward model" section: models to score with, the chosen model's run, and (once it judged pairs) its
    leaderboard beside the experts' on the form's target when a model ranks it (overall and dimensions)."""
    run, runs = _chosen_run(request, campaign)
    options = form.options()
    model_targets = dict(model_targets_for(campaign=campaign))
    target = options["target"] if options["target"] in model_targets else OVERALL
    comparison = None
    if run is not None and run.pairs_judged:
        comparison = model_comparison_for(
            run=run, target=target, n_resamples=options["n_resamples"], seed=options["seed"]
        )
    return {
        "scoring_models": list(registered_models_for_scoring(user=request.user)),
        "model_runs": runs,
        "model_run": run,
        "model_comparison": comparison,
        "model_target_label": model_targets[target],
        "model_target_fallback": target != options["target"],
        "model_boards": _side_by_side(comparison) if comparison else [],
    }


def _side_by_side(comparison) -> list[dict]:
    def rows(board: Leaderboard) -> list[dict]:
        return board.ranking.rows() if board.ranking else []

    return [
        {"kind": "experts", "title": "Experts (consensus)", "rows": rows(comparison.experts)},
        {"kind": "model", "title": f"Reward model {comparison.run.model.name}", "rows": rows(comparison.model)},
    ]


@login_required
@require_http_methods(["POST"])
def leaderboard_model_start(request, campaign_id: int):
    """Start scoring the campaign's pairs with a registered model (in the background), then back to the page."""
    campaign = access_campaign_for_leaderboard(user=request.user, campaign_id=campaign_id)
    model = access_model_for_scoring(user=request.user, model_ref=request.POST.get("model", ""))
    try:
        run, sent = model_judgment_run_start(model=model, campaign=campaign, requested_by=request.user)
    except ScoringRefused as error:
        messages.error(request, str(error))
    else:
        if sent:
            messages.success(request, f"Scoring {campaign.name} with {model.name} in the background.")
        else:
            messages.info(request, f"{model.name} is already scoring {campaign.name}: {run.pairs_judged} pairs so far.")
    # Back to the same options (target, resamples...) the page was showing, now with this model's run.
    shown = QueryDict(request.POST.get("shown", ""))
    query = [(name, value) for name in SHOWN_OPTIONS for value in shown.getlist(name)] + [("model", model.pk)]
    return redirect(f"{reverse('leaderboard', args=[campaign.pk])}?{urlencode(query)}#reward-model")


@login_required
def leaderboard_model_status(request, campaign_id: int):
    """Polled while a model is scoring: its progress line, or a page reload once the run has stopped."""
    campaign = access_campaign_for_leaderboard(user=request.user, campaign_id=campaign_id)
    run, _ = _chosen_run(request, campaign)
    if run is None:
        raise Http404("This model never scored this campaign.")
    response = render(request, "leaderboards/_model_run_status.html", {"campaign": campaign, "model_run": run})
    if not run.active:
        response["HX-Refresh"] = "true"
    return response


def _spreadsheet_safe(cell):
    """Text a spreadsheet would run as a formula (a generator name from a manifest) is quoted (OWASP)."""
    if isinstance(cell, str) and cell.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + cell
    return cell


def _not_computed_yet() -> JsonResponse:
    """202: the download waits for the background fit; the client asks again."""
    return JsonResponse(
        {"status": "computing", "detail": "the leaderboard is being computed: try again shortly"}, status=202
    )


@login_required
def leaderboard_csv(request, campaign_id: int, table: str):
    if table not in ("leaderboard", "win-rate"):
        raise Http404("No such table.")
    stored = _leaderboard_from_request(request, campaign_id)
    leaderboard = stored.leaderboard
    if leaderboard is None:
        return _not_computed_yet()
    if table == "leaderboard":
        header, rows = tables.LEADERBOARD_HEADER, tables.leaderboard_rows(leaderboard)
    else:
        header, rows = tables.WIN_RATE_HEADER, tables.win_rate_rows(leaderboard)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = slugify("-".join(leaderboard.campaign_names))
    response["Content-Disposition"] = f'attachment; filename="{name}-{table}-{slugify(leaderboard.target)}.csv"'
    response["Last-Modified"] = http_date(stored.result.computed_at.timestamp())
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows([_spreadsheet_safe(cell) for cell in row] for row in rows)
    return response


@login_required
def leaderboard_json(request, campaign_id: int):
    stored = _leaderboard_from_request(request, campaign_id)
    leaderboard = stored.leaderboard
    if leaderboard is None:
        return _not_computed_yet()
    response = JsonResponse(
        leaderboard_result_json(leaderboard=leaderboard, result=stored.result), json_dumps_params={"indent": 2}
    )
    name = slugify("-".join(leaderboard.campaign_names))
    response["Content-Disposition"] = f'attachment; filename="{name}-leaderboard-{slugify(leaderboard.target)}.json"'
    return response


@login_required
def reliability_page(request, campaign_id: int):
    """Dawid-Skene reliability as last computed in the background, with its age; no fit here."""
    campaign = access_campaign_for_leaderboard(user=request.user, campaign_id=campaign_id)
    result = leaderboard_result_get_or_request(campaigns=[campaign], kind=LeaderboardResult.Kind.RELIABILITY)
    content = result.content or {}
    rows, codes = [], []
    if content.get("version") == RESULT_CONTENT_VERSION:
        reliabilities = ExpertReliability.from_stored(content["reliability"])
        codes = reliabilities.codes
        rows = [
            {
                "expert": expert,
                "overall": reliabilities.overall[expert],
                "by_code": [reliabilities.by_code.get(code, {}).get(expert) for code in reliabilities.codes],
            }
            for expert in reliabilities.experts()
        ]
    status_url = reverse("leaderboard-reliability-status", args=[campaign.pk])
    status = _status_context(request, campaign, result, status_url)
    return render(request, "leaderboards/reliability.html", {**status, "codes": codes, "rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def pairing_page(request, campaign_id: int):
    """GET: the pairs a strategy would build (counts and the first ones); POST: build them, then back to the preview."""
    campaign = access_campaign(user=request.user, campaign_id=campaign_id, roles=INGEST, action="build its pairs")
    data = request.POST if request.method == "POST" else (request.GET or None)
    form = PairingForm(data, targets=targets_for(campaign=campaign), initial=PairingForm.initial_options())
    if data is None:
        options = PairingForm.initial_options()
    elif form.is_valid():
        options = form.options()
    else:
        return render(request, "leaderboards/pairing.html", {"campaign": campaign, "form": form}, status=400)
    if request.method == "POST":
        created = pairing_apply(campaign=campaign, **options)
        messages.success(request, f"{created} pair{'s' if created != 1 else ''} added to {campaign.name}.")
        return redirect(f"{reverse('pairing', args=[campaign.pk])}?{urlencode(options)}")
    plan = pairing_plan(campaign=campaign, **options)
    return render(request, "leaderboards/pairing.html", {"campaign": campaign, "form": form, "plan": plan})
