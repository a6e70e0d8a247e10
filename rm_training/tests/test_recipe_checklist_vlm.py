import json

import pytest

from rm_training.checklist_linear import ChecklistRewardModel
from rm_training.cli import main
from rm_training.config import ConfigError
from rm_training.recipes.checklist_vlm import balanced_indices, question_messages, question_text
from rm_training.scoring import ChecklistVideoScorer
from rm_training.tests.export_builder import build_checklist_qa_export

TINY_VIDEO = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136"]


def _qa(question_id, answer):
    return {"question_id": question_id, "answer": answer}


def test_balanced_sampling_repeats_each_questions_minority_answer():
    """Question 1: rows 0, 1, 2 say yes, row 3 no -> yes rows 0, 1, 2 and the no row 3 three times.
    Question 2: row 4 no, rows 5 and 6 yes -> yes rows 5, 6 and no row 4 twice.
    Question 10: row 7 yes only -> kept once (nothing to balance against). Questions in id order 1, 2, 10."""
    rows = [_qa(1, "yes"), _qa(1, "yes"), _qa(1, "yes"), _qa(1, "no"),
            _qa(2, "no"), _qa(2, "yes"), _qa(2, "yes"), _qa(10, "yes")]
    assert balanced_indices(rows) == [0, 1, 2, 3, 3, 3, 5, 6, 4, 4, 7]


def test_balanced_sampling_refuses_an_answer_that_is_not_yes_or_no():
    with pytest.raises(ValueError, match="not yes or no"):
        balanced_indices([_qa(1, "maybe")])


def test_a_question_is_asked_about_one_video_with_its_prompt_filled_in():
    text = question_text("Does the video meet all the requirements stated in the text “[[prompt]]”?", "a red kite")
    assert text == "Does the video meet all the requirements stated in the text “a red kite”?"
    messages = question_messages("media/x.mp4", text)
    assert [message["role"] for message in messages] == ["system", "user"]
    assert messages[1]["content"] == [
        {"type": "video", "video": "media/x.mp4"},
        {"type": "text", "text": text + " Answer yes or no."},
    ]


@pytest.fixture(scope="module")
def checklist_runs(tmp_path_factory, clips, make_export, tiny_model_path):
    """A checklist-linear run on pairwise rows, and a checklist-vlm run (2 steps) on checklist-qa rows feeding it."""
    root = tmp_path_factory.mktemp("checklist-vlm")
    pairwise = make_export("aesrm-pairwise", sizes={"train": 8, "validation": 2, "test": 2})
    linear = root / "linear"
    assert main(["train", "--recipe", "checklist-linear", "--data", str(pairwise), "--out", str(linear)]) == 0
    questions = build_checklist_qa_export(root / "qa", clips)
    vlm = root / "vlm"
    assert main(["train", "--recipe", "checklist-vlm", "--data", str(questions), "--out", str(vlm),
                 f"model_path={tiny_model_path}", "stages.sft_steps=2", "optim.batch_size=2",
                 f"checklist_vlm.linear_run={linear}", *TINY_VIDEO]) == 0
    return {"linear": linear, "vlm": vlm, "qa": questions}


def test_checklist_vlm_trains_answers_and_evaluates(checklist_runs):
    vlm = checklist_runs["vlm"]
    metrics = json.loads((vlm / "train_metrics.json").read_text())
    assert metrics["final_step"] == 2 and len(metrics["train_losses"]) == 2
    assert metrics["examples"] == metrics["rows"] == 8  # the builder's rows are balanced already
    assert json.loads((vlm / "checklist_questions.json").read_text())["questions"][0] == {
        "id": "1", "dimension": "Quality", "text": "Is it clear?"
    }
    assert main(["eval", "--run", str(vlm), "--data", str(checklist_runs["qa"]), "--split", "test"]) == 0
    evaluation = json.loads((vlm / "eval" / "test" / "metrics.json").read_text())
    assert evaluation["num_rows"] == 8 and 0.0 <= evaluation["accuracy"] <= 1.0
    assert set(evaluation["dimension_accuracy"]) == {"Quality", "Dynamic"}
    # a random model may answer one way throughout: the balanced accuracy is then exactly 0.5
    assert 0.0 <= evaluation["balanced_accuracy"] <= 1.0
    predictions = [json.loads(line) for line in (vlm / "eval" / "test" / "predictions.jsonl").open()]
    rows = [json.loads(line) for line in (checklist_runs["qa"] / "test.jsonl").open()]
    assert [(p["video_id"], p["question_id"], p["answer"]) for p in predictions] == [
        (row["video_id"], row["question_id"], row["answer"]) for row in rows]
    hits = [(p["p_yes"] > 0.5) == (p["answer"] == "yes") for p in predictions]
    assert evaluation["accuracy"] == pytest.approx(sum(hits) / len(hits))


def test_an_uploaded_video_gets_answers_and_per_dimension_rewards(checklist_runs, clips):
    scorer = ChecklistVideoScorer.from_run(checklist_runs["vlm"])
    assessed = scorer.assess(clips["good"][0], prompt="a cinematic shot")
    # every question of the manifest is asked, the "[[prompt]]" one included; answers are yes/no from P(yes)
    assert set(assessed.answers) == {"1", "2", "3"}
    assert all(0.0 < p < 1.0 for p in assessed.yes_probabilities.values())
    assert assessed.answers == {qid: int(p > 0.5) for qid, p in assessed.yes_probabilities.items()}
    # the rewards are the checklist-linear run's eq. 6 scores of those answers
    linear = ChecklistRewardModel.load(checklist_runs["linear"] / "checklist_weights.json")
    assert assessed.rewards == linear.score(assessed.answers)
    assert set(assessed.rewards) == {"Quality", "Dynamic", "Physics", "overall"}
    assert assessed.rewards["overall"] == pytest.approx(sum(assessed.rewards[d] for d in ("Quality", "Dynamic",
                                                                                            "Physics")))


def test_the_linear_run_must_be_a_trained_checklist_linear_run(checklist_runs, tiny_model_path, tmp_path, capsys):
    code = main(["train", "--recipe", "checklist-vlm", "--data", str(checklist_runs["qa"]), "--out",
                 str(tmp_path / "run"), f"model_path={tiny_model_path}", "stages.sft_steps=1",
                 f"checklist_vlm.linear_run={checklist_runs['vlm']}", *TINY_VIDEO])
    assert code == 2 and "is not a checklist-linear run folder" in capsys.readouterr().err


def test_a_run_without_linear_weights_cannot_score_videos(checklist_runs, tiny_model_path, tmp_path):
    run = tmp_path / "answers-only"
    assert main(["train", "--recipe", "checklist-vlm", "--data", str(checklist_runs["qa"]), "--out", str(run),
                 f"model_path={tiny_model_path}", "stages.sft_steps=1", *TINY_VIDEO]) == 0
    with pytest.raises(ConfigError, match="without checklist_vlm.linear_run"):
        ChecklistVideoScorer.from_run(run)


def test_checklist_vlm_trains_only_the_yes_no_sft_stage():
    from rm_training.config import load_config

    with pytest.raises(ConfigError, match="checklist-vlm trains only yes/no SFT"):
        load_config(None, ["stages.grpo_steps=2"], recipe="checklist-vlm", model_path="m")
