"""Where GRPO's completions come from (``grpo.backend``).

- ``transformers`` (default; the CPU and test path): ``generate`` on the policy itself, unwrapped from
  DDP / FSDP / ZeRO-3 by :func:`rm_training.distributed.unwrap_for_generation`.
- ``vllm`` (GPU runs): a vLLM engine colocated with the trainer in each process, as TRL's GRPO trainer
  runs it with ``vllm_mode="colocate"``. It loads ``model_path`` once and is then sent the policy's
  weights before the first generation and before the first generation after every optimizer step
  (TRL's ``global_step != _last_loaded_step``): gathered under FSDP / ZeRO-3, LoRA merged into the
  base layers and unmerged after, under the checkpoint's parameter names.

Both take the prompt batch already repeated K times (``grpo.repeat_batch``: row ``i * K + j`` is the
j-th sample of prompt i, left-padded) and return one completion per row, ``(rows, length)`` token ids
padded on the right with the pad token after each completion's eos, the layout ``generate`` itself
returns; ``grpo.rollout_from_completions`` builds the :class:`~rm_training.grpo.Rollout` from that,
so the update never knows which backend sampled.

vLLM cannot be installed on the CPU machine these tests run on: its path is tested against a fake
object with exactly the vLLM surface used here (``rm_training/tests/test_generation_backends.py``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import torch
from torch import nn

from rm_training.config import ConfigError, GRPOConfig, TrainConfig
from rm_training.distributed import full_parameters, unwrap_for_generation
from rm_training.modeling import generation_options, model_inputs, resolve_dtype
from rm_training.video import VisionGeometry, unpack_frames


class CompletionGenerator(Protocol):
    def generate(self, policy: nn.Module, expanded: dict, videos_per_row: int, options: GRPOConfig) -> torch.Tensor:
        """One sampled completion per row of ``expanded``: ``(rows, length)`` ids, pad after eos."""

    def sync_weights(self, policy: nn.Module) -> None:
        """Make the next ``generate`` sample from ``policy``'s current weights."""


class TransformersGenerator:
    """``generate`` on the policy itself: nothing to sync."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def sync_weights(self, policy: nn.Module) -> None:
        return None

    @torch.no_grad()
    def generate(self, policy: nn.Module, expanded: dict, videos_per_row: int, options: GRPOConfig) -> torch.Tensor:
        was_training = policy.training
        policy.eval()
        # DDP / FSDP / ZeRO-3 wrappers have no generate: unwrap (and gather sharded weights) first
        with unwrap_for_generation(policy) as model:
            generated = model.generate(
                **model_inputs(expanded), do_sample=True, temperature=options.temperature,
                max_new_tokens=options.max_new_tokens, **generation_options(self.tokenizer),
            )
        policy.train(was_training)
        return generated[:, expanded["input_ids"].shape[1]:]


# --- vLLM ---------------------------------------------------------------------------------------


def cuda_available() -> bool:
    return torch.cuda.is_available()


def vllm_weight_name(name: str, adapter_prefix: str = "lora_") -> str | None:
    """The checkpoint name vLLM's ``load_weights`` expects for a parameter of the (possibly peft- and
    FSDP-wrapped) policy, or None for weights vLLM has no slot for (LoRA matrices, merged already;
    the original copy of a peft ``modules_to_save`` module)."""
    for wrapper in ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module."):
        name = name.replace(wrapper, "")
    if adapter_prefix in name or "original_module" in name:
        return None
    name = name.removeprefix("base_model.model.").replace(".base_layer", "")
    return name.replace("modules_to_save.default.", "")


def policy_weights_for_inference(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """``(checkpoint name, tensor)`` of every weight of ``model`` (already unwrapped from DDP / FSDP /
    ZeRO-3, with whole parameters), LoRA adapters merged in. Merges on entry and unmerges when the
    iteration ends, so consume it completely before the next forward."""
    from peft import PeftModel

    merged = isinstance(model, PeftModel)
    if merged:
        model.merge_adapter()
    try:
        adapter_prefix = getattr(model, "prefix", "lora_") if merged else "\0"
        for name, parameter in model.named_parameters():
            target = vllm_weight_name(name, adapter_prefix)
            if target is not None:
                yield target, parameter.data
    finally:
        if merged:
            model.unmerge_adapter()


def collapse_video_placeholders(input_ids: list[int], video_token_id: int) -> list[int]:
    """Each run of ``<|video_pad|>`` tokens reduced to one: vLLM's processor expands it to the number
    of tokens its own processing of the frames gives."""
    collapsed: list[int] = []
    for token in input_ids:
        if token == video_token_id and collapsed and collapsed[-1] == video_token_id:
            continue
        collapsed.append(token)
    return collapsed


def vllm_requests(expanded: dict, videos_per_row: int, video_token_id: int, geometry: VisionGeometry) -> list[dict]:
    """One vLLM prompt per row: ``{"prompt_token_ids": the row without its left padding, video runs
    collapsed, "multi_modal_data": {"video": uint8 frames (T, H, W, 3), or a list of them}}``. The
    frames are the ones the packed video was made from (:func:`~rm_training.video.unpack_frames`), at
    the size our sampling and resizing gave them."""
    grids = expanded.get("video_grid_thw")
    videos: list[np.ndarray] = []
    if grids is not None:
        patches = grids.prod(-1).tolist()
        chunks = torch.split(expanded["pixel_values_videos"], patches)
        videos = [unpack_frames(chunk, tuple(grid.tolist()), geometry) for chunk, grid in zip(chunks, grids,
                                                                                             strict=True)]
    requests = []
    for row, (ids, mask) in enumerate(zip(expanded["input_ids"].tolist(), expanded["attention_mask"].tolist(),
                                          strict=True)):
        prompt = [token for token, keep in zip(ids, mask, strict=True) if keep]
        request: dict = {"prompt_token_ids": collapse_video_placeholders(prompt, video_token_id)}
        own = videos[row * videos_per_row:(row + 1) * videos_per_row]
        if own:
            request["multi_modal_data"] = {"video": own if len(own) > 1 else own[0]}
        requests.append(request)
    return requests


def pad_completions(completions: list[list[int]], pad_token_id: int) -> torch.Tensor:
    """Right-padded ``(rows, longest)`` ids: what ``generate`` returns after the prompt for the same
    tokens (it fills a finished row with the pad token until the longest row stops)."""
    longest = max(len(ids) for ids in completions)
    return torch.tensor([ids + [pad_token_id] * (longest - len(ids)) for ids in completions], dtype=torch.long)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class VLLMGenerator:
    """A vLLM engine in this process, sampling one completion per (repeated) prompt row.

    ``optimizer_steps`` reads the run's optimizer-step count: a different count than at the last sync
    means the policy changed, and the weights are sent before generating. The engine is built lazily
    (:meth:`for_run`), ``vllm`` imported only there.
    """

    def __init__(self, llm, sampling_params_class, tokenizer, geometry: VisionGeometry,
                 optimizer_steps: Callable[[], int]):
        self.llm = llm
        self.sampling_params_class = sampling_params_class
        self.tokenizer = tokenizer
        self.geometry = geometry
        self.optimizer_steps = optimizer_steps
        self.synced_at_step: int | None = None
        vocabulary = tokenizer.get_vocab()
        self.video_token_id = vocabulary["<|video_pad|>"]

    @classmethod
    def for_run(cls, config: TrainConfig, tokenizer, geometry: VisionGeometry, videos_per_prompt: int,
                optimizer_steps: Callable[[], int], process_index: int = 0, local_process_index: int = 0,
                num_processes: int = 1) -> VLLMGenerator:
        """The colocated engine of one training process (``tensor_parallel_size`` 1: each GPU samples
        its own prompts), reserving ``grpo.vllm_gpu_memory_utilization`` of the GPU, in the dtype the
        policy was loaded in."""
        if not cuda_available():
            raise ConfigError("grpo.backend=vllm needs a CUDA GPU; use grpo.backend=transformers on CPU")
        try:
            from vllm import LLM, SamplingParams
        except ImportError as error:
            raise ConfigError(f"grpo.backend=vllm but vllm cannot be imported ({error}); install vllm on the GPU "
                              "host or use grpo.backend=transformers") from error
        # vLLM's external launcher joins the trainer's process group (one engine per rank)
        os.environ["RANK"] = str(process_index)
        os.environ["LOCAL_RANK"] = str(local_process_index)
        os.environ["WORLD_SIZE"] = str(num_processes)
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
        dtype = str(resolve_dtype(config.dtype)).removeprefix("torch.")
        llm = LLM(
            model=config.model_path,
            dtype=dtype,
            tensor_parallel_size=1,
            gpu_memory_utilization=config.grpo.vllm_gpu_memory_utilization,
            max_model_len=config.grpo.vllm_max_model_len or config.max_text_tokens + config.grpo.max_new_tokens,
            distributed_executor_backend="external_launcher",
            seed=config.seed + process_index,
            limit_mm_per_prompt={"video": videos_per_prompt, "image": 0},
            enable_prefix_caching=True,
        )
        return cls(llm, SamplingParams, tokenizer, geometry, optimizer_steps)

    def sync_weights(self, policy: nn.Module) -> None:
        """Send the policy's current weights (gathered, LoRA merged) one tensor at a time, as TRL does."""
        model_runner = self.llm.llm_engine.model_executor.driver_worker.model_runner
        with full_parameters(policy) as model:
            for name, tensor in policy_weights_for_inference(model):
                model_runner.model.load_weights([(name, tensor)])
        # prompts cached under the old weights would be reused otherwise
        self.llm.reset_prefix_cache()
        self.synced_at_step = self.optimizer_steps()

    @torch.no_grad()
    def generate(self, policy: nn.Module, expanded: dict, videos_per_row: int, options: GRPOConfig) -> torch.Tensor:
        if self.synced_at_step != self.optimizer_steps():
            self.sync_weights(policy)
        stop = generation_options(self.tokenizer)
        params = self.sampling_params_class(
            n=1,  # the rows are already repeated K times
            temperature=options.temperature,
            top_p=1.0,
            max_tokens=options.max_new_tokens,
            stop_token_ids=[stop["eos_token_id"]],
            # generate's suppress_tokens: a sampled <|video_pad|> would break the policy's forward
            logit_bias={token: -100.0 for token in stop["suppress_tokens"]},
        )
        requests = vllm_requests(expanded, videos_per_row, self.video_token_id, self.geometry)
        outputs = self.llm.generate(requests, sampling_params=params, use_tqdm=False)
        # vLLM's token_ids end with the stop token when one stopped the completion, as generate's do
        completions = [list(output.outputs[0].token_ids) for output in outputs]
        return pad_completions(completions, self.tokenizer.pad_token_id)


def generator_for_run(config: TrainConfig, trainer, tokenizer, geometry: VisionGeometry,
                      videos_per_prompt: int) -> CompletionGenerator:
    """The generator of a run's GRPO stage (build it when the stage starts: the vLLM engine takes GPU
    memory for its whole life)."""
    if config.grpo.backend == "transformers":
        return TransformersGenerator(tokenizer)
    state = trainer.accelerator.state
    return VLLMGenerator.for_run(config, tokenizer, geometry, videos_per_prompt, lambda: trainer.step,
                                 process_index=state.process_index, local_process_index=state.local_process_index,
                                 num_processes=state.num_processes)
