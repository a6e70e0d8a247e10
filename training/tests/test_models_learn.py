"""The reward models learn what simulated experts prefer (a reduced `benchmarks/learning.py`).

Six lavfi scenes, each clean and with three degradations (four clips, six pairs per scene: 36 pairs), are
judged by three simulated experts: checklist answers follow the clips' degradations, verdicts a planted
linear model of the answers, with 10% verdict noise (fixtures/learning_data.py). The campaign goes through
the app's services (manifest ingest, judgments import, export snapshots split by prompt, so the held-out
scenes are unseen in training), and rm_training trains from its command line, on a small random
Qwen2.5-VL, from those folders. Only what is reliable at this size with fixed seeds is asserted.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures.learning_data import learning_clips_generate, planted_checklist
from rm_training.experiment import checklist_recovery, run_recipe, stage_metric
from rm_training.tiny import save_tiny_qwen2_5_vl
from training.learning_experiment import learning_campaign_build, learning_exports_build

NOISE = 0.1
VIDEO = ["video.fps=2", "video.max_frames=4", "video.max_pixels=6272", "video.min_pixels=3136"]
SPLIT = (0.5, 0.17, 0.33)  # six scenes: three train, one validation, two test


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return learning_clips_generate(tmp_path_factory.mktemp("learning-clips"), scenes=6, degradations=3, seconds=1.0,
                                   width=112, height=64, fps=8, seed=0)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    return save_tiny_qwen2_5_vl(tmp_path_factory.mktemp("learning-model"), seed=0, hidden_size=64, num_layers=2)


@pytest.fixture(scope="module")
def built_exports() -> dict:
    return {}


@pytest.fixture
def learning_data(clips, built_exports, db, django_capture_on_commit_callbacks, tmp_path_factory):
    """The export folders, built by the first test that asks (its rows are rolled back with it; the folders,
    all that rm_training reads, stay for the module's other tests)."""
    if "data" not in built_exports:
        planted = planted_checklist(seed=0)
        with django_capture_on_commit_callbacks(execute=True):  # proxies are made after commit
            campaign = learning_campaign_build(clips=clips, planted=planted, name="learning", noise=NOISE, seed=0)
        built_exports["data"] = learning_exports_build(
            campaign=campaign, planted=planted, out_dir=tmp_path_factory.mktemp("learning-exports"),
            formats=("aesrm-pairwise", "aesrm-base-sft"), split=SPLIT, seed=0,
        )
    return built_exports["data"]


def _rows(folder, splits=("train", "validation", "test")) -> list[dict]:
    return [json.loads(line) for split in splits for line in (folder / f"{split}.jsonl").read_text().splitlines()]


def test_exported_labels_follow_the_degradations_and_test_scenes_are_unseen(learning_data, clips):
    folder = learning_data.exports["aesrm-pairwise"]
    rows = _rows(folder)
    # pairs whose three experts all disagree on a dimension wait for a curator's adjudication and are left out
    assert len(clips.expected) == 36 and 30 <= len(rows) <= 36
    code = {1: "A", -1: "B", 0: "tie"}
    cells = [row["labels"][d] == code[clips.expected[row["pair_id"]][d]] for row in rows for d in ("VA", "VF", "VP")]
    # the planted model lets two alike clips differ now and then, and experts err 10% of the time; a label
    # drawn at random would match one time in three
    assert np.mean(cells) > 0.6
    scenes = {split: {clips.scene_of[row["pair_id"]] for row in _rows(folder, (split,))}
              for split in ("train", "validation", "test")}
    assert not scenes["test"] & scenes["train"] and not scenes["test"] & scenes["validation"]
    assert len(scenes["test"]) == 2


def test_checklist_linear_puts_its_weight_on_the_questions_the_planted_model_weights(learning_data, tmp_path):
    run = tmp_path / "checklist"
    run_recipe("checklist-linear", "checklist-linear", learning_data.exports["aesrm-pairwise"], run,
               [])
    fitted = json.loads((run / "checklist_weights.json").read_text())
    planted = json.loads(learning_data.planted_path.read_text())
    assert fitted["weights"], "no fitted weight vector"
    # With ~18 training pairs for 64 questions the weights are only roughly found (the benchmark measures the
    # correlation on 144 pairs); what holds already: the one weight vector (VisionReward eq. 6) leans on the
    # questions w* weights.
    vector = fitted["weights"]
    weighted = [planted["weights"][q] > 0 for q in fitted["question_ids"]]
    on_planted = np.mean([w for w, keep in zip(vector, weighted, strict=True) if keep])
    elsewhere = np.mean([w for w, keep in zip(vector, weighted, strict=True) if not keep])
    assert on_planted > elsewhere, (on_planted, elsewhere)
    assert set(checklist_recovery(run / "checklist_weights.json", learning_data.planted_path)) == {"overall"}


def test_descore_fits_its_training_pairs_and_is_measured_on_held_out_scenes(learning_data, small_model, tmp_path):
    """What holds at this size: the BT head fits the training pairs. Preferring the undegraded video on unseen
    scenes takes more data than a test can train on: the benchmark shows it at 1,216 pairs (0.67-0.74 over all
    cells in three seeds, rm_training/README); the test pins that the held-out measurement runs on decided pairs,
    not that it beats chance."""
    result = run_recipe(
        "descore", "descore", learning_data.exports["aesrm-pairwise"], tmp_path / "descore",
        [f"model_path={small_model}", *VIDEO, "optim.batch_size=4", "optim.learning_rate=1e-3",
         "stages.sft_steps=30", "descore.use_cot=false", "descore.eval_cot_tokens=0", "save_every=1000"],
    )
    train = json.loads((tmp_path / "descore" / "train_metrics.json").read_text())
    assert train["train_set_loss_after"] < train["train_set_loss_before"]
    for dimension, (accuracy, low, high, count) in result.accuracy.items():
        assert count >= 5 and 0.0 <= low <= accuracy <= high <= 1.0, (dimension, result.accuracy)


def test_cold_start_learns_the_answers_and_grpo_continues_from_it(learning_data, small_model, tmp_path):
    """The format reward > 0.9 after the cold start is NOT asserted: a base answer is ~65 tokens of the tiny
    tokenizer and 30 steps leave greedy answers looping (the benchmark's 3,000 steps reach 1.00); what holds at this
    size is that the cold start learns the answers (teacher-forced loss) and GRPO runs from its checkpoint."""
    data = learning_data.exports["aesrm-base-sft"]
    common = [f"model_path={small_model}", *VIDEO, "grpo.max_new_tokens=80", "stages.atomic_steps=0", "save_every=1000"]
    run_recipe("cold start", "aesrm-base", data, tmp_path / "sft",
               [*common, "optim.batch_size=4", "optim.learning_rate=2e-3", "stages.sft_steps=30"], evaluate=False)
    train = json.loads((tmp_path / "sft" / "train_metrics.json").read_text())
    assert train["sft_set_loss_after"] < train["sft_set_loss_before"] / 2, train

    run_recipe("grpo", "aesrm-base", data, tmp_path / "grpo",
               [*common, "optim.batch_size=2", "optim.learning_rate=2e-3", "stages.sft_steps=30",
                "stages.grpo_steps=2", "grpo.num_generations=4"],
               continue_from=tmp_path / "sft", evaluate=False)
    rewards = stage_metric(tmp_path / "grpo", "grpo/reward_mean")
    # format (0 or 1) + accuracy (share of three verdicts) per completion, averaged over the group
    assert len(rewards) == 2 and all(0.0 <= reward <= 2.0 for reward in rewards)
