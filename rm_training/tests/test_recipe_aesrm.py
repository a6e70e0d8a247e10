import json

import pytest
import torch

from rm_training.cli import main
from rm_training.config import GRPOConfig
from rm_training.export import open_export
from rm_training.grpo import GRPOUpdates, completion_logprobs, completion_mask_after, repeat_batch, sample
from rm_training.recipes.aesrm import atomic_examples, rule_reward

FAST = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "optim.batch_size=2",
        "optim.learning_rate=3e-3", "grpo.max_new_tokens=12", "grpo.num_generations=2"]


def _train(recipe, export, run, model_path, *extra):
    return main(["train", "--recipe", recipe, "--data", str(export), "--out", str(run),
                 f"model_path={model_path}", *FAST, *extra])


def _asked(messages: list[dict]) -> tuple[list[str], str]:
    """(videos in the prompt, the question text) of an atomic prompt."""
    parts = [part for message in messages for part in message["content"]]
    return [part["video"] for part in parts if part["type"] == "video"], parts[-1]["text"]


def test_atomic_examples_ask_yes_no_questions_about_one_video_each():
    """A hand-made aesrm-base-sft row: a.mp4 is stable but not sharp, b.mp4 sharp; Video A has a severe
    violation in VP. Expected, in order: a's two checklist answers, b's one, then VP's severe question for
    each video (yes for a, no for b). The criterion labels (pair facts) are not asked again, and the second
    row, the same pair swapped, asks nothing new."""
    row = {
        "video_a": "a.mp4", "video_b": "b.mp4", "labels": {"VA": "A", "VF": "B", "VP": "B"},
        "criteria": {"VA1": 1, "VF1": -1, "VP1": 0},
        "severe": {"A": {"VA": False, "VF": False, "VP": True}, "B": {"VA": False, "VF": False, "VP": False}},
        "checklist_answers_a": [{"question_id": 1, "question": "Is the camera stable?", "answer": "yes"},
                                {"question_id": 2, "question": "Is the video sharp?", "answer": "no"}],
        "checklist_answers_b": [{"question_id": 2, "question": "Is the video sharp?", "answer": "yes"}],
    }
    swapped = {**row, "video_a": "b.mp4", "video_b": "a.mp4",
               "severe": {"A": row["severe"]["B"], "B": row["severe"]["A"]},
               "checklist_answers_a": row["checklist_answers_b"], "checklist_answers_b": row["checklist_answers_a"]}
    examples = atomic_examples([row, swapped])
    asked = [(*_asked(messages), answer) for messages, answer in examples]
    assert asked == [
        (["a.mp4"], "Is the camera stable? Answer Yes or No.", "Yes"),
        (["a.mp4"], "Is the video sharp? Answer Yes or No.", "No"),
        (["b.mp4"], "Is the video sharp? Answer Yes or No.", "Yes"),
        (["a.mp4"], "Does this video have a severe violation in visual plausibility? Answer Yes or No.", "Yes"),
        (["b.mp4"], "Does this video have a severe violation in visual plausibility? Answer Yes or No.", "No"),
    ]
    assert all([m["role"] for m in messages] == ["system", "user"] for messages, _ in examples)


def test_a_grpo_prompt_from_rl_prompts_is_the_sft_prompt_of_the_same_pair():
    """rl-prompts pair rows carry the AesRM-CoT prompt; asked in the Base style the same pair gets exactly the
    aesrm-base-sft row's prompt, and in the CoT style the cot-sft row's (one builder for both)."""
    from rm_training.data import prompt_messages
    from rm_training.prompts import pair_prompt_for_style
    from rm_training.recipes.aesrm import grpo_prompt_messages

    pair = {"prompt": "a red kite over dunes", "video_a": "media/a.mp4", "video_b": "media/b.mp4"}
    rl_row = {"pair_id": "p1", "kind": "pair", "video_a": pair["video_a"], "video_b": pair["video_b"],
              "messages": pair_prompt_for_style("cot", **pair)}
    for style in ("base", "cot"):
        sft_messages = pair_prompt_for_style(style, **pair) + [
            {"role": "assistant", "content": [{"type": "text", "text": "answer"}]}
        ]
        assert grpo_prompt_messages(rl_row, style) == prompt_messages(sft_messages)
    assert "Output only one sentence" in grpo_prompt_messages(rl_row, "base")[1]["content"][0]["text"]


def test_a_grpo_prompt_row_without_its_generation_prompt_is_refused():
    from rm_training.data import DataError
    from rm_training.recipes.aesrm import grpo_prompt_messages

    row = {"pair_id": "p1", "video_a": "a", "video_b": "b",
           "messages": [{"role": "user", "content": [{"type": "text", "text": "Compare."}]}]}
    with pytest.raises(DataError, match="generation prompt"):
        grpo_prompt_messages(row, "cot")


def test_rule_reward_adds_format_accuracy_process_and_consistency_terms():
    """Labels all A, criteria VA1 = 1. CoT answer: format 1 + accuracy 1/3 (only VA right)
    + process 1 (VA1 verdict 1 matches) + consistency 2/3 (VA 1 follows VA1; VF 0 follows no criterion;
    VP -1 contradicts no criterion, which implies 0) = 3.0 with unit weights. With the row's severe flag on
    Video A in VA the VA label becomes B: accuracy 0 -> 2.666667."""
    from rm_training.config import TrainConfig

    config = TrainConfig(recipe="aesrm-cot", model_path="m")
    text = ("<think>\nVA1 Shot composition: A: good. B: bad. Verdict: 1\n</think>\n"
            "<answer>VA: 1, VF: 0, VP: -1</answer>")
    row = {"labels": {"VA": "A", "VF": "A", "VP": "A"}, "criteria": {"VA1": 1}}
    assert abs(rule_reward(text, row, config) - 3.0) < 1e-9
    flagged = {**row, "severe": {"A": {"VA": True}, "B": {}}}
    assert abs(rule_reward(text, flagged, config) - (2 + 2 / 3)) < 1e-9
    config.grpo.consistency_weight = 0.0
    assert abs(rule_reward(text, row, config) - (2 + 1 / 3)) < 1e-9
    assert rule_reward("nonsense", row, config) == 0.0


def test_completion_mask_stops_after_the_first_eos():
    generated = torch.tensor([[5, 5, 7, 9, 1, 7], [5, 5, 1, 7, 7, 7]])
    mask = completion_mask_after(generated, prompt_length=2, eos_token_id=1)
    assert mask.tolist() == [[0, 0, 1, 1, 1, 0], [0, 0, 1, 0, 0, 0]]


def test_aesrm_base_runs_atomic_sft_and_grpo_and_the_sft_loss_falls(make_export, tiny_model_path, tmp_path):
    export = make_export("aesrm-base-sft", sizes={"train": 4, "validation": 1, "test": 2})
    run = tmp_path / "run"
    code = _train("aesrm-base", export, run, tiny_model_path,
                  "stages.atomic_steps=2", "stages.sft_steps=10", "stages.grpo_steps=2")
    assert code == 0
    metrics = json.loads((run / "train_metrics.json").read_text())
    assert metrics["final_step"] == 14
    assert metrics["sft_set_loss_after"] < metrics["sft_set_loss_before"] - 0.5
    assert metrics["validation_sft_loss"] < metrics["sft_set_loss_before"]
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["stage"] for entry in logged] == ["atomic"] * 2 + ["sft"] * 10 + ["grpo"] * 2
    grpo = [entry for entry in logged if entry["stage"] == "grpo"]
    assert all("grpo/reward_mean" in entry and "grpo/kl" in entry for entry in grpo)
    # the format reward (weight 1) is one of the reward's non-negative terms: its share can't exceed the mean
    assert all(0.0 <= entry["grpo/format_share"] <= entry["grpo/reward_mean"] + 1e-6 for entry in grpo)
    # aesrm-base's reward is exactly its two weight-1 parts, format and accuracy, each logged on its own
    assert all(entry["grpo/format_share"] + entry["grpo/accuracy_share"] == pytest.approx(entry["grpo/reward_mean"])
               for entry in grpo)

    assert main(["eval", "--run", str(run), "--data", str(export), "--split", "test"]) == 0
    evaluation = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert evaluation["num_pairs"] == 2
    assert "left_preference_rate" in evaluation["dimensions"]["VA"]


def test_a_start_reference_anchors_grpo_to_the_cold_start_weights_not_to_the_base(make_export, tiny_model_path,
                                                                                   tmp_path):
    """grpo.reference=start: the KL penalty's reference is the policy as the GRPO stage starts, so at the first
    GRPO step the policy and its reference are the same weights (KL 0), while the base model differs from the
    cold-started policy (KL > 0). The reference is written once to the run folder: the last SFT step's weights."""
    from safetensors.torch import load_file

    export = make_export("aesrm-base-sft", sizes={"train": 4, "validation": 1, "test": 1})
    first_kl = {}
    for reference in ("start", "base"):
        run = tmp_path / reference
        assert _train("aesrm-base", export, run, tiny_model_path, "stages.sft_steps=4", "stages.grpo_steps=1",
                      "grpo.kl_beta=0.1", f"grpo.reference={reference}", "save_every=4") == 0
        logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        first_kl[reference] = next(entry["grpo/kl"] for entry in logged if entry["stage"] == "grpo")
    assert first_kl["start"] == pytest.approx(0.0, abs=1e-7)
    assert first_kl["base"] > 1e-4
    anchored = load_file(tmp_path / "start" / "grpo-reference" / "model.safetensors")
    after_sft = load_file(tmp_path / "start" / "checkpoints" / "step-000004" / "model.safetensors")
    assert anchored.keys() == after_sft.keys()
    assert all(torch.equal(anchored[name], after_sft[name]) for name in anchored)
    assert not (tmp_path / "base" / "grpo-reference").exists()


def test_a_lora_policy_s_start_reference_is_its_adapter_merged_into_the_base(make_export, tiny_model_path, tmp_path):
    """With LoRA the start reference is the cold-started adapter merged into the base model: still KL 0 at the
    first GRPO step (the base alone, the default reference, is not the cold-started policy)."""
    export = make_export("aesrm-base-sft", sizes={"train": 4, "validation": 1, "test": 1})
    run = tmp_path / "run"
    assert _train("aesrm-base", export, run, tiny_model_path, "stages.sft_steps=4", "stages.grpo_steps=1",
                  "grpo.kl_beta=0.1", "grpo.reference=start", "lora_rank=4") == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert next(entry["grpo/kl"] for entry in logged if entry["stage"] == "grpo") == pytest.approx(0.0, abs=1e-6)
    assert (run / "grpo-reference" / "adapter_config.json").is_file()


def test_aesrm_cot_resumes_into_the_grpo_stage(make_export, tiny_model_path, tmp_path):
    export = make_export("cot-sft", sizes={"train": 2, "validation": 1, "test": 1})
    run = tmp_path / "run"
    assert _train("aesrm-cot", export, run, tiny_model_path, "stages.sft_steps=2", "save_every=1") == 0
    assert _train("aesrm-cot", export, run, tiny_model_path, "stages.sft_steps=2", "stages.grpo_steps=1",
                  "save_every=1") == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(entry["step"], entry["stage"]) for entry in logged] == [(1, "sft"), (2, "sft"), (3, "grpo")]
    assert main(["eval", "--run", str(run), "--data", str(export), "--split", "test"]) == 0
    evaluation = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert set(evaluation["criteria_accuracy"]) == {"VA1", "VA2", "VF1", "VP1"}


def test_a_grpo_update_raises_the_likelihood_of_the_better_completion(make_export, tiny_model_path):
    """Two sampled answers to one prompt with rewards (1, 0): advantages (+1, -1). One SGD step on
    the GRPO loss (no KL) must raise the log-likelihood of the first answer relative to the second."""
    from rm_training.config import TrainConfig
    from rm_training.data import collate, prompt_messages
    from rm_training.recipes.aesrm import build

    export = open_export(make_export("aesrm-base-sft", sizes={"train": 1, "validation": 1, "test": 1}))
    config = TrainConfig(recipe="aesrm-base", model_path=str(tiny_model_path))
    config.video.fps, config.video.max_frames, config.video.max_pixels = 4, 4, 3136
    model, tokenizer, encoder = build(config, export, tiny_model_path)
    options = GRPOConfig(num_generations=2, max_new_tokens=6, kl_beta=0.0)
    prompt = encoder.encode(prompt_messages(export.rows("train")[0]["messages"]))
    torch.manual_seed(0)
    rollout = sample(model, collate([prompt], tokenizer.pad_token_id, encoder.video_token_id, "left"),
                     tokenizer, options, videos_per_row=2)

    def gap() -> float:
        mask = rollout.completion_mask[:, rollout.prompt_length:]
        with torch.no_grad():
            sums = (completion_logprobs(model, rollout.batch, rollout.prompt_length) * mask).sum(dim=1)
        return float(sums[0] - sums[1])

    before = gap()
    updates = GRPOUpdates(model, options, None, lambda indices: (rollout, torch.tensor([[1.0, 0.0]])))
    loss, stats = updates([0])
    loss.backward()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter -= 0.05 * parameter.grad
    assert gap() > before
    assert stats["reward_mean"] == 0.5


def test_repeat_batch_repeats_rows_with_their_videos():
    batch = {
        "input_ids": torch.tensor([[1, 2], [3, 4]]), "attention_mask": torch.ones(2, 2, dtype=torch.long),
        "mm_token_type_ids": torch.zeros(2, 2, dtype=torch.int),
        "pixel_values_videos": torch.arange(4.0).view(4, 1),  # one patch per video, two videos per row
        "video_grid_thw": torch.tensor([[1, 1, 1]] * 4), "second_per_grid_ts": torch.tensor([0.5] * 4),
    }
    repeated = repeat_batch(batch, 2, videos_per_row=2)
    assert repeated["input_ids"].tolist() == [[1, 2], [1, 2], [3, 4], [3, 4]]
    assert repeated["pixel_values_videos"].flatten().tolist() == [0, 1, 0, 1, 2, 3, 2, 3]


def test_sampling_never_emits_vision_placeholders(make_export, tiny_model_path):
    """The lm head is rigged so <|video_pad|> has by far the highest logit; sampling must still
    never produce it (it would break the forward pass that scores the rollout)."""
    from rm_training.config import TrainConfig
    from rm_training.data import collate, prompt_messages
    from rm_training.recipes.aesrm import build

    export = open_export(make_export("aesrm-base-sft", sizes={"train": 1, "validation": 1, "test": 1}))
    config = TrainConfig(recipe="aesrm-base", model_path=str(tiny_model_path))
    config.video.fps, config.video.max_frames, config.video.max_pixels = 4, 4, 3136
    model, tokenizer, encoder = build(config, export, tiny_model_path)
    rigged = torch.nn.Linear(model.lm_head.in_features, model.lm_head.out_features, bias=True)
    with torch.no_grad():
        rigged.weight.zero_()
        rigged.bias.zero_()
        rigged.bias[encoder.video_token_id] = 100.0
    model.lm_head = rigged
    prompt = encoder.encode(prompt_messages(export.rows("train")[0]["messages"]))
    rollout = sample(model, collate([prompt], tokenizer.pad_token_id, encoder.video_token_id, "left"),
                     tokenizer, GRPOConfig(num_generations=2, max_new_tokens=5), videos_per_row=2)
    completions = rollout.batch["input_ids"][:, rollout.prompt_length:]
    assert not bool((completions == encoder.video_token_id).any())
    assert completions.shape[1] == 5


def test_aesrm_checkpoint_round_trips_to_identical_logits(make_export, tiny_model_path, tmp_path):
    from rm_training.config import load_config
    from rm_training.data import collate, prompt_messages
    from rm_training.recipes.aesrm import build, fit_session
    from rm_training.run_dir import RunDir

    export_dir = make_export("aesrm-base-sft", sizes={"train": 2, "validation": 1, "test": 1})
    config = load_config(None, [*FAST, "stages.sft_steps=2", "optim.gradient_accumulation_steps=2",
                                "optim.gradient_checkpointing=true"],
                         recipe="aesrm-base", model_path=str(tiny_model_path), data=str(export_dir),
                         out=str(tmp_path / "run"))
    export, run = open_export(export_dir), RunDir(tmp_path / "run")
    run.start(config, export)
    trainer, encoder, metrics = fit_session(config, export, run)
    assert metrics["final_step"] == 2
    prompt = encoder.encode(prompt_messages(export.rows("train")[0]["messages"]))
    batch = collate([prompt], encoder.tokenizer.pad_token_id, encoder.video_token_id)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    trainer.unwrapped.eval()
    with torch.no_grad():
        in_memory = trainer.unwrapped(**inputs).logits
        reloaded, _, _ = build(config, export, run.last_checkpoint())
        reloaded.eval()
        assert torch.equal(reloaded(**inputs).logits, in_memory)


def test_grpo_can_read_pair_prompts_from_an_rl_prompts_export(make_export, tiny_model_path, tmp_path):
    sft_export = make_export("cot-sft", sizes={"train": 2, "validation": 1, "test": 1})
    rl_export = make_export("rl-prompts", sizes={"train": 3, "validation": 1, "test": 1}, pairs=True)
    run = tmp_path / "run"
    assert _train("aesrm-cot", sft_export, run, tiny_model_path, "stages.sft_steps=1", "stages.grpo_steps=1",
                  f"grpo.data={rl_export}") == 0
    info = json.loads((run / "run.json").read_text())
    assert info["grpo_data_manifest_sha256"]
    logged = [json.loads(line)["stage"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged == ["sft", "grpo"]


def test_grpo_data_of_the_wrong_format_is_refused(make_export, tiny_model_path, tmp_path, capsys):
    sft_export = make_export("cot-sft", sizes={"train": 2, "validation": 1, "test": 1})
    assert _train("aesrm-cot", sft_export, tmp_path / "run", tiny_model_path, "stages.sft_steps=1",
                  "stages.grpo_steps=1", f"grpo.data={sft_export}") == 2
    assert "needs 'rl-prompts'" in capsys.readouterr().err
