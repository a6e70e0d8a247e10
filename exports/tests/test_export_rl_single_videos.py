"""rl-prompts single-video rows (Aes-R1 / RAPO): a score in [0, 1] per video from the pair judgments or from a
registered checklist-linear model, the accepted AesCoT critique as the cold-start target, the source in the
manifest."""

import json
from pathlib import Path

import pytest

from annotation.models import VideoPair
from distillation import services as distillation_services
from distillation.filters import FilterContext, VideoFacts
from distillation.models import DistillationItem, DistillationJob
from distillation.tests.factories import endpoint_create
from exports import formats
from exports.models import ExportSnapshot
from exports.services import ExportError, export_snapshot_create
from exports.tests.factories import checklist_answers, experts_make, judge, pair_make, video_with_proxy
from exports.tests.helpers import all_rows, build
from exports.video_scores import bradley_terry_scores, checklist_share_score, critique_for_score
from rm_training.checklist_linear import ChecklistRewardModel
from training.models import RegisteredModel, TrainingJob

CHAIN_PROMPT = "a heron lifting off a misty lake"


def _rows(snapshot) -> dict[str, list[dict]]:
    assert snapshot.status == ExportSnapshot.Status.SUCCEEDED, snapshot.error
    return all_rows(Path(snapshot.path))


def _single_rows(rows_by_split: dict[str, list[dict]]) -> dict[str, tuple[str, dict]]:
    """video path -> (split, row) of the single-video rows."""
    return {
        row["video"]: (split, row) for split, rows in rows_by_split.items() for row in rows if row["kind"] == "single"
    }


# --- the rules, by hand ---------------------------------------------------------------------------------------


def test_a_video_without_games_scores_one_half():
    """Only its virtual tie with the reference: W = 0.5 = p / (p + 1) gives p = 1, score 0.5."""
    assert bradley_terry_scores([], 2).tolist() == pytest.approx([0.5, 0.5])


def test_one_win_scores_the_root_of_the_bradley_terry_equations():
    """a beats b once. Flipping every result and inverting the strengths maps the data onto itself, so p_b = 1 / p_a.
    The maximum-likelihood equation of a (wins = expected wins, its virtual tie included) with x = p_a:
    1 + 0.5 = x / (x + 1/x) + x / (x + 1), whose root is x = 2.130395: scores x / (x + 1) = 0.680552 and
    1 - 0.680552 = 0.319448."""
    scores = bradley_terry_scores([(0, 1, 1.0)], 2)
    assert scores.tolist() == pytest.approx([0.680552, 0.319448], abs=1e-6)


def test_a_tie_counts_half_a_win_each_way():
    assert bradley_terry_scores([(0, 1, 0.5)], 2).tolist() == pytest.approx([0.5, 0.5])
    assert bradley_terry_scores([(0, 1, 1.0), (1, 0, 1.0)], 2).tolist() == pytest.approx([0.5, 0.5])


def test_checklist_score_is_the_share_of_the_weight_answered_yes():
    """Weights 3, 1, 4; yes, yes, unanswered -> (3 + 1) / 8 = 0.5; no, yes, yes -> 5 / 8."""
    assert checklist_share_score([3.0, 1.0, 4.0], [1, 1, None]) == 0.5
    assert checklist_share_score([3.0, 1.0, 4.0], [0, 1, 1]) == 0.625


def test_a_critique_from_the_same_bin_ends_with_the_exported_score_and_another_bin_is_left_out():
    critique = "<think>Soft, even light; a quiet frame.</think><answer>0.55</answer>"
    assert critique_for_score(critique, 0.62) == "<think>Soft, even light; a quiet frame.</think><answer>0.62</answer>"
    assert critique_for_score(critique, 0.75) is None  # fair critique, good score
    assert critique_for_score("<think>No rating.</think>", 0.5) is None


def test_the_single_video_prompt_asks_for_reasoning_then_a_rating_and_holds_the_video():
    row = formats.rl_single_video_row(sha256="ab" * 32, prompt="a kite", score=0.25)
    assert [message["role"] for message in row["messages"]] == ["system", "user"]
    user = row["messages"][1]["content"]
    assert user[0]["text"].startswith(formats.SINGLE_PROMPT_LEAD + "a kite")
    assert "<think>...</think><answer>...</answer>" in user[0]["text"]
    assert user[2] == {"type": "video", "video": row["video"]} and row["video"] == f"media/{'ab' * 32}.mp4"
    assert (row["kind"], row["pair_id"], row["score"]) == ("single", f"video:{'ab' * 32}", 0.25)


# --- the export, on PostgreSQL ---------------------------------------------------------------------------------


def _chain_campaign(campaign):
    """Three videos of one prompt, best > middle > worst in every pair (middle beats worst, best beats both), plus
    four pairs of other prompts (so every split gets a prompt group). Returns (best, middle, worst)."""
    (rater,) = experts_make(1, campaign)
    best, middle, worst = (video_with_proxy(prompt=CHAIN_PROMPT) for _ in range(3))
    for number, (a, b) in enumerate(((best, middle), (middle, worst), (best, worst))):
        pair = VideoPair.objects.create(campaign=campaign, external_id=f"chain-{number}", prompt=CHAIN_PROMPT,
                                        video_a=a, video_b=b)
        judge(pair, rater, value=1)
    for index in range(4):
        judge(pair_make(campaign, prompt=f"other prompt {index}"), rater, value=1)
    return best, middle, worst


def test_judgment_scores_give_one_row_per_video_in_the_split_of_its_pairs(export_campaign, tmp_path):
    """The chain: the middle video won once and lost once, so it scores exactly 0.5; best and worst are mirror images
    (p_worst = 1 / p_best): with x = p_best, 2 + 0.5 = 2 x / (x + 1) + x^2 / (x^2 + 1) gives x = 3.649436, scores
    0.784920 and 0.215080. A video of the other pairs won (or lost) its only game: 0.680552 (0.319448)."""
    best, middle, worst = _chain_campaign(export_campaign)

    snapshot = build(export_campaign, "rl-prompts", path=tmp_path / "export", video_scores="judgments")

    rows = _rows(snapshot)
    singles = _single_rows(rows)
    assert len(singles) == 3 + 8 and sum(len(split_rows) for split_rows in rows.values()) == 7 + 11
    scores = {path: row["score"] for path, (_, row) in singles.items()}
    assert scores[f"media/{middle.sha256}.mp4"] == pytest.approx(0.5, abs=1e-6)
    assert scores[f"media/{best.sha256}.mp4"] == pytest.approx(0.784920, abs=1e-6)
    assert scores[f"media/{worst.sha256}.mp4"] == pytest.approx(0.215080, abs=1e-6)
    others = sorted(score for path, score in scores.items()
                    if path not in {f"media/{v.sha256}.mp4" for v in (best, middle, worst)})
    assert others == pytest.approx([0.319448] * 4 + [0.680552] * 4, abs=1e-6)
    for split, split_rows in rows.items():
        for row in split_rows:
            if row["kind"] == "pair":
                assert singles[row["video_a"]][0] == split and singles[row["video_b"]][0] == split
    (_, best_row) = singles[f"media/{best.sha256}.mp4"]
    assert best_row["messages"][1]["content"][0]["text"].startswith(formats.SINGLE_PROMPT_LEAD + CHAIN_PROMPT)
    assert [message["role"] for message in best_row["messages"]] == ["system", "user"]  # no accepted critique
    assert (tmp_path / "export" / best_row["video"]).is_file()
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["filters"]["video_scores"] == "judgments" and manifest["filters"]["video_score_model"] is None
    assert manifest["video_scores"]["source"] == "judgments" and "Bradley-Terry" in manifest["video_scores"]["rule"]
    assert manifest["video_scores"]["videos_scored"] == 11


def test_without_the_option_rl_prompts_hold_pairs_only_and_the_manifest_says_nothing_of_scores(
    export_campaign, tmp_path
):
    _chain_campaign(export_campaign)
    snapshot = build(export_campaign, "rl-prompts", path=tmp_path / "export")
    assert {row["kind"] for split_rows in _rows(snapshot).values() for row in split_rows} == {"pair"}
    assert "video_scores" not in snapshot.manifest and "video_scores" not in snapshot.manifest["filters"]


def test_an_accepted_critique_in_the_videos_bin_becomes_its_cold_start_target(export_campaign, curator, tmp_path):
    """The best video scores 0.784920 ("good"): its critique, written for 0.81, is kept with the exported score as
    its rating; the worst (0.215080, "bad") has a "good" critique, which is left out and counted."""
    best, _, worst = _chain_campaign(export_campaign)
    endpoint = endpoint_create(name="teacher")
    job = DistillationJob.objects.create(campaign=export_campaign, endpoint=endpoint, kind="scores",
                                         prompt_version="aescot-score-v1", total_items=2)
    text = ("<think>Warm side light shapes the subject and the palette stays coherent. The framing leaves generous "
            "lead room. Overall a polished, cinematic shot with only minor softness.</think><answer>0.81</answer>")
    facts = {"V": VideoFacts(duration_seconds=1.0, width=160, height=96, fps=24.0, checklist={})}
    for video in (best, worst):
        item = DistillationItem.objects.create(job=job, video=video, score=0.82, tone="good",
                                               item_key=f"video:{video.pk}")
        critique = distillation_services.critique_record(
            item=item, sample_index=0, text=text,
            context=FilterContext(labels={"score": 0.82}, score=0.82, facts=facts),
        )
        assert critique.passed
        distillation_services.critique_accept(critique=critique, curator=curator)

    snapshot = build(export_campaign, "rl-prompts", path=tmp_path / "export", video_scores="judgments")

    singles = _single_rows(_rows(snapshot))
    (_, best_row) = singles[f"media/{best.sha256}.mp4"]
    assert best_row["messages"][-1] == {"role": "assistant", "content": [
        {"type": "text", "text": text.replace("<answer>0.81</answer>", "<answer>0.78</answer>")}]}
    assert singles[f"media/{worst.sha256}.mp4"][1]["messages"][-1]["role"] == "user"
    assert (snapshot.manifest["video_scores"]["with_critique"],
            snapshot.manifest["video_scores"]["critique_other_bin"]) == (1, 1)


def _registered_checklist_model(campaign, tmp_path, *, question_ids: list[str], overall: list[float],
                                checklist: dict | None = None) -> RegisteredModel:
    run = tmp_path / "checklist-run"
    run.mkdir()
    ChecklistRewardModel(question_ids=question_ids, weights={"overall": overall}).save(run / "checklist_weights.json")
    trained_on = checklist or {"slug": campaign.checklist.slug, "version": campaign.checklist.version}
    snapshot = ExportSnapshot.objects.create(campaign=campaign, format="aesrm-pairwise", options={},
                                             path=str(tmp_path / "training-export"),
                                             status=ExportSnapshot.Status.SUCCEEDED, manifest={"checklist": trained_on})
    job = TrainingJob.objects.create(recipe="checklist-linear", snapshot=snapshot, run_dir=str(run),
                                     status=TrainingJob.Status.SUCCEEDED)
    return RegisteredModel.objects.create(job=job, name="visionreward", recipe="checklist-linear", snapshot=snapshot,
                                          run_dir=str(run))


def _mixed_and_all_no(campaign) -> tuple[dict, dict, int, int]:
    """Checklists of two videos: "mixed" says yes to the strongest option of the first sub-dimension and no to the
    weakest of every other (so no throughout them), "all no" no everywhere. Returns them and two questions:
    one mixed answers yes, one it answers no."""
    yes = checklist_answers(campaign, yes=True)
    no = checklist_answers(campaign, yes=False)
    questions = {question.id: question for question in campaign.checklist.questions.all()}
    first = min(questions[qid].sub_dimension for qid in yes)
    mixed = {**{qid: "no" for qid in no if questions[qid].sub_dimension != first},
             **{qid: "yes" for qid in yes if questions[qid].sub_dimension == first}}
    answered_yes = next(qid for qid, answer in mixed.items() if answer == "yes")
    answered_no = next(qid for qid, answer in mixed.items() if answer == "no")
    return mixed, no, answered_yes, answered_no


def test_a_checklist_model_scores_each_video_by_the_share_of_its_weight_answered_yes(checklist_campaign, tmp_path):
    """The model weighs a question the A videos answer yes 3 and one they answer no 1: A scores 3 / (3 + 1) = 0.75;
    the B videos answer no to both: 0 / 4 = 0."""
    experts = experts_make(1, checklist_campaign)
    pairs = [pair_make(checklist_campaign, prompt=f"scene {index}") for index in range(3)]
    mixed, all_no, answered_yes, answered_no = _mixed_and_all_no(checklist_campaign)
    for pair in pairs:
        judge(pair, experts[0], value=1, checklist={pair.video_a_id: mixed, pair.video_b_id: all_no})
    model = _registered_checklist_model(checklist_campaign, tmp_path, question_ids=[str(answered_yes),
                                        str(answered_no)], overall=[3.0, 1.0])

    snapshot = build(checklist_campaign, "rl-prompts", path=tmp_path / "export", video_scores="checklist-model",
                     video_score_model=model.pk)

    singles = _single_rows(_rows(snapshot))
    for pair in pairs:
        assert singles[f"media/{pair.video_a.sha256}.mp4"][1]["score"] == 0.75
        assert singles[f"media/{pair.video_b.sha256}.mp4"][1]["score"] == 0.0
    summary = snapshot.manifest["video_scores"]
    assert summary["source"] == "checklist-model" and summary["model"]["id"] == model.pk
    assert snapshot.manifest["filters"]["video_score_model"] == model.pk


def test_a_checklist_model_of_another_checklist_is_refused(checklist_campaign, tmp_path):
    (expert,) = experts_make(1, checklist_campaign)
    mixed, all_no, _, _ = _mixed_and_all_no(checklist_campaign)
    for index in range(3):
        pair = pair_make(checklist_campaign, prompt=f"scene {index}")
        judge(pair, expert, value=1, checklist={pair.video_a_id: mixed, pair.video_b_id: all_no})
    model = _registered_checklist_model(checklist_campaign, tmp_path, question_ids=["1"], overall=[1.0],
                                        checklist={"slug": "another-checklist", "version": 1})

    snapshot = build(checklist_campaign, "rl-prompts", path=tmp_path / "export", video_scores="checklist-model",
                     video_score_model=model.pk)

    assert snapshot.status == ExportSnapshot.Status.FAILED
    assert "trained on checklist" in snapshot.error and not (tmp_path / "export").exists()


@pytest.mark.parametrize(
    ("export_format", "options", "message"),
    [
        ("aesrm-pairwise", {"video_scores": "judgments"}, "applies to rl-prompts only"),
        ("rl-prompts", {"video_scores": "ratings"}, "video_scores must be one of none, judgments, checklist-model"),
        ("rl-prompts", {"video_scores": "checklist-model"}, "video_score_model"),
        ("rl-prompts", {"video_scores": "judgments", "video_score_model": 3}, "video_score_model"),
        ("rl-prompts", {"video_scores": "checklist-model", "video_score_model": "x"}, "id of a registered model"),
    ],
)
def test_video_score_options_are_checked_before_anything_is_built(export_campaign, export_format, options, message):
    with pytest.raises(ExportError, match=message):
        export_snapshot_create(campaign=export_campaign, export_format=export_format, options=options)


def test_an_ml_engineer_asks_for_scored_videos_from_the_export_form(
    client, ml_engineer, judged_campaign, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    client.force_login(ml_engineer)
    form = {"campaign": judged_campaign.pk, "format": "rl-prompts", "split": "0.8/0.1/0.1", "seed": 0,
            "min_agreement": 0, "gold": "test", "awaiting_adjudication": "exclude", "video_scores": "judgments"}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("export-index"), form)

    assert response.status_code == 302
    snapshot = ExportSnapshot.objects.get()
    assert snapshot.status == ExportSnapshot.Status.SUCCEEDED, snapshot.error
    assert snapshot.options["video_scores"] == "judgments"
    assert snapshot.manifest["video_scores"]["videos_scored"] == 20  # ten pairs of two new videos each
