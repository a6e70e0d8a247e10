"""Which models the playground offers for two uploaded videos: those that look at the videos themselves."""

from training.judging import uploads_refused_because


def test_models_that_look_at_the_videos_judge_uploads(tmp_path):
    for recipe in ("descore", "aesrm-base", "aesrm-cot"):
        assert uploads_refused_because(recipe=recipe, run_dir=tmp_path) is None


def test_a_checklist_linear_model_is_refused_uploads_because_it_scores_the_experts_checklist_answers(tmp_path):
    reason = uploads_refused_because(recipe="checklist-linear", run_dir=tmp_path)

    assert reason.startswith("a checklist-linear model scores the experts' checklist answers of each video")


def test_a_checklist_vlm_run_judges_uploads_only_with_the_checklist_linear_weights_it_was_trained_to_feed(tmp_path):
    without_weights = uploads_refused_because(recipe="checklist-vlm", run_dir=tmp_path)
    assert "trained without checklist_vlm.linear_run" in without_weights

    (tmp_path / "checklist_weights.json").write_text("{}")  # what checklist_vlm.linear_run copies into the run

    assert uploads_refused_because(recipe="checklist-vlm", run_dir=tmp_path) is None
