"""``python -m rm_training plan``: parameter counts and per-GPU memory budgets, checked by hand."""

from __future__ import annotations

import json

import pytest

from rm_training.cli import main
from rm_training.config import ConfigError
from rm_training.plan import (
    CONFIG_DIR,
    GIB,
    MODELS_DIR,
    ModelShape,
    PlanOptions,
    language_parameters,
    lora_parameters,
    meta_parameter_count,
    plan_options,
    read_model_config,
    recipe_defaults,
    stage_budget,
    vision_parameters,
)
from rm_training.tiny import build_tiny_tokenizer, tiny_qwen2_5_vl_config

SEVEN_B = read_model_config(MODELS_DIR / "qwen2.5-vl-7b.json")


def _count(config: dict) -> int:
    shape = ModelShape.from_config(config)
    return vision_parameters(shape) + language_parameters(shape)


def test_config_arithmetic_counts_the_same_parameters_as_the_model_built_on_meta_for_the_tiny_config():
    config = tiny_qwen2_5_vl_config(build_tiny_tokenizer()).to_dict()
    assert _count(config) == meta_parameter_count(config)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("qwen2.5-vl-3b", 3_754_622_976), ("qwen2.5-vl-7b", 8_292_166_656)],
)
def test_shipped_qwen2_5_vl_configs_count_like_transformers_builds_them(name, expected):
    """3B ties lm_head to the embeddings (3.75 B, as published); 7B does not (8.29 B)."""
    config = read_model_config(MODELS_DIR / f"{name}.json")
    assert _count(config) == expected
    assert meta_parameter_count(config) == expected


def test_7b_lora_descore_on_one_gpu_matches_the_hand_worked_budget():
    """Qwen2.5-VL-7B, LoRA rank 64, descore, 1 GPU, bf16, checkpointing, AdamW 12 bytes, 1 pair of
    16 frames at 448x448 and 1,024 text tokens.

    LoRA per layer: 64 x ((3584 + 3584) + 2 x (3584 + 512) + (3584 + 3584)) = 64 x 22,528 = 1,441,792;
    x 28 layers = 40,370,176 trainable (fp32 adapters).
    weights    = 8,292,166,656 x 2 + 40,370,176 x 4         = 16,745,814,016 bytes
    optimizer  = 40,370,176 x 12                            =    484,442,112
    gradients  = 40,370,176 x 4                             =    161,480,704
    visual tokens per video = ceil(16 / 2) x 200,704 / 28^2 = 8 x 256 = 2,048; descore scores each video
    alone: 2 sequences of 2,048 + 1,024 = 3,072 tokens.
    activations (the vision tower is frozen under LoRA): 2 x 3,072 x (28 x 3584 x 2 [layer inputs]
      + 2 x (6 x 3584 + 2 x 512 + 4 x 18,944) [one layer recomputed]) = 6,144 x (200,704 + 196,608)
                                                            =  2,441,084,928
    overhead = 2 GiB                                        =  2,147,483,648
    peak = 21,980,305,408 bytes = 20.47 GiB.
    """
    options = PlanOptions(lora_rank=64, optimizer_bytes=12, micro_batch=1, text_tokens=1024, frames=16,
                          frame_pixels=448 * 448)
    budget = stage_budget(ModelShape.from_config(SEVEN_B), options, "descore", "descore")
    assert lora_parameters(ModelShape.from_config(SEVEN_B), 64) == 40_370_176
    assert budget.lines == {
        "weights": 16_745_814_016,
        "optimizer states": 484_442_112,
        "gradients": 161_480_704,
        "activations": 2_441_084_928,
        "logits": 0,
        "reference model": 0,
        "overhead": 2_147_483_648,
    }
    assert budget.peak == 21_980_305_408


def test_7b_full_grpo_on_eight_gpus_shards_weights_optimizer_and_reference_and_keeps_completion_logits_only():
    """aesrm-cot GRPO, full fine-tune, ZeRO-3 over 8 GPUs, K = 8, 2,048 completion tokens, 512 prompt text
    tokens, two videos of 2,048 visual tokens: 8 sequences of 4,096 + 512 + 2,048 = 6,656 tokens.

    weights   = 8,292,166,656 x 2 / 8 = 2,073,041,664; reference the same; optimizer x 12 / 8 = 12,438,249,984.
    logits    = 8 x 2,048 completion tokens x 152,064 x 4 (bf16 logits + bf16 log-probs)
                + 1,024-token fp32 chunk x 152,064 x 8 = 9,965,666,304 + 1,245,708,288 = 11,211,374,592.
    KV cache  = 8 x 6,656 x 28 layers x 2 (k, v) x 512 x 2 bytes = 3,053,453,312.
    gathered weights for generate = 8,292,166,656 x 2 x 7 / 8 = 14,511,291,648.
    """
    options = PlanOptions(gpus=8, strategy="zero3", micro_batch=1, prompt_text_tokens=512, group_size=8,
                          completion_tokens=2048, logit_chunk=1024)
    budget = stage_budget(ModelShape.from_config(SEVEN_B), options, "aesrm-cot", "grpo")
    assert (budget.sequences, budget.tokens_per_sequence) == (8, 6656)
    assert budget.lines["weights"] == budget.lines["reference model"] == 2_073_041_664
    assert budget.lines["optimizer states"] == 12_438_249_984
    assert budget.lines["logits"] == 11_211_374_592
    assert budget.lines["generation KV cache"] == 3_053_453_312
    assert budget.lines["gathered weights (generate)"] == 14_511_291_648


def test_lora_grpo_needs_no_reference_copy_and_logits_grow_with_the_completion_not_the_prompt():
    shape = ModelShape.from_config(SEVEN_B)
    short = stage_budget(shape, PlanOptions(lora_rank=64, completion_tokens=512), "aesrm-cot", "grpo")
    long_prompt = stage_budget(shape, PlanOptions(lora_rank=64, completion_tokens=512, prompt_text_tokens=4096),
                               "aesrm-cot", "grpo")
    long_completion = stage_budget(shape, PlanOptions(lora_rank=64, completion_tokens=2048), "aesrm-cot", "grpo")
    assert short.lines["reference model"] == 0
    assert long_prompt.lines["logits"] == short.lines["logits"]
    assert long_completion.lines["logits"] > 2 * short.lines["logits"]


def test_a_start_reference_is_planned_as_a_sharded_copy_even_with_lora(tmp_path):
    """grpo.reference=start keeps a frozen copy of the cold-started weights (a LoRA adapter merged into its base),
    so the plan counts one, where the LoRA reference of grpo.reference=base (the adapter switched off) costs
    nothing."""
    example = (CONFIG_DIR / "aesrm-cot-qwen2.5-vl-7b.yaml").read_text()
    config = tmp_path / "start.yaml"
    config.write_text(example.replace("  kl_beta: 0.01", "  kl_beta: 0.01\n  reference: start"))
    defaults, _ = recipe_defaults("aesrm-cot", config)
    shape = ModelShape.from_config(SEVEN_B)
    with_copy = stage_budget(shape, plan_options(defaults, ["lora_rank=64"]), "aesrm-cot", "grpo")
    default_lora = stage_budget(shape, PlanOptions(lora_rank=64), "aesrm-cot", "grpo")
    assert defaults["reference"] == "copy"
    assert with_copy.lines["reference model"] > 0
    assert default_lora.lines["reference model"] == 0


def test_descore_plans_its_dual_rl_stage_two_prompts_a_pair_with_both_passes_kept_for_backward():
    """descore's stage 3 samples K reasonings for each of a pair's two videos (two prompts a pair, one video each,
    as rapo's one prompt a row), and keeps the GRPO pass and the reward head's pass over the same sequences for one
    backward: twice rapo's sequences and KV cache, four times its activations."""
    defaults, stages = recipe_defaults("descore")
    assert stages == ["descore", "grpo"]
    shape = ModelShape.from_config(SEVEN_B)
    options = plan_options(defaults, [])
    dual_rl = stage_budget(shape, options, "descore", "grpo")
    rapo = stage_budget(shape, options, "rapo", "grpo")
    assert dual_rl.sequences == 2 * rapo.sequences == 2 * options.micro_batch * options.group_size
    assert dual_rl.tokens_per_sequence == rapo.tokens_per_sequence
    assert dual_rl.lines["activations"] == 4 * rapo.lines["activations"]
    assert dual_rl.lines["generation KV cache"] == 2 * rapo.lines["generation KV cache"]


def test_descore_without_reasoning_plans_its_scoring_stage_only(tmp_path):
    example = (CONFIG_DIR / "descore-qwen2.5-vl-7b.yaml").read_text()
    config = tmp_path / "no-cot.yaml"
    config.write_text(example.replace("reasoning_steps: 500", "reasoning_steps: 0").replace(
        "grpo_steps: 300", "grpo_steps: 0").replace("descore:\n", "descore:\n  use_cot: false\n"))
    assert recipe_defaults("descore", config)[1] == ["descore"]


def test_recipe_defaults_come_from_the_example_config_of_the_recipe():
    defaults, stages = recipe_defaults("rapo")
    assert stages == ["sft", "grpo"]  # the AesCoT cold start, then RAPO
    assert (defaults["group_size"], defaults["completion_tokens"], defaults["strategy"]) == (4, 1024, "zero3")
    assert plan_options(recipe_defaults("descore")[0], ["gpus=2"]).strategy == "ddp"


def test_plan_command_prints_each_term_and_whether_it_fits(capsys):
    code = main(["plan", "--recipe", "descore", "--model-config", "qwen2.5-vl-7b", "gpu_memory_gib=139.8"])
    printed = capsys.readouterr().out
    assert code == 0
    for term in ("weights", "optimizer states", "gradients", "activations", "peak per GPU"):
        assert term in printed
    assert "of 139.8 GiB -> fits" in printed


def test_plan_command_json_reports_bytes_per_stage(capsys):
    code = main(["plan", "--recipe", "aesrm-cot", "--model-config", "qwen2.5-vl-7b", "--json", "gpus=8"])
    stages = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [stage["stage"] for stage in stages] == ["sft", "grpo"]
    assert stages[1]["peak"] < 80 * GIB


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--recipe", "rapo", "--model-config", "qwen2.5-vl-7b", "gpus=two"], "gpus: expected an integer"),
        (["--recipe", "rapo", "--model-config", "qwen2.5-vl-7b", "shards=2"], "unknown config key(s): shards"),
        (["--recipe", "rapo", "--model-config", "qwen2.5-vl-7b", "optimizer_bytes=10"], "4, 8, 12 or 16"),
        (["--recipe", "rapo", "--model-config", "no-such-model.json"], "does not exist"),
        (["--recipe", "checklist-linear", "--model-config", "qwen2.5-vl-7b"], "no GPU memory to plan"),
        (["--recipe", "descore", "--model-config", "qwen2.5-vl-7b", "--stage", "sft"], "has no sft stage"),
    ],
)
def test_plan_command_refuses_bad_input_with_a_message(capsys, arguments, message):
    assert main(["plan", *arguments]) == 2
    assert message in capsys.readouterr().err


def test_a_config_without_a_vision_tower_is_refused():
    with pytest.raises(ConfigError, match="no vision_config"):
        ModelShape.from_config({"hidden_size": 8, "num_attention_heads": 2})
