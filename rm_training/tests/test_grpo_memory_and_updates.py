"""GRPO at scale: completion-only log-probs, several updates per rollout, the reference without a copy."""

import pytest
import torch

from rm_training.config import GRPOConfig
from rm_training.grpo import GRPOUpdates, Reference, completion_logprobs, load_reference_model, sample
from rm_training.losses import selective_log_softmax
from rm_training.modeling import apply_lora, load_vlm


def _text_batch(tokenizer, rows: int, length: int, seed: int = 0) -> dict:
    """Random ordinary tokens (no special or vision tokens), left-padded layout with no padding."""
    generator = torch.Generator().manual_seed(seed)
    first_ordinary = len(tokenizer.all_special_ids) + 8
    input_ids = torch.randint(first_ordinary, len(tokenizer), (rows, length), generator=generator)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
            "mm_token_type_ids": torch.zeros_like(input_ids, dtype=torch.int)}


def _old_full_sequence_logprobs(model, batch: dict, prompt_length: int, temperature: float = 1.0) -> torch.Tensor:
    """What GRPO computed before: float32 log-softmax over the whole sequence, prompt included."""
    logits = model(**batch, use_cache=False).logits[:, :-1].float() / temperature
    targets = batch["input_ids"][:, 1:]
    every_token = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return every_token[:, prompt_length - 1:]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_selective_log_softmax_equals_log_softmax_and_its_gradient_in_chunks(temperature):
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 50, requires_grad=True)
    targets = torch.randint(0, 50, (3, 5))
    weights = torch.randn(3, 5)
    # 15 rows: chunks of 4, 4, 4, 3
    chunked = selective_log_softmax(logits, targets, chunk_rows=4, temperature=temperature)
    (chunked * weights).sum().backward()
    chunked_grad = logits.grad.clone()
    logits.grad = None
    expected = torch.log_softmax(logits / temperature, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    (expected * weights).sum().backward()
    assert torch.allclose(chunked, expected, atol=1e-6)
    assert torch.allclose(chunked_grad, logits.grad, atol=1e-6)


def test_bf16_logits_give_float32_log_probs_and_bf16_gradients():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 40).bfloat16().requires_grad_()
    targets = torch.randint(0, 40, (2, 3))
    result = selective_log_softmax(logits, targets, chunk_rows=2)
    assert result.dtype == torch.float32
    expected = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(result, expected, atol=1e-6)
    result.sum().backward()
    assert logits.grad.dtype == torch.bfloat16


def test_a_token_sampled_at_temperature_half_is_scored_by_the_halved_distribution():
    """logits (2, 0, 0): at temperature 0.5 they are (4, 0, 0), so token 0 has log-probability
    4 - log(e^4 + 2) and token 1 has -log(e^4 + 2), by hand."""
    logits = torch.tensor([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]], dtype=torch.float64)
    result = selective_log_softmax(logits, torch.tensor([0, 1]), temperature=0.5)
    normaliser = torch.log(torch.exp(torch.tensor(4.0, dtype=torch.float64)) + 2)
    assert torch.allclose(result, torch.stack([4 - normaliser, -normaliser]), atol=1e-12)
    with pytest.raises(ValueError, match="temperature"):
        selective_log_softmax(logits, torch.tensor([0, 1]), temperature=0.0)


def test_grpo_scores_completions_at_the_temperature_it_sampled_them(tiny_model_path):
    """Two passes over one rollout sampled at 0.6: the old log-probs the ratio divides by are the policy's
    at 0.6 (not at 1), and the update's own log-probs are taken at 0.6 too, so the first pass's ratio is 1."""
    model, tokenizer = load_vlm(tiny_model_path, dtype="float32")
    options = GRPOConfig(num_generations=2, max_new_tokens=5, kl_beta=0.0, updates_per_rollout=2, temperature=0.6)
    prompt = _text_batch(tokenizer, rows=1, length=10)
    rollouts = []

    def new_rollout(indices):
        torch.manual_seed(0)
        rollouts.append(sample(model, prompt, tokenizer, options, videos_per_row=0))
        return rollouts[-1], torch.tensor([[1.0, -1.0]])

    updates = GRPOUpdates(model, options, None, new_rollout)
    _, stats = updates([0])
    rollout = rollouts[0]
    with torch.no_grad():
        at_sampling = completion_logprobs(model, rollout.batch, rollout.prompt_length, temperature=0.6)
        at_one = completion_logprobs(model, rollout.batch, rollout.prompt_length)
    assert torch.equal(updates.old_logprobs[0], at_sampling)
    assert not torch.allclose(at_sampling, at_one)
    assert stats["ratio_min"] == 1.0 == stats["ratio_max"]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_completion_logprobs_equal_the_old_full_sequence_numbers_and_gradients(tiny_model_path, temperature):
    model, tokenizer = load_vlm(tiny_model_path, dtype="float32")
    batch, prompt_length = _text_batch(tokenizer, rows=3, length=40), 30
    weights = torch.randn(3, 10)

    new = completion_logprobs(model, batch, prompt_length, chunk_tokens=7, temperature=temperature)
    (new * weights).sum().backward()
    new_grad = model.lm_head.weight.grad.clone()
    model.zero_grad()
    old = _old_full_sequence_logprobs(model, batch, prompt_length, temperature)
    (old * weights).sum().backward()

    assert new.shape == (3, 10)
    assert torch.allclose(new, old, atol=1e-5)
    assert torch.allclose(new_grad, model.lm_head.weight.grad, atol=1e-5)


def test_several_updates_per_rollout_reuse_one_sample_and_clip(tiny_model_path):
    """3 passes over one rollout of 1 prompt x 4 completions in 2 mini-batches, an SGD step per pass
    (the two mini-batches accumulate, as optim.gradient_accumulation_steps=2 would). The first pass
    runs on the weights that sampled: ratio exactly 1, nothing clipped. A large step then pushes
    ratios outside [0.8, 1.28] on the later passes: clip_fraction > 0, which one update per
    rollout could never show."""
    model, tokenizer = load_vlm(tiny_model_path, dtype="float32")
    options = GRPOConfig(num_generations=4, max_new_tokens=6, kl_beta=0.0, updates_per_rollout=3, mini_batches=2)
    prompt = _text_batch(tokenizer, rows=1, length=12)
    sampled = []

    def new_rollout(indices):
        torch.manual_seed(len(sampled))
        sampled.append(indices)
        rollout = sample(model, prompt, tokenizer, options, videos_per_row=0)
        return rollout, torch.tensor([[1.0, 0.0, 0.5, -1.0]])

    updates = GRPOUpdates(model, options, None, new_rollout)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=20.0)
    passes = []
    for call in range(6):
        loss, stats = updates([call])
        (loss / options.mini_batches).backward()
        if call % 2 == 1:
            optimizer.step()
            optimizer.zero_grad()
        passes.append(stats)

    assert sampled == [[0]]
    assert [stats["update"] for stats in passes] == [0, 0, 1, 1, 2, 2]
    assert all(stats["ratio_min"] == 1.0 == stats["ratio_max"] for stats in passes[:2])
    assert all(stats["clip_fraction"] == 0.0 for stats in passes[:2])
    assert max(stats["clip_fraction"] for stats in passes[2:]) > 0
    updates([6])  # the rollout is spent: the next call samples again
    assert sampled == [[0], [6]]


def test_lora_reference_with_the_adapter_disabled_equals_a_fresh_base_model(tiny_model_path):
    model, tokenizer = load_vlm(tiny_model_path, dtype="float32")
    policy = apply_lora(model, rank=4)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in policy.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)  # B starts at zero: make the adapter change the outputs
    batch, prompt_length = _text_batch(tokenizer, rows=2, length=24), 16

    reference = Reference().logprobs(policy, batch, prompt_length)
    fresh_base = load_reference_model(str(tiny_model_path), dtype="float32")
    with torch.no_grad():
        base = completion_logprobs(fresh_base, batch, prompt_length)
        adapted = completion_logprobs(policy, batch, prompt_length)

    assert torch.allclose(reference, base, atol=1e-6)
    assert not torch.allclose(adapted, base, atol=1e-3)
    assert not any(parameter.requires_grad for parameter in fresh_base.parameters())


def test_a_reference_without_a_model_needs_a_lora_policy(tiny_model_path):
    model, tokenizer = load_vlm(tiny_model_path, dtype="float32")
    with pytest.raises(ValueError, match="LoRA"):
        Reference().logprobs(model, _text_batch(tokenizer, rows=1, length=8), 4)


def test_rapo_run_makes_two_passes_over_each_rollout_in_two_mini_batches(make_export, tiny_model_path, tmp_path):
    """2 prompts x K = 2 completions, 2 mini-batches accumulated into one optimizer step per pass, 2
    passes: optimizer steps 1 and 2 share one rollout (update 0, then 1), step 3 samples a new one.
    Step 1 runs on the sampling weights, so its ratios are exactly 1."""
    import json

    from rm_training.cli import main

    export = make_export("rl-prompts", sizes={"train": 4, "validation": 1, "test": 1})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "rapo", "--data", str(export), "--out", str(run),
                 f"model_path={tiny_model_path}", "video.fps=4", "video.max_frames=4", "video.max_pixels=3136",
                 "optim.batch_size=2", "grpo.max_new_tokens=6", "grpo.num_generations=2", "stages.sft_steps=0",
                 "stages.grpo_steps=3", "grpo.updates_per_rollout=2", "grpo.mini_batches=2",
                 "optim.gradient_accumulation_steps=2"]) == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["grpo/update"] for entry in logged] == [0.0, 1.0, 0.0]
    assert logged[0]["grpo/ratio_min"] == 1.0 == logged[0]["grpo/ratio_max"]


def test_more_mini_batches_than_completions_is_refused():
    from rm_training.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="grpo.mini_batches"):
        load_config(None, ["stages.sft_steps=0", "stages.grpo_steps=1", "optim.batch_size=2",
                           "grpo.num_generations=2", "grpo.mini_batches=5"], recipe="rapo", model_path="m")
