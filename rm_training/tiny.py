"""Tiny randomly initialised Qwen2.5-VL checkpoints and tokenizers, for tests and CPU benchmarks.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on a few rubric sentences and the
model is built from a config with random weights, then both are saved to a local folder.
"""

from __future__ import annotations

from pathlib import Path

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|vision_pad|>",
]

_CORPUS = [
    "You are a seasoned film and television analyst. Compare Video A and Video B.",
    "Video A: Video B: Which video is better in visual aesthetics, visual fidelity and visual plausibility?",
    "<think> VA1 Shot composition: A: centred subject. B: tilted horizon. Verdict: 1 </think>",
    "<answer>VA: 1, VF: -1, VP: 0</answer> <answer>0.62</answer>",
    "Video A outperforms Video B in visual aesthetics, while the two are comparable in visual fidelity.",
    "Colour harmony and grading Lighting Camera language Depth and focus Mood and narrative",
    "Style coherence Clarity and sharpness Detail and texture Exposure Artifact-free rendering",
    "Temporal stability Physical plausibility Motion naturalness Structural integrity",
    "Which video has the more centred composition? Is the camera stable? yes no",
    "0 1 2 3 4 5 6 7 8 9 -1 . , : ; ( ) [ ] score reward system user assistant",
]


def build_tiny_tokenizer(vocab_size: int = 400):
    """A byte-level BPE tokenizer with Qwen's special tokens, wrapped as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=QWEN_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.padding_side = "left"
    return tokenizer


def tiny_qwen2_5_vl_config(
    tokenizer,
    hidden_size: int = 32,
    num_layers: int = 2,
    vision_depth: int = 1,
    num_heads: int = 2,
    num_key_value_heads: int = 1,
):
    """A Qwen2.5-VL config small enough to train in seconds on one CPU core.

    The default single key/value head is the cheapest; a model that must tell its two videos apart (the aesrm
    pair prompt) needs more: with one key/value head the benchmark's aesrm-base answered the same verdicts
    whichever video came first (see benchmarks/learning.py)."""
    from transformers import Qwen2_5_VLConfig

    head_dim = hidden_size // num_heads
    # mrope_section splits head_dim / 2 rotary frequencies between time, height and width.
    quarter = head_dim // 2 // 4
    mrope_section = [head_dim // 2 - 2 * quarter, quarter, quarter]
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": hidden_size * 2,
            "num_hidden_layers": num_layers,
            "num_attention_heads": num_heads,
            "num_key_value_heads": num_key_value_heads,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope_section},
            "bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
            "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "depth": vision_depth,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_heads": 2,
            "out_hidden_size": hidden_size,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [0],
            "tokens_per_second": 2,
        },
        image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
    )


def qwen2_5_vl_3b_like_config(tokenizer):
    """Qwen2.5-VL-3B dimensions (36 layers, hidden 2048, 32-block ViT of width 1280) with the tiny
    tokenizer's vocabulary: a real-size compute profile for GPU benchmarks, random weights."""
    from transformers import Qwen2_5_VLConfig

    config = tiny_qwen2_5_vl_config(tokenizer)
    text = config.text_config.to_dict()
    text.update(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                num_key_value_heads=2, max_position_embeddings=32768,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
                layer_types=None, max_window_layers=36)
    vision = config.vision_config.to_dict()
    vision.update(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                  window_size=112, fullatt_block_indexes=[7, 15, 23, 31])
    return Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, image_token_id=config.image_token_id,
        video_token_id=config.video_token_id, vision_start_token_id=config.vision_start_token_id,
        vision_end_token_id=config.vision_end_token_id,
    )


def save_tiny_qwen2_5_vl(path: Path | str, seed: int = 0, real_size: bool = False, **config_options) -> Path:
    """Build a tiny (or, with ``real_size``, a 3B-shaped) random Qwen2.5-VL and its tokenizer and
    save both under ``path``."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    path = Path(path)
    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    config = qwen2_5_vl_3b_like_config(tokenizer) if real_size else tiny_qwen2_5_vl_config(tokenizer, **config_options)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
