"""Model code: loading the VLM backbone (optionally with LoRA) and the DeScore scoring head."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

REWARD_TOKEN = "[Reward]"
REWARD_HEAD_FILE = "reward_head.pt"
VIDEO_INPUT_KEYS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "mm_token_type_ids")


def resolve_dtype(name: str = "auto", cuda_available: bool | None = None) -> torch.dtype:
    """The torch dtype of a config's ``dtype``: ``auto`` is bfloat16 on a CUDA GPU that supports it,
    float32 otherwise (bfloat16 on CPU runs, slowly, when asked for by name)."""
    if name == "auto":
        if cuda_available is None:
            cuda_available = torch.cuda.is_available()
        return torch.bfloat16 if cuda_available and torch.cuda.is_bf16_supported() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _enable_checkpointing(model: nn.Module) -> None:
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False


def load_vlm(path: Path | str, gradient_checkpointing: bool = False, dtype: str = "auto"):
    """A local image-text-to-text model (Qwen2.5-VL by default) in ``dtype`` (see :func:`resolve_dtype`)
    and its tokenizer as saved with it."""
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=resolve_dtype(dtype))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if gradient_checkpointing:
        _enable_checkpointing(model)
    return model, tokenizer


def apply_lora(model: nn.Module, rank: int, trainable_token_indices: list[int] | None = None) -> nn.Module:
    """Wrap with peft LoRA on the attention projections; ``trainable_token_indices`` are embedding
    rows trained (and saved with the adapter) too, e.g. the new [Reward] token."""
    if not rank:
        return model
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        trainable_token_indices=trainable_token_indices,
    )
    return get_peft_model(model, lora)


def load_lora_checkpoint(
    directory: Path, base_path: str, trainable: bool = True, gradient_checkpointing: bool = False, dtype: str = "auto"
):
    """A LoRA checkpoint on top of its base model loaded in ``dtype`` (embeddings resized to the saved
    tokenizer)."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    base = AutoModelForImageTextToText.from_pretrained(base_path, dtype=resolve_dtype(dtype))
    if len(tokenizer) > base.get_input_embeddings().num_embeddings:
        base.resize_token_embeddings(len(tokenizer))
    if gradient_checkpointing:
        _enable_checkpointing(base)
    return PeftModel.from_pretrained(base, directory, is_trainable=trainable), tokenizer


def save_pretrained_state(module: nn.Module, directory: Path, state_dict: dict) -> None:
    """``module.save_pretrained(directory, state_dict=state_dict)`` (a LoRA model writes its adapter only),
    for a ``module`` whose own parameters may be shards: ``state_dict`` is the gathered full one.

    peft (0.21) picks an adapter's entries of a state dict by the names of its LoRA layers, taken from
    ``named_modules()``; inside FSDP (version 1) those names carry each wrapped layer's
    ``_fsdp_wrapped_module.`` (peft removes it only at the start of a name), so the gathered state dict,
    whose names have none, matched nothing and the adapter file came out empty. peft is shown the
    names without it."""
    if not hasattr(module, "peft_config"):
        module.save_pretrained(directory, state_dict=state_dict)
        return
    named_modules = module.named_modules

    def names_without_fsdp(*args, **kwargs):
        for name, child in named_modules(*args, **kwargs):
            yield name.replace("_fsdp_wrapped_module.", ""), child

    module.named_modules = names_without_fsdp
    try:
        module.save_pretrained(directory, state_dict=state_dict)
    finally:
        del module.named_modules


def base_model(model: nn.Module) -> nn.Module:
    """The transformers model under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def model_inputs(batch: dict) -> dict:
    keys = ("input_ids", "attention_mask", *VIDEO_INPUT_KEYS)
    return {key: batch[key] for key in keys if key in batch}


def add_reward_token(model: nn.Module, tokenizer) -> int:
    """Add the learnable ``[Reward]`` query token (a new embedding row) if missing; return its id."""
    if REWARD_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [REWARD_TOKEN]})
    token_id = tokenizer.convert_tokens_to_ids(REWARD_TOKEN)
    embeddings = base_model(model).get_input_embeddings()
    if token_id >= embeddings.num_embeddings:
        base_model(model).resize_token_embeddings(len(tokenizer))
    return token_id


def _zero_touching(parameters) -> torch.Tensor | float:
    """0, computed from the trainable ``parameters``: DDP expects a gradient for every trainable parameter at
    each step, and the reward pass never reaches the LM head nor the language-model pass the reward head."""
    trainable = [parameter for parameter in parameters if parameter.requires_grad]
    return 0.0 * sum(parameter.sum() for parameter in trainable) if trainable else 0.0


class DescoreModel(nn.Module):
    """Think-then-score (seed 001): the hidden state of the appended ``[Reward]`` token goes through
    a linear regression head, one reward per dimension (VA, VF, VP)."""

    def __init__(self, vlm: nn.Module, num_outputs: int = 3):
        super().__init__()
        self.vlm = vlm
        hidden = base_model(vlm).config.get_text_config().hidden_size
        self.head = nn.Linear(hidden, num_outputs)
        nn.init.normal_(self.head.weight, std=1.0 / hidden**0.5)
        nn.init.zeros_(self.head.bias)

    def forward(self, batch: dict | None = None, **language_model_inputs):
        """The rewards ``(rows, num_outputs)`` of a ``batch`` (``DescoreData.batch``); called with the VLM's own
        keyword arguments instead, the VLM's output (reasoning SFT loss, GRPO log-probs). Both go through this
        forward so that a DDP / FSDP wrapper around the model sees every pass."""
        if batch is None:
            output = self.vlm(**language_model_inputs)
            if output.loss is not None:
                output.loss = output.loss + _zero_touching(self.head.parameters())
            return output
        hidden = base_model(self.vlm).model(**self.backbone_inputs(batch), use_cache=False).last_hidden_state
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        # the head stays float32 whatever dtype the backbone was loaded in
        rewards = self.head(hidden[rows, batch["reward_positions"]].to(self.head.weight.dtype)).float()
        if torch.is_grad_enabled():
            rewards = rewards + _zero_touching(base_model(self.vlm).get_output_embeddings().parameters())
        return rewards

    def backbone_inputs(self, batch: dict) -> dict:
        """The backbone's inputs for ``batch``. Tokens marked in ``batch["hidden_tokens"]`` (a sequence's hidden
        reasoning) leave the attention mask, while the rotary positions stay those of the whole sequence: Qwen-VL
        otherwise numbers only attended tokens, and the ``[Reward]`` token would move with what is hidden."""
        inputs = model_inputs(batch)
        hidden_tokens = batch.get("hidden_tokens")
        if hidden_tokens is None or not bool(hidden_tokens.any()):
            return inputs
        if "video_grid_thw" in inputs:
            inputs["position_ids"], _ = base_model(self.vlm).model.get_rope_index(
                inputs["input_ids"], inputs["mm_token_type_ids"], video_grid_thw=inputs["video_grid_thw"],
                second_per_grid_ts=inputs.get("second_per_grid_ts"), attention_mask=inputs["attention_mask"],
            )
        inputs["attention_mask"] = inputs["attention_mask"] * (1 - hidden_tokens.to(inputs["attention_mask"].dtype))
        return inputs

    def get_base_model(self) -> nn.Module:
        """The transformers VLM inside (named as peft names it), so that GRPO sampling finds ``generate`` under
        the head: ``base_model(descore_model)`` is the VLM."""
        return base_model(self.vlm)

    @contextlib.contextmanager
    def disable_adapter(self) -> Iterator[None]:
        """The LoRA adapter switched off (the frozen reference of the GRPO KL penalty, without a second copy)."""
        with self.vlm.disable_adapter():
            yield

    def save(self, directory: Path, tokenizer, state_dict: dict | None = None) -> None:
        """Save the backbone (or its adapter), tokenizer and head; ``state_dict`` is this model's full state
        dict when its own parameters are shards (FSDP, ZeRO-3 gather it on every process first)."""
        state_dict = self.state_dict() if state_dict is None else state_dict
        directory.mkdir(parents=True, exist_ok=True)
        vlm_state = {name.removeprefix("vlm."): value for name, value in state_dict.items() if name.startswith("vlm.")}
        save_pretrained_state(self.vlm, directory, vlm_state)
        tokenizer.save_pretrained(directory)
        torch.save({"weight": state_dict["head.weight"], "bias": state_dict["head.bias"]}, directory / REWARD_HEAD_FILE)

    @classmethod
    def load(
        cls, directory: Path, base_path: str | None = None, gradient_checkpointing: bool = False, dtype: str = "auto"
    ) -> tuple[DescoreModel, object]:
        """Load a saved DescoreModel; LoRA checkpoints need the ``base_path`` they were trained from."""
        directory = Path(directory)
        if (directory / "adapter_config.json").is_file():
            if not base_path:
                raise ValueError(f"{directory} holds a LoRA adapter: pass the base model path it was trained from")
            vlm, tokenizer = load_lora_checkpoint(directory, base_path, True, gradient_checkpointing, dtype)
        else:
            vlm, tokenizer = load_vlm(directory, gradient_checkpointing, dtype)
        head_state = torch.load(directory / REWARD_HEAD_FILE, map_location="cpu")
        model = cls(vlm, num_outputs=head_state["weight"].shape[0])
        model.head.load_state_dict(head_state)
        return model, tokenizer


VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")


def generation_options(tokenizer) -> dict:
    """``generate`` keyword arguments shared by every sampling site: stop at ``<|im_end|>`` and never
    emit vision placeholders (a sampled ``<|video_pad|>`` would break the next forward pass, which
    counts placeholders against the video features)."""
    vocabulary = tokenizer.get_vocab()
    return {
        "eos_token_id": vocabulary.get("<|im_end|>", tokenizer.eos_token_id),
        "pad_token_id": tokenizer.pad_token_id,
        "suppress_tokens": [vocabulary[token] for token in VISION_TOKENS if token in vocabulary],
    }

