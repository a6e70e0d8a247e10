import json
import math

import pytest
import torch

from rm_training.cli import main
from rm_training.config import ConfigError, load_config
from rm_training.data import IGNORE_INDEX, DataError, EncodedSequence, collate
from rm_training.export import open_export
from rm_training.modeling import model_inputs
from rm_training.recipes.descore import (
    DescoreModel,
    build,
    fit_session,
    hidden_reasoning_mask,
    own_reasoning_metrics,
    per_video_cots,
    predict,
    reasoning_rewards,
    score_videos,
)
from rm_training.run_dir import RunDir

FAST = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "optim.batch_size=2",
        "optim.learning_rate=2e-3", "descore.eval_cot_tokens=4"]
POISON = "<think>\nVA1 Shot composition: A: POISON best ever. B: POISON worst ever. Verdict: 1\n</think>\n" \
         "<answer>VA: 1, VF: 1, VP: 1</answer>"


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


# --- the pieces: reasoning SFT target, per-sequence masking, RL rewards ------------------------------


def _config(model_path, *overrides):
    return load_config(None, [*FAST, *overrides], recipe="descore", model_path=str(model_path))


def test_the_reasoning_sft_target_is_the_videos_reasoning_and_nothing_else(make_export, tiny_model_path):
    export = open_export(make_export("cot-sft", sizes={"train": 1, "validation": 1, "test": 1}))
    _, tokenizer, data = build(_config(tiny_model_path), export, tiny_model_path)
    row = export.rows("train")[0]
    cot_a, _ = per_video_cots(row)

    example = data.reasoning_example(row["video_a"], None, cot_a)

    expected = tokenizer(cot_a, add_special_tokens=False)["input_ids"] + [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    targets = [label for label in example.labels if label != IGNORE_INDEX]
    assert targets == expected
    assert example.labels[-len(expected):] == expected
    assert set(example.labels[:-len(expected)]) == {IGNORE_INDEX}


def _sequence(length: int, span: tuple[int, int]) -> EncodedSequence:
    return EncodedSequence(input_ids=[0] * length, labels=[IGNORE_INDEX] * length, videos=[],
                           completion_start=length, cot_span=span)


def test_masking_hides_a_whole_reasoning_with_probability_p_per_sequence():
    """4,000 sequences with reasoning at tokens 3..8 of 10, p = 0.3: a row is all ones on 3..8 or all zeros,
    never anything outside the span; the hidden share is 0.3 within 0.025 (3.5 standard errors of
    sqrt(0.3 x 0.7 / 4000) = 0.0072). A sequence without reasoning is never masked."""
    generator = torch.Generator().manual_seed(0)
    sequences = [_sequence(10, (3, 8))] * 4000 + [_sequence(10, (5, 5))] * 100
    mask = hidden_reasoning_mask(sequences, 12, 0.3, generator)

    hidden_rows = mask[:4000].sum(dim=1)
    assert set(hidden_rows.tolist()) == {0, 5}  # 5 ones on a 5-token span: the whole span
    assert mask[:, :3].sum() == 0 and mask[:, 8:].sum() == 0
    assert abs(float((hidden_rows == 5).float().mean()) - 0.3) < 0.025
    assert mask[4000:].sum() == 0
    assert hidden_reasoning_mask(sequences[:50], 12, 0.0, generator).sum() == 0


def test_a_hidden_reasoning_keeps_the_reward_token_in_place_and_is_invisible_to_the_score(
        make_export, tiny_model_path):
    export = open_export(make_export("cot-sft", sizes={"train": 1, "validation": 1, "test": 1}))
    model, tokenizer, data = build(_config(tiny_model_path), export, tiny_model_path)
    model.eval()
    row = export.rows("train")[0]
    original = data.sequence(row["video_a"], None, per_video_cots(row)[0])
    start, end = original.cot_span
    assert end - start > 3
    # the same sequence with other reasoning tokens of the same length
    other_ids = list(original.input_ids)
    other_ids[start:end] = [tokenizer.convert_tokens_to_ids("<|endoftext|>")] * (end - start)
    other = EncodedSequence(other_ids, list(original.labels), original.videos, original.completion_start,
                            original.cot_span)

    shown = data.batch([original, other])
    hidden = data.batch([original, other])
    hidden["hidden_tokens"] = hidden_reasoning_mask([original, other], shown["input_ids"].shape[1], 1.0)

    reward_id = tokenizer.convert_tokens_to_ids("[Reward]")
    assert torch.equal(hidden["reward_positions"], shown["reward_positions"])
    assert hidden["input_ids"][0, hidden["reward_positions"][0]] == reward_id
    inputs_hidden, inputs_shown = model.backbone_inputs(hidden), model.backbone_inputs(shown)
    rope_shown, _ = model.vlm.model.get_rope_index(shown["input_ids"], shown["mm_token_type_ids"],
                                                   video_grid_thw=shown["video_grid_thw"],
                                                   second_per_grid_ts=shown["second_per_grid_ts"],
                                                   attention_mask=shown["attention_mask"])
    assert torch.equal(inputs_hidden["position_ids"], rope_shown)
    assert "position_ids" not in inputs_shown
    assert inputs_hidden["attention_mask"][0, start:end].sum() == 0
    assert inputs_hidden["attention_mask"][0, :start].all() and inputs_hidden["attention_mask"][0, end:].all()

    with torch.no_grad():
        rewards_shown, rewards_hidden = model(shown), model(hidden)
    assert not torch.allclose(rewards_shown[0], rewards_shown[1])
    assert torch.allclose(rewards_hidden[0], rewards_hidden[1], atol=1e-6)


def test_both_passes_give_every_trainable_parameter_a_gradient(make_export, tiny_model_path):
    """DDP fails at the next step when a trainable parameter got no gradient: the reward pass never reaches the
    LM head and the reasoning SFT pass never reaches the reward head, so each touches the other at weight 0."""
    export = open_export(make_export("cot-sft", sizes={"train": 1, "validation": 1, "test": 1}))
    model, tokenizer, data = build(_config(tiny_model_path), export, tiny_model_path)
    row = export.rows("train")[0]
    cot = per_video_cots(row)[0]
    lm_head = model.vlm.get_output_embeddings().weight
    assert lm_head.data_ptr() != model.vlm.get_input_embeddings().weight.data_ptr()  # untied, as in Qwen2.5-VL-7B

    model(data.batch([data.sequence(row["video_a"], None, cot)])).sum().backward()
    assert all(parameter.grad is not None for parameter in model.parameters())
    assert torch.count_nonzero(lm_head.grad) == 0

    model.zero_grad(set_to_none=True)
    batch = collate([data.reasoning_example(row["video_a"], None, cot)], tokenizer.pad_token_id,
                    data.encoder.video_token_id)
    model(**model_inputs(batch), labels=batch["labels"]).loss.backward()
    assert all(parameter.grad is not None for parameter in model.parameters())
    assert torch.count_nonzero(model.head.weight.grad) == 0


def test_reasoning_rewards_are_the_bt_probability_of_the_label_against_every_other_reasoning(tiny_model_path):
    """One pair, K = 2, labels VA: A, VF: B, VP: tie (left out by BT). Rewards (VA, VF, VP):
    A's reasonings give (ln 3, 0, 5) and (0, 0, 5); B's give (0, ln 3, -2) and (0, 0, -2).
    sigmoid(ln 3) = 0.75, sigmoid(0) = 0.5.
    A0: VA 0.75 vs both B -> 0.75, 0.75; VF: sigmoid(b - a) = 0.75 (B0), 0.5 (B1) -> (0.75+0.75+0.75+0.5)/4 = 0.6875
    A1: VA 0.5, 0.5; VF 0.75, 0.5 -> 2.25 / 4 = 0.5625
    B0: VA vs A0 0.75, vs A1 0.5; VF 0.75, 0.75 -> 0.6875;  B1: VA 0.75, 0.5; VF 0.5, 0.5 -> 0.5625."""
    ln3 = math.log(3)
    rewards_a = torch.tensor([[[ln3, 0.0, 5.0], [0.0, 0.0, 5.0]]])
    rewards_b = torch.tensor([[[0.0, ln3, -2.0], [0.0, 0.0, -2.0]]])
    outcomes = torch.tensor([[1, -1, 0]])
    per_a, per_b = reasoning_rewards(rewards_a, rewards_b, outcomes, _config(tiny_model_path))
    assert per_a[0].tolist() == pytest.approx([0.6875, 0.5625])
    assert per_b[0].tolist() == pytest.approx([0.6875, 0.5625])

    all_ties = reasoning_rewards(rewards_a, rewards_b, torch.tensor([[0, 0, 0]]), _config(tiny_model_path))
    assert all(torch.equal(side, torch.zeros(1, 2)) for side in all_ties)


def test_with_ties_the_reasoning_reward_is_the_rao_kupper_probability_of_the_label(tiny_model_path):
    """theta = 2 (log theta = ln 2), K = 1, rewards A (ln 2, 0, 0), B (0, 0, 0), labels A, tie, B:
    P(A > B) = sigmoid(ln 2 - ln 2) = 1/2; P(tie | equal) = (4 - 1) / ((1 + 2)(2 + 1)) = 1/3;
    P(B > A) = sigmoid(0 - ln 2) = 1/3; the mean is (1/2 + 1/3 + 1/3) / 3 = 7/18 for either video."""
    config = _config(tiny_model_path, "descore.ties=true", f"descore.tie_log_theta={math.log(2)}")
    per_a, per_b = reasoning_rewards(torch.tensor([[[math.log(2), 0.0, 0.0]]]), torch.zeros(1, 1, 3),
                                     torch.tensor([[1, 0, -1]]), config)
    assert per_a.item() == pytest.approx(7 / 18) and per_b.item() == pytest.approx(7 / 18)


# --- the three stages ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_stage_run(make_export, tiny_model_path, tmp_path_factory):
    """reasoning SFT (3 steps) -> BT (2) -> dual RL (2), LoRA, a checkpoint every step, trained in process."""
    export_dir = make_export("cot-sft", sizes={"train": 4, "validation": 2, "test": 2})
    run = tmp_path_factory.mktemp("descore-three-stages") / "run"
    config = load_config(None, [*FAST, "lora_rank=4", "stages.reasoning_steps=3", "stages.sft_steps=2",
                                "stages.grpo_steps=2", "grpo.num_generations=2", "grpo.max_new_tokens=4",
                                "save_every=1", "keep_checkpoints=10"],
                         recipe="descore", model_path=str(tiny_model_path), data=str(export_dir), out=str(run))
    export = open_export(export_dir)
    run_dir = RunDir(run)
    run_dir.start(config, export)
    torch.manual_seed(config.seed)
    trainer, data, metrics = fit_session(config, export, run_dir)
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {"trainer": trainer, "data": data, "metrics": metrics, "logged": logged, "run": run_dir,
            "export": export, "config": config}


def test_the_stages_run_in_order_reasoning_then_bt_then_dual_rl(three_stage_run):
    logged = three_stage_run["logged"]
    assert [entry["stage"] for entry in logged] == ["reasoning"] * 3 + ["bt"] * 2 + ["grpo"] * 2
    assert [entry["step"] for entry in logged] == list(range(1, 8))
    assert all(entry["reasoning/target_tokens"] > 0 for entry in logged[:3])
    for entry in logged[5:]:
        assert 0.0 <= entry["grpo/reward_mean"] <= 1.0
        assert entry["grpo/bt_loss"] > 0
        assert entry["grpo/loss"] == pytest.approx(entry["grpo/policy_loss"] + entry["grpo/bt_loss"], abs=1e-5)


def test_the_dual_rl_stage_is_anchored_to_the_policy_as_it_starts(three_stage_run):
    """The default grpo.reference=start: the reasoning and BT stages' weights, written once as the RL stage
    starts (the LoRA adapter with its [Reward] row and head), merged and frozen; so the first RL step's KL is 0."""
    first_rl_step = three_stage_run["logged"][5]
    assert first_rl_step["stage"] == "grpo" and first_rl_step["grpo/kl"] == pytest.approx(0.0, abs=1e-6)
    anchored = three_stage_run["run"].path / "grpo-reference"
    assert (anchored / "adapter_config.json").is_file() and (anchored / "reward_head.pt").is_file()
    after_bt = torch.load(three_stage_run["run"].checkpoint_path(5) / "reward_head.pt")
    assert torch.equal(torch.load(anchored / "reward_head.pt")["weight"], after_bt["weight"])


def test_the_reasoning_stage_trains_the_language_model_and_leaves_the_head_alone(three_stage_run):
    run = three_stage_run["run"]

    def head(step):
        return torch.load(run.checkpoint_path(step) / "reward_head.pt")["weight"]

    def adapter(step):
        from safetensors.torch import load_file

        return load_file(str(run.checkpoint_path(step) / "adapter_model.safetensors"))

    assert torch.equal(head(1), head(2)) and torch.equal(head(2), head(3))
    assert any(not torch.equal(adapter(1)[key], adapter(3)[key]) for key in adapter(1) if "lora" in key)
    assert not torch.equal(head(3), head(4))  # the first BT step moves the head
    assert not torch.equal(head(5), head(7))  # and the dual RL stage keeps training it


def test_validation_scores_the_models_own_reasoning(three_stage_run):
    trainer, data, config = three_stage_run["trainer"], three_stage_run["data"], three_stage_run["config"]
    validation_rows = three_stage_run["export"].rows("validation")
    assert three_stage_run["metrics"]["validation"] == own_reasoning_metrics(trainer, data, validation_rows, config)


def _poisoned(rows):
    poisoned = json.loads(json.dumps(rows))
    for row in poisoned:
        row["messages"][-1]["content"] = [{"type": "text", "text": POISON}]
    return poisoned


def test_evaluation_never_reads_the_export_critique(three_stage_run):
    """A row whose critique is poison text gives the same scores and reasoning, in validation and in predict."""
    trainer, data, config = three_stage_run["trainer"], three_stage_run["data"], three_stage_run["config"]
    rows = three_stage_run["export"].rows("test")
    assert per_video_cots(_poisoned(rows)[0])[0].startswith("VA1 Shot composition: POISON")

    assert own_reasoning_metrics(trainer, data, _poisoned(rows), config) == own_reasoning_metrics(
        trainer, data, rows, config)
    clean = predict(three_stage_run["run"], three_stage_run["export"], rows)
    assert predict(three_stage_run["run"], three_stage_run["export"], _poisoned(rows)) == clean
    assert all(len(prediction["reasoning_a"]) > 0 for prediction in clean)


def test_the_reasoning_stage_needs_critiques(make_export, tiny_model_path, tmp_path):
    export = make_export("aesrm-pairwise", sizes={"train": 2, "validation": 1, "test": 1})
    config = load_config(None, [*FAST, "stages.reasoning_steps=1"], recipe="descore",
                         model_path=str(tiny_model_path), data=str(export), out=str(tmp_path / "run"))
    run_dir = RunDir(tmp_path / "run")
    run_dir.start(config, open_export(export))
    with pytest.raises(DataError, match="stages.reasoning_steps > 0 needs critiques"):
        fit_session(config, open_export(export), run_dir)


# --- config ---------------------------------------------------------------------------------------------


def test_the_dual_rl_stage_is_configurable_and_its_settings_are_checked(tiny_model_path):
    config = _config(tiny_model_path, "stages.reasoning_steps=5", "stages.sft_steps=7", "stages.grpo_steps=3",
                     "descore.rl_bt_weight=0.5")
    assert config.total_steps == 15 and config.descore.rl_bt_weight == 0.5
    refused = {
        "descore.rl_bt_weight=-1": "rl_bt_weight must be >= 0",
        "descore.cot_mask_probability=1": r"cot_mask_probability must be in \[0, 1\)",
        "stages.atomic_steps=1": "descore has no atomic stage",
    }
    for override, message in refused.items():
        with pytest.raises(ConfigError, match=message):
            _config(tiny_model_path, override)
    with pytest.raises(ConfigError, match="use_cot=false scores the video alone"):
        _config(tiny_model_path, "descore.use_cot=false", "stages.grpo_steps=1")
    with pytest.raises(ConfigError, match="reasoning_steps is descore's stage 1 only"):
        load_config(None, ["stages.reasoning_steps=1"], recipe="aesrm-cot", model_path=str(tiny_model_path))
