"""A registered reward model's leaderboard through the page's "Reward model" section, the API and the command:
start scoring, see progress, then the model's leaderboard beside the experts' with the agreement figures.
Experts (who judge blind) get 403 everywhere.

The model is a stand-in judge that always prefers the stronger generator (factories.StrengthJudge); tasks run
eagerly. On this campaign both leaderboards rank sora-ckpt-3 > veo-nightly > base-v1 and the verdicts agree on 8
of the 10 pairs (the experts' upsets m4 and m8): see test_model_judgment_run.py for the hand count."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from leaderboards import services
from leaderboards.models import ModelJudgmentRun
from leaderboards.tests.factories import StrengthJudge, judged_generator_campaign, registered_model_make

pytestmark = pytest.mark.django_db

ORDER = ["sora-ckpt-3", "veo-nightly", "base-v1"]


@pytest.fixture
def judged(curator, ml_engineer):
    return judged_generator_campaign(members={curator: "curator", ml_engineer: "ml_engineer"})


@pytest.fixture
def model(judged, tmp_path, monkeypatch):
    monkeypatch.setattr(services, "pair_judge_load", lambda model: StrengthJudge(judged))
    return registered_model_make(judged, tmp_path / "run", name="tiny-descore")


def _board(html: str, kind: str) -> list[str]:
    section = html.split(f'data-board="{kind}"')[1].split("</table>")[0]
    return [name for _, name in sorted((section.index(f'data-generator="{name}"'), name) for name in ORDER)]


def test_a_curator_starts_scoring_and_reads_the_model_leaderboard_beside_the_experts(
    client, curator, judged, model, django_capture_on_commit_callbacks
):
    client.force_login(curator)
    page = client.get(reverse("leaderboard", args=[judged.pk]), {"resamples": 0}).content.decode()
    assert "Reward model" in page and f'<option value="{model.pk}"' in page and "data-model-agreement" not in page

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            reverse("leaderboard-model-start", args=[judged.pk]),
            {"model": model.pk, "shown": "target=VA&resamples=30&next=//evil.example"},
        )

    assert started.status_code == 302
    assert started.url == f"/campaigns/{judged.pk}/leaderboard/?target=VA&resamples=30&model={model.pk}#reward-model"
    html = client.get(reverse("leaderboard", args=[judged.pk]), {"model": model.pk, "resamples": 30}).content.decode()
    assert "scored 10 of 10 pairs" in html
    assert _board(html, "experts") == ORDER and _board(html, "model") == ORDER
    verdicts = html.split('data-figure="verdict_agreement"')[1].split("</tr>")[0]
    assert "10 judged by both" in verdicts and "0.800" in verdicts
    assert 'data-figure="kendall_tau"><td>Kendall' in html and "1.000" in html.split('data-figure="kendall_tau"')[1]


def test_a_criterion_target_shows_the_overall_model_leaderboard_and_says_why(client, curator, judged, model):
    ModelJudgmentRun.objects.create(model=model, campaign=judged)
    services.model_judgment_run_execute(run_id=ModelJudgmentRun.objects.get().pk)
    client.force_login(curator)

    html = client.get(reverse("leaderboard", args=[judged.pk]), {"target": "VA1", "resamples": 0}).content.decode()

    assert "models give no per-criterion verdicts: overall shown" in html


def test_progress_is_polled_while_scoring_and_the_page_reloads_when_it_stops(client, curator, judged, model):
    run = ModelJudgmentRun.objects.create(
        model=model, campaign=judged, status=ModelJudgmentRun.Status.RUNNING, pairs_total=10, pairs_judged=4
    )
    client.force_login(curator)
    status_url = reverse("leaderboard-model-status", args=[judged.pk])

    polling = client.get(status_url, {"model": model.pk})
    assert (
        "scoring: 4 of 10 pairs judged" in polling.content.decode()
        and 'hx-trigger="every 2s"' in polling.content.decode()
    )
    assert "HX-Refresh" not in polling

    ModelJudgmentRun.objects.filter(pk=run.pk).update(status=ModelJudgmentRun.Status.SUCCEEDED, pairs_judged=10)
    assert client.get(status_url, {"model": model.pk})["HX-Refresh"] == "true"


def test_the_api_starts_scoring_then_gives_both_leaderboards_and_the_agreement(
    client, ml_engineer, judged, model, django_capture_on_commit_callbacks
):
    client.force_login(ml_engineer)
    runs_url = reverse("api-leaderboard-model-runs", args=[judged.pk])

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(runs_url, {"model": model.name}, content_type="application/json")

    assert started.status_code == 202 and started.json()["model"] == model.pk
    assert [run["status"] for run in client.get(runs_url).json()] == ["succeeded"]
    data = client.get(
        reverse("api-leaderboard-model", args=[judged.pk, model.pk]), {"target": "VA", "resamples": 20, "seed": 3}
    ).json()
    assert [row["generator"] for row in data["reward_model"]["generators"]] == ORDER
    assert [row["generator"] for row in data["experts"]["generators"]] == ORDER
    assert data["reward_model"]["source"] == f"model:{model.pk}" and data["target"] == "VA"
    assert data["agreement"]["verdict_agreement"] == pytest.approx(0.8)
    assert data["agreement"]["resamples"] == 20 and len(data["agreement"]["kendall_tau_ci"]) == 2
    assert data["run"]["pairs_judged"] == 10


def test_the_api_refuses_criterion_targets_and_models_that_never_scored(client, ml_engineer, judged, model):
    client.force_login(ml_engineer)
    url = reverse("api-leaderboard-model", args=[judged.pk, model.pk])

    assert client.get(url).status_code == 404
    ModelJudgmentRun.objects.create(model=model, campaign=judged)
    waiting = client.get(url).json()
    assert waiting["run"]["status"] == "pending" and waiting["agreement"] is None
    assert client.get(url, {"target": "VA1"}).status_code == 400


def test_the_model_leaderboard_api_is_in_the_openapi_schema(client, ml_engineer):
    client.force_login(ml_engineer)

    schema = client.get("/api/schema/", {"format": "json"}).json()

    assert "post" in schema["paths"]["/api/campaigns/{campaign_id}/leaderboard/model/"]
    assert "get" in schema["paths"]["/api/campaigns/{campaign_id}/leaderboard/model/{model_id}/"]


def test_experts_are_refused_the_section_the_api_and_starting_a_run(client, judged, model):
    expert = judged.memberships.filter(role="expert").first().user
    ModelJudgmentRun.objects.create(model=model, campaign=judged)
    client.force_login(expert)

    responses = [
        client.post(reverse("leaderboard-model-start", args=[judged.pk]), {"model": model.pk}),
        client.get(reverse("leaderboard-model-status", args=[judged.pk]), {"model": model.pk}),
        client.get(reverse("api-leaderboard-model-runs", args=[judged.pk])),
        client.post(reverse("api-leaderboard-model-runs", args=[judged.pk]), {"model": model.pk}),
        client.get(reverse("api-leaderboard-model", args=[judged.pk, model.pk])),
    ]

    assert [response.status_code for response in responses] == [403] * 5
    assert not any("sora-ckpt-3" in response.content.decode() for response in responses)
    assert ModelJudgmentRun.objects.get().status == ModelJudgmentRun.Status.PENDING


def test_a_model_of_a_campaign_the_user_cannot_read_is_not_offered_nor_accepted(
    client, curator, judged, model, tmp_path
):
    elsewhere = judged_generator_campaign(name="elsewhere")
    foreign = registered_model_make(elsewhere, tmp_path / "foreign", name="foreign-model")
    client.force_login(curator)

    page = client.get(reverse("leaderboard", args=[judged.pk]), {"resamples": 0}).content.decode()
    refused = client.post(reverse("leaderboard-model-start", args=[judged.pk]), {"model": foreign.pk})

    assert "foreign-model" not in page and refused.status_code == 404


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("leaderboard", *args, stdout=out)
    return out.getvalue()


def test_the_command_scores_with_the_model_then_prints_both_leaderboards_and_the_agreement(
    judged, model, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the command's own commit sends the task
        _command("--campaign", judged.name, "--model", model.name, "--target", "overall", "--resamples", "0")

    text = _command("--campaign", judged.name, "--model", model.name, "--target", "overall", "--resamples", "10")

    assert "reward model tiny-descore (descore): succeeded, 10 of 10 pairs judged, 0 unparsable" in text
    assert "verdict agreement    0.800" in text and "(10 pairs judged by both)" in text
    experts, reward_model = text.split("  experts:\n")[1].split("  reward model:\n")
    for board in (experts, reward_model):
        assert board.index("sora-ckpt-3") < board.index("veo-nightly") < board.index("base-v1")


def test_the_command_json_has_one_comparison_per_target(judged, model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _command("--campaign", judged.name, "--model", model.name, "--resamples", "0")

    data = json.loads(_command("--campaign", judged.name, "--model", str(model.pk), "--json", "--resamples", "5"))

    assert data["run"]["status"] == "succeeded"
    assert list(data["targets"]) == ["overall", "VA", "VF", "VP"]
    assert data["targets"]["VP"]["agreement"]["kendall_tau"] == pytest.approx(1)


def test_the_command_refuses_an_unknown_model_and_criterion_targets(judged, model):
    with pytest.raises(CommandError, match="No registered model"):
        _command("--campaign", judged.name, "--model", "nope")
    with pytest.raises(CommandError, match="no per-criterion verdicts"):
        _command("--campaign", judged.name, "--model", model.name, "--target", "VA1")
