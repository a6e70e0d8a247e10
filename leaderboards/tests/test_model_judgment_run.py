"""A registered reward model judges a campaign's pairs in the background: what is stored, what is skipped, how a
garbage answer is kept, and how a run whose worker died continues where it stopped.

The model here is a stand-in judge (factories.StrengthJudge) so the stored verdicts are known in advance; the real
checkpoint path is covered by test_model_leaderboard_on_a_real_worker.py. Tasks run eagerly (no broker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from leaderboards import services
from leaderboards.models import ModelJudgmentRun, ModelPairVerdict
from leaderboards.selectors import model_comparison_for
from leaderboards.services import model_judgment_run_execute, model_judgment_run_start
from leaderboards.tests.factories import (
    JUDGED_MATCHUPS,
    StrengthJudge,
    WorkerKilled,
    generator_campaign,
    generator_pair,
    judged_generator_campaign,
    registered_model_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded_judge(monkeypatch):
    """Make the task load `judge` instead of the model's checkpoint: loaded_judge(judge)."""

    def use(judge):
        monkeypatch.setattr(services, "pair_judge_load", lambda model: judge)
        return judge

    return use


@pytest.fixture
def start(django_capture_on_commit_callbacks):
    """model_judgment_run_start, its task sent (and run, eagerly) once the request's transaction commits."""

    def started(**arguments):
        with django_capture_on_commit_callbacks(execute=True):
            return model_judgment_run_start(**arguments)

    return started


def _verdicts(run) -> dict[str, tuple]:
    rows = ModelPairVerdict.objects.filter(run=run).select_related("pair")
    return {row.pair.external_id: (row.overall, row.dimensions, row.parse_error) for row in rows}


def test_every_pair_comparing_two_generators_is_judged_once_and_stored_in_canonical_terms(
    tmp_path, loaded_judge, start
):
    campaign = judged_generator_campaign()
    generator_pair(campaign, "base-v1", "base-v1", external_id="same-generator")
    model = registered_model_make(campaign, tmp_path / "run")
    judge = loaded_judge(StrengthJudge(campaign))

    run, sent = start(model=model, campaign=campaign)

    run.refresh_from_db()
    assert sent and run.status == ModelJudgmentRun.Status.SUCCEEDED
    assert (run.pairs_total, run.pairs_judged, run.pairs_unparsable) == (10, 10, 0)
    assert judge.calls == 10  # the pair of one generator with itself is not asked
    stored = _verdicts(run)
    assert stored["m1"] == (1, {"VA": 1, "VF": 1, "VP": 1}, "")  # sora-ckpt-3 (A) over veo-nightly
    assert stored["m4"] == (-1, {"VA": -1, "VF": -1, "VP": -1}, "")  # veo-nightly (A) under sora-ckpt-3 (B)
    assert "same-generator" not in stored


def test_garbage_answers_and_a_crashing_pair_are_recorded_unparsable_and_the_run_still_succeeds(
    tmp_path, loaded_judge, start
):
    campaign = judged_generator_campaign()
    model = registered_model_make(campaign, tmp_path / "run")
    loaded_judge(
        StrengthJudge(
            campaign, answers={("veo-nightly", "base-v1"): "garbage", ("veo-nightly", "sora-ckpt-3"): "crash"}
        )
    )

    run, _ = start(model=model, campaign=campaign)

    run.refresh_from_db()
    assert run.status == ModelJudgmentRun.Status.SUCCEEDED
    # m5-m7 are veo-nightly vs base-v1 (garbage), m4 is veo-nightly vs sora-ckpt-3 (the judge raised)
    assert (run.pairs_judged, run.pairs_unparsable) == (10, 4)
    stored = _verdicts(run)
    assert stored["m5"] == (None, {}, "no")
    assert stored["m4"][0] is None and stored["m4"][2].startswith("not judged: RuntimeError: CUDA error")
    board = model_comparison_for(run=run, n_resamples=0).model
    assert board.ranking.n_comparisons == 6  # unparsable pairs count in no leaderboard


def test_a_run_whose_worker_died_mid_way_continues_where_it_stopped(tmp_path, loaded_judge, monkeypatch, start):
    monkeypatch.setattr(services, "VERDICT_BATCH", 8)
    campaign = generator_campaign(name="twenty", matchups=JUDGED_MATCHUPS * 2)
    model = registered_model_make(campaign, tmp_path / "run")
    loaded_judge(StrengthJudge(campaign, die_after=20))  # dies judging pair 20, in the third batch (17-24)

    with pytest.raises(WorkerKilled):
        start(model=model, campaign=campaign)

    run = ModelJudgmentRun.objects.get(model=model, campaign=campaign)
    assert run.status == ModelJudgmentRun.Status.RUNNING and run.pairs_judged == 16
    # Still "scoring" as far as anyone can tell: asking again sends nothing until the run looks lost.
    assert start(model=model, campaign=campaign) == (run, False)
    ModelJudgmentRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    second_life = loaded_judge(StrengthJudge(campaign))

    run, sent = start(model=model, campaign=campaign)

    run.refresh_from_db()
    assert sent and run.status == ModelJudgmentRun.Status.SUCCEEDED
    assert second_life.calls == 4 and (run.pairs_total, run.pairs_judged) == (20, 20)
    assert ModelPairVerdict.objects.filter(run=run).count() == 20


def test_a_redelivered_task_finds_the_run_claimed_and_does_nothing(tmp_path, loaded_judge, start):
    campaign = judged_generator_campaign()
    model = registered_model_make(campaign, tmp_path / "run")
    judge = loaded_judge(StrengthJudge(campaign))
    run, _ = start(model=model, campaign=campaign)

    assert model_judgment_run_execute(run_id=run.pk) is False
    assert judge.calls == 10


def test_scoring_again_after_new_pairs_judges_only_the_new_ones(tmp_path, loaded_judge, start):
    campaign = judged_generator_campaign()
    model = registered_model_make(campaign, tmp_path / "run")
    loaded_judge(StrengthJudge(campaign))
    start(model=model, campaign=campaign)
    generator_pair(campaign, "sora-ckpt-3", "base-v1", external_id="late")
    later = loaded_judge(StrengthJudge(campaign))

    run, sent = start(model=model, campaign=campaign)

    run.refresh_from_db()
    assert sent and later.calls == 1 and (run.pairs_total, run.pairs_judged) == (11, 11)


def test_a_model_that_cannot_be_loaded_fails_the_run_with_the_reason(tmp_path, start):
    campaign = judged_generator_campaign()
    model = registered_model_make(campaign, tmp_path / "no-such-run")

    run, _ = start(model=model, campaign=campaign)

    run.refresh_from_db()
    assert run.status == ModelJudgmentRun.Status.FAILED
    assert run.error.startswith("the model could not be loaded:") and "not a run folder" in run.error


def test_the_model_leaderboard_beside_the_experts_with_hand_counted_agreement(tmp_path, loaded_judge, start):
    """The stand-in model always prefers the stronger generator; the experts' consensus does too except in the
    upsets m4 and m8. Both leaderboards rank sora-ckpt-3 > veo-nightly > base-v1 (experts: 5 of 7, 4 of 7, 1 of 6
    won; model: 7 of 7, 3 of 7, 0 of 6), so tau = rho = order agreement = 1, and the verdicts agree on 8 of 10."""
    campaign = judged_generator_campaign()
    model = registered_model_make(campaign, tmp_path / "run")
    loaded_judge(StrengthJudge(campaign))
    run, _ = start(model=model, campaign=campaign)
    run.refresh_from_db()

    comparison = model_comparison_for(run=run, n_resamples=50, seed=1)

    order = ["sora-ckpt-3", "veo-nightly", "base-v1"]
    assert [row["generator"] for row in comparison.experts.ranking.rows()] == order
    assert [row["generator"] for row in comparison.model.ranking.rows()] == order
    figures = comparison.concordance.as_json()
    assert figures["kendall_tau"] == pytest.approx(1) and figures["spearman"] == pytest.approx(1)
    assert figures["order_agreement"] == 1 and figures["verdict_agreement"] == pytest.approx(0.8)
    assert figures["pairs_judged_by_both"] == 10
    low, high = figures["verdict_agreement_ci"]
    assert low < 0.8 < high <= 1
    assert comparison.as_json()["reward_model"]["source"] == f"model:{model.pk}"
