import json

import pytest
import torch

from rm_training.cli import main
from rm_training.config import load_config
from rm_training.export import open_export
from rm_training.recipes.descore import DescoreModel, fit_session, per_video_cots, score_videos
from rm_training.run_dir import RunDir

FAST = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "optim.batch_size=2",
        "optim.learning_rate=2e-3", "descore.eval_cot_tokens=4"]


def _train(export, run, model_path, *extra):
    return main(["train", "--recipe", "descore", "--data", str(export), "--out", str(run),
                 f"model_path={model_path}", *FAST, *extra])


def test_per_video_cot_keeps_each_side_of_the_critique(make_export):
    row = open_export(make_export("cot-sft", sizes={"train": 1, "validation": 1, "test": 1})).rows("train")[0]
    cot_a, cot_b = per_video_cots(row)
    assert cot_a.splitlines()[0] == "VA1 Shot composition: rich moving detail."
    assert cot_b.splitlines()[0] == "VA1 Shot composition: flat colour, nothing happens."


def test_descore_learns_the_pair_preferences_and_evaluates(make_export, tiny_model_path, tmp_path):
    export = make_export("cot-sft", sizes={"train": 8, "validation": 2, "test": 4})
    run = tmp_path / "run"
    assert _train(export, run, tiny_model_path, "stages.sft_steps=12", "save_every=6") == 0
    metrics = json.loads((run / "train_metrics.json").read_text())
    assert metrics["final_step"] == 12
    assert metrics["train_set_loss_after"] < metrics["train_set_loss_before"] - 0.05
    assert metrics["train_set_pair_accuracy"] == 1.0
    assert metrics["validation"]["loss"] is not None
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged] == list(range(1, 13))
    assert all(entry["samples_per_second"] > 0 for entry in logged)
    assert any((run / "tensorboard").iterdir())

    assert main(["eval", "--run", str(run), "--data", str(export), "--split", "test"]) == 0
    evaluation = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert set(evaluation["dimensions"]) == {"VA", "VF", "VP"}
    assert evaluation["dimensions"]["VA"]["swap_consistency"] == 1.0


def _fit_in_process(export_dir, model_path, run, *overrides):
    config = load_config(None, [*FAST, *overrides], recipe="descore", model_path=str(model_path),
                         data=str(export_dir), out=str(run))
    export = open_export(export_dir)
    run_dir = RunDir(run)
    run_dir.start(config, export)
    trainer, data, _ = fit_session(config, export, run_dir)
    videos = [(row["video_a"], row.get("prompt"), "") for row in export.rows("train")]
    return trainer, data, run_dir, videos


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_descore_checkpoint_round_trips_to_identical_rewards(make_export, tiny_model_path, tmp_path, lora):
    export_dir = make_export("aesrm-pairwise", sizes={"train": 4, "validation": 1, "test": 1})
    extra = ["lora_rank=4"] if lora else []
    trainer, data, run_dir, videos = _fit_in_process(export_dir, tiny_model_path, tmp_path / "run",
                                                     "stages.sft_steps=2", *extra)
    in_memory = score_videos(trainer.unwrapped, data, videos)
    reloaded, _ = DescoreModel.load(run_dir.last_checkpoint(), base_path=str(tiny_model_path))
    assert torch.equal(score_videos(reloaded, data, videos), in_memory)


def test_descore_resume_continues_the_step_count(make_export, tiny_model_path, tmp_path):
    export = make_export("aesrm-pairwise", sizes={"train": 4, "validation": 1, "test": 1})
    run = tmp_path / "run"
    assert _train(export, run, tiny_model_path, "stages.sft_steps=2", "save_every=1") == 0
    assert _train(export, run, tiny_model_path, "stages.sft_steps=4", "save_every=1") == 0
    logged = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4]
    assert json.loads((RunDir(run).last_checkpoint() / "state.json").read_text())["step"] == 4
    assert len(json.loads((run / "run.json").read_text())["starts"]) == 2


def test_descore_with_ties_uses_the_rao_kupper_loss(make_export, tiny_model_path, tmp_path):
    export = make_export("aesrm-pairwise", sizes={"train": 8, "validation": 1, "test": 1}, with_ties=True)
    run = tmp_path / "run"
    assert _train(export, run, tiny_model_path, "stages.sft_steps=8", "descore.ties=true") == 0
    metrics = json.loads((run / "train_metrics.json").read_text())
    assert metrics["train_set_loss_after"] < metrics["train_set_loss_before"] - 0.03


def test_same_seed_gives_the_same_run(make_export, tiny_model_path, tmp_path):
    export = make_export("aesrm-pairwise", sizes={"train": 4, "validation": 1, "test": 1})
    for name in ("first", "second"):
        assert _train(export, tmp_path / name, tiny_model_path, "stages.sft_steps=2") == 0
    first, second = (json.loads((tmp_path / name / "train_metrics.json").read_text()) for name in ("first", "second"))
    assert first["train_losses"] == second["train_losses"]
