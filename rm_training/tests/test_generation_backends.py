"""GRPO generation backends: transformers' ``generate`` (real, on the tiny model) and vLLM.

vLLM needs a CUDA GPU and a CUDA build of torch; neither exists here. Its path runs against
``FakeVLLM``: a stand-in ``vllm`` module with exactly the surface ``rm_training.generation`` calls
(``LLM(**engine options)``, ``LLM.generate(prompts, sampling_params=, use_tqdm=)``,
``LLM.reset_prefix_cache()``, ``LLM.llm_engine.model_executor.driver_worker.model_runner.model
.load_weights(pairs)``, ``SamplingParams(**options)``, ``RequestOutput.outputs[0].token_ids``). It records
every call and answers each request with token ids the test chooses. The GPU check it also needs is
replaced by ``cuda_available = True``; everything else (model, loop, optimizer, peft) is real.
"""

from __future__ import annotations

import functools
import importlib.machinery
import json
import os
import random
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rm_training import generation
from rm_training.config import ConfigError, GRPOConfig, TrainConfig, check_machine, load_config
from rm_training.data import collate, prompt_messages, video_paths
from rm_training.export import open_export
from rm_training.generation import VLLMGenerator, policy_weights_for_inference, vllm_weight_name
from rm_training.grpo import sample
from rm_training.modeling import VISION_TOKENS
from rm_training.video import HALF, VisionGeometry, decode_frames, pack_frames, unpack_frames

FAST = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "optim.batch_size=2",
        "grpo.max_new_tokens=8", "grpo.num_generations=2", "stages.sft_steps=0"]


@pytest.fixture(autouse=True)
def process_group_environment_restored():
    """``VLLMGenerator.for_run`` sets RANK, WORLD_SIZE and MASTER_PORT for vLLM's launcher in this process; left
    behind, every later ``python -m rm_training`` this test process starts would join a process group on that
    port (and fail, the port being taken). (monkeypatch.delenv of an unset variable records nothing to undo.)"""
    keys = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    saved = {key: os.environ.get(key) for key in keys}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class FakeVLLM:
    """The ``vllm`` package as ``rm_training.generation`` uses it; ``answer(request) -> token ids``."""

    def __init__(self, answer):
        self.answer = answer
        self.engines: list[dict] = []  # LLM(...) keyword arguments
        self.events: list[tuple] = []  # ("load_weights", name, tensor) / ("reset_prefix_cache",) / ("generate", ...)
        self.module = types.ModuleType("vllm")
        self.module.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
        self.module.LLM = functools.partial(FakeLLM, self)
        self.module.SamplingParams = lambda **options: SimpleNamespace(**options)

    def syncs(self) -> list[dict[str, torch.Tensor]]:
        """The weights each sync sent (the load_weights calls before each reset_prefix_cache)."""
        found, current = [], {}
        for event in self.events:
            if event[0] == "load_weights":
                current[event[1]] = event[2]
            elif event[0] == "reset_prefix_cache":
                found.append(current)
                current = {}
        return found

    def timeline(self) -> list[str]:
        """"sync" / "generate" in call order."""
        kinds = [event[0] for event in self.events if event[0] != "load_weights"]
        return ["sync" if kind == "reset_prefix_cache" else kind for kind in kinds]


class FakeLLM:
    def __init__(self, fake: FakeVLLM, **options):
        fake.engines.append(options)
        self.fake = fake
        model = SimpleNamespace(load_weights=self._load_weights)
        self.llm_engine = SimpleNamespace(
            model_executor=SimpleNamespace(driver_worker=SimpleNamespace(model_runner=SimpleNamespace(model=model)))
        )

    def _load_weights(self, weights):
        for name, tensor in weights:
            self.fake.events.append(("load_weights", name, tensor.detach().clone()))

    def reset_prefix_cache(self):
        self.fake.events.append(("reset_prefix_cache",))

    def generate(self, prompts, sampling_params=None, use_tqdm=True):
        self.fake.events.append(("generate", prompts, sampling_params))
        return [SimpleNamespace(outputs=[SimpleNamespace(token_ids=list(self.fake.answer(request)))])
                for request in prompts]


QWEN3_VL = VisionGeometry(16, 2, 2, HALF, HALF, "qwen3_vl")


@pytest.mark.parametrize("geometry, side", [(VisionGeometry(), 56), (QWEN3_VL, 64)])
def test_unpacking_a_packed_clip_gives_back_its_frames(geometry, side):
    frames = np.random.default_rng(0).integers(0, 256, size=(4, side, 2 * side, 3), dtype=np.uint8)
    packed = pack_frames(frames, geometry, fps=2.0)
    assert np.array_equal(unpack_frames(packed.pixel_values, packed.grid_thw, geometry), frames)


def test_vllm_parameter_names_are_the_checkpoint_names():
    """peft's wrapper prefix and ``.base_layer``, FSDP's and checkpointing's wrapper names go; LoRA
    matrices (merged already) and peft's original copy of a module to save have no vLLM slot."""
    layer = "model.language_model.layers.0.self_attn.q_proj"
    assert vllm_weight_name(f"base_model.model.{layer}.base_layer.weight") == f"{layer}.weight"
    assert vllm_weight_name(f"base_model.model.{layer}.lora_A.default.weight") is None
    assert vllm_weight_name(f"_fsdp_wrapped_module.{layer}._checkpoint_wrapped_module.weight") == f"{layer}.weight"
    assert vllm_weight_name("base_model.model.lm_head.modules_to_save.default.weight") == "lm_head.weight"
    assert vllm_weight_name("base_model.model.lm_head.original_module.weight") is None
    assert vllm_weight_name("model.visual.blocks.0.attn.qkv.weight") == "model.visual.blocks.0.attn.qkv.weight"


def test_lora_weights_for_vllm_are_merged_and_the_policy_is_unmerged_after(tiny_model_path):
    """LoRA B is set to ones so the adapter changes q_proj by ``scale * B @ A``; the weights sent
    must equal peft's own merge_and_unload, and the policy's base layer must be untouched after."""
    from peft import PeftModel

    from rm_training.modeling import apply_lora, load_vlm

    policy = apply_lora(load_vlm(tiny_model_path)[0], 4)
    with torch.no_grad():
        for name, parameter in policy.named_parameters():
            if "lora_B" in name:
                parameter.fill_(0.5)
    base_before = {name: p.detach().clone() for name, p in policy.named_parameters() if "base_layer" in name}
    sent = {name: tensor.clone() for name, tensor in policy_weights_for_inference(policy)}
    assert isinstance(policy, PeftModel)
    copy = apply_lora(load_vlm(tiny_model_path)[0], 4)
    copy.load_state_dict(policy.state_dict())
    merged = dict(copy.merge_and_unload().named_parameters())
    assert set(sent) == set(merged)
    for name, tensor in merged.items():
        assert torch.allclose(sent[name], tensor, atol=1e-6), name
    q_proj = "model.language_model.layers.0.self_attn.q_proj"
    assert not torch.allclose(sent[f"{q_proj}.weight"], base_before[f"base_model.model.{q_proj}.base_layer.weight"])
    for name, parameter in policy.named_parameters():
        if name in base_before:
            assert torch.allclose(parameter, base_before[name], atol=1e-6), name


def _pair_prompts(make_export, tiny_model_path, rows: int = 2):
    from rm_training.recipes.aesrm import build

    export = open_export(make_export("aesrm-base-sft", sizes={"train": rows, "validation": 1, "test": 1}))
    config = TrainConfig(recipe="aesrm-base", model_path=str(tiny_model_path))
    config.video.fps, config.video.max_frames, config.video.max_pixels = 4, 4, 3136
    model, tokenizer, encoder = build(config, export, tiny_model_path)
    messages = [prompt_messages(row["messages"]) for row in export.rows("train")[:rows]]
    batch = collate([encoder.encode(m) for m in messages], tokenizer.pad_token_id, encoder.video_token_id, "left")
    return export, model, tokenizer, encoder, messages, batch


def test_a_vllm_rollout_has_the_layout_of_the_transformers_rollout_for_the_same_tokens(make_export, tiny_model_path):
    """Two pair prompts (two videos each), K = 2, sampled by generate on the tiny model; vLLM is then
    made to answer each repeated row with the very tokens generate sampled for it (cut after the
    first eos, as vLLM stops). Both rollouts must be equal tensor for tensor, and vLLM must have been
    asked for one completion per row with the unpadded prompt, one <|video_pad|> per video, and the
    frames of the row's two clips as decoded."""
    export, model, tokenizer, encoder, messages, batch = _pair_prompts(make_export, tiny_model_path)
    options = GRPOConfig(num_generations=2, max_new_tokens=6, temperature=0.7)
    torch.manual_seed(0)
    reference = sample(model, batch, tokenizer, options, videos_per_row=2)
    prompt_length = reference.prompt_length
    lengths = reference.completion_mask[:, prompt_length:].sum(dim=1).tolist()
    sampled = [reference.batch["input_ids"][row, prompt_length:prompt_length + length].tolist()
               for row, length in enumerate(lengths)]
    requests_seen = []

    def answer(request):
        requests_seen.append(request)
        return sampled[len(requests_seen) - 1]

    fake = FakeVLLM(answer)
    generator = VLLMGenerator(fake.module.LLM(model="unused"), fake.module.SamplingParams, tokenizer,
                              encoder.videos.geometry, optimizer_steps=lambda: 0)
    rollout = sample(model, batch, tokenizer, options, videos_per_row=2, generator=generator)

    assert rollout.prompt_length == prompt_length and rollout.texts == reference.texts
    assert torch.equal(rollout.completion_mask, reference.completion_mask)
    assert set(rollout.batch) == set(reference.batch)
    for key, value in reference.batch.items():
        assert torch.equal(rollout.batch[key], value), key

    ids = tokenizer.get_vocab()
    params = fake.events[-1][2]
    assert (params.n, params.temperature, params.top_p, params.max_tokens) == (1, 0.7, 1.0, 6)
    assert params.stop_token_ids == [ids["<|im_end|>"]]
    assert set(params.logit_bias) == {ids[token] for token in VISION_TOKENS if token in ids}
    assert len(requests_seen) == 4
    loader = encoder.videos
    factor = loader.geometry.patch_size * loader.geometry.merge_size
    for row, request in enumerate(requests_seen):
        prompt = batch["input_ids"][row // 2][batch["attention_mask"][row // 2] == 1].tolist()
        assert request["prompt_token_ids"] == [token for index, token in enumerate(prompt) if not (
            token == ids["<|video_pad|>"] and prompt[index - 1] == ids["<|video_pad|>"])]
        assert request["prompt_token_ids"].count(ids["<|video_pad|>"]) == 2
        clips = [export.media_path(path) for path in video_paths(messages[row // 2])]
        expected = [decode_frames(clip, loader.fps, loader.max_frames, factor, loader.min_pixels,
                                  loader.max_pixels).frames for clip in clips]
        assert len(request["multi_modal_data"]["video"]) == 2
        for sent, frames in zip(request["multi_modal_data"]["video"], expected, strict=True):
            assert sent.dtype == np.uint8 and np.array_equal(sent, frames)


def test_vllm_weights_are_sent_once_per_optimizer_step_before_generating(make_export, tiny_model_path):
    export, model, tokenizer, encoder, _, batch = _pair_prompts(make_export, tiny_model_path, rows=1)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    fake = FakeVLLM(lambda request: [eos])
    steps = {"count": 0}
    generator = VLLMGenerator(fake.module.LLM(model="unused"), fake.module.SamplingParams, tokenizer,
                              encoder.videos.geometry, optimizer_steps=lambda: steps["count"])
    options = GRPOConfig(num_generations=2, max_new_tokens=4)
    for count in (0, 0, 1, 1, 2):
        steps["count"] = count
        sample(model, batch, tokenizer, options, videos_per_row=2, generator=generator)
    assert fake.timeline() == ["sync", "generate", "generate", "sync", "generate", "generate", "sync", "generate"]


def test_vllm_is_refused_clearly_without_a_gpu_or_without_vllm(tiny_model_path, monkeypatch):
    config = load_config(None, ["grpo.backend=vllm"], recipe="aesrm-base", model_path=str(tiny_model_path))
    arguments = (config, None, VisionGeometry(), 2, lambda: 0)
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        VLLMGenerator.for_run(*arguments)
    monkeypatch.setattr(generation, "cuda_available", lambda: True)
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(ConfigError, match="vllm cannot be imported"):
        VLLMGenerator.for_run(*arguments)


def test_a_rapo_run_on_vllm_sends_the_lora_merged_policy_after_every_optimizer_step(
    make_export, tiny_model_path, tmp_path, monkeypatch
):
    """rapo, LoRA rank 4, three GRPO steps (one optimizer step each) with vLLM answering
    ``<answer>s</answer>`` for random scores s, so rewards and advantages are not all equal. vLLM must
    be built from model_path with the configured memory share and length, and must get the weights
    before each of the three generations: first the base (LoRA B starts at 0), then the base with
    the adapter of checkpoint step 1 merged, then step 2's, under the base model's parameter names."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    from rm_training import cli

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    scores = random.Random(0)

    def answer(request):
        return tokenizer.encode(f"<answer>{scores.random():.2f}</answer>", add_special_tokens=False) + [eos]

    fake = FakeVLLM(answer)
    monkeypatch.setitem(sys.modules, "vllm", fake.module)
    monkeypatch.setattr(generation, "cuda_available", lambda: True)
    monkeypatch.setattr(cli, "check_machine", functools.partial(check_machine, cuda_available=True))
    export = make_export("rl-prompts", sizes={"train": 4, "validation": 1, "test": 1})
    run = tmp_path / "run"
    assert cli.main(["train", "--recipe", "rapo", "--data", str(export), "--out", str(run),
                     f"model_path={tiny_model_path}", *FAST, "stages.grpo_steps=3", "lora_rank=4",
                     "optim.learning_rate=0.01", "save_every=1", "keep_checkpoints=5", "grpo.backend=vllm",
                     # no KL: its adapter-disabled reference would unmerge a LoRA the sync forgot to unmerge
                     "grpo.kl_beta=0",
                     "grpo.vllm_gpu_memory_utilization=0.4"]) == 0

    (engine,) = fake.engines
    assert engine["model"] == str(tiny_model_path)
    assert (engine["gpu_memory_utilization"], engine["max_model_len"]) == (0.4, 1024 + 8)
    assert engine["limit_mm_per_prompt"]["video"] == 1
    assert fake.timeline() == ["sync", "generate"] * 3
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(entry["grpo/reward_std"] > 0 for entry in logged)

    def merged_weights(checkpoint):
        base = AutoModelForImageTextToText.from_pretrained(tiny_model_path)
        if checkpoint is None:
            return dict(base.named_parameters())
        return dict(PeftModel.from_pretrained(base, checkpoint).merge_and_unload().named_parameters())

    syncs = fake.syncs()
    expected = [merged_weights(None), merged_weights(run / "checkpoints" / "step-000001"),
                merged_weights(run / "checkpoints" / "step-000002")]
    for sent, weights in zip(syncs, expected, strict=True):
        assert set(sent) == set(weights)
        for name, tensor in weights.items():
            assert torch.allclose(sent[name], tensor, atol=1e-6), name
    q_proj = "model.language_model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(syncs[1][q_proj], syncs[0][q_proj])
    assert not torch.allclose(syncs[2][q_proj], syncs[1][q_proj])
