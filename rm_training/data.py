"""Turning export rows into token sequences with packed videos, and batches for the model.

Chat rendering follows Qwen2.5-VL's template: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` with
a video part rendered as ``<|vision_start|>`` + ``<|video_pad|>`` x N + ``<|vision_end|>``, where N
is the number of merged patches of the packed clip. Only the assistant completion is a training
target (labels -100 elsewhere).
"""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from rm_training.export import Export
from rm_training.video import PackedVideo, VideoLoader

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
VISION_START, VISION_END, VIDEO_PAD = "<|vision_start|>", "<|vision_end|>", "<|video_pad|>"
IGNORE_INDEX = -100


class DataError(ValueError):
    """A row cannot be turned into a training sequence."""


@dataclass
class EncodedSequence:
    input_ids: list[int]
    labels: list[int]
    videos: list[PackedVideo]
    completion_start: int
    # token range of the critique text (descore random CoT masking); empty when there is none
    cot_span: tuple[int, int] = (0, 0)
    meta: dict = field(default_factory=dict)


def prompt_messages(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m.get("role") != "assistant"]


def assistant_text(messages: list[dict]) -> str:
    texts = [
        part.get("text", "")
        for message in messages
        if message.get("role") == "assistant"
        for part in message.get("content", [])
        if part.get("type") == "text"
    ]
    if not texts:
        raise DataError("row has no assistant turn")
    return "".join(texts)


def video_paths(messages: list[dict]) -> list[str]:
    return [
        part["video"]
        for message in messages
        for part in message.get("content", [])
        if isinstance(part, dict) and part.get("type") == "video"
    ]


def swap_videos(messages: list[dict]) -> list[dict]:
    """The same conversation with the two video parts exchanged (A/B position swap)."""
    swapped = copy.deepcopy(messages)
    parts = [part for message in swapped for part in message.get("content", []) if part.get("type") == "video"]
    if len(parts) != 2:
        raise DataError(f"expected two video parts to swap, found {len(parts)}")
    parts[0]["video"], parts[1]["video"] = parts[1]["video"], parts[0]["video"]
    return swapped


def replace_question(messages: list[dict], question: str) -> list[dict]:
    """The prompt with its last user text part (the question) replaced."""
    replaced = copy.deepcopy(prompt_messages(messages))
    for message in reversed(replaced):
        if message.get("role") != "user":
            continue
        for part in reversed(message["content"]):
            if part.get("type") == "text":
                part["text"] = question
                return replaced
    raise DataError("the user turn has no text part to replace")


class ChatEncoder:
    """Renders Qwen-VL chats, tokenizes them and loads their videos from the export."""

    def __init__(self, tokenizer, export: Export, videos: VideoLoader, max_tokens: int):
        if videos.geometry.model_type == "qwen3_vl":
            raise DataError(
                "Qwen3-VL prompts put a '<t seconds>' timestamp before each temporal patch of a video and take no "
                "second_per_grid_ts; this encoder renders Qwen2-VL / Qwen2.5-VL prompts only (the video packer "
                "supports Qwen3-VL's patch 16 and mean/std 0.5)"
            )
        self.tokenizer = tokenizer
        self.export = export
        self.videos = videos
        self.max_tokens = max_tokens
        vocabulary = tokenizer.get_vocab()
        missing = [t for t in (IM_START, IM_END, VISION_START, VISION_END, VIDEO_PAD) if t not in vocabulary]
        if missing:
            raise DataError(f"tokenizer lacks Qwen-VL special tokens: {', '.join(missing)}")
        self.video_token_id = vocabulary[VIDEO_PAD]
        self.im_end_id = vocabulary[IM_END]

    def _tokens(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def render_prompt(self, messages: list[dict], packed: list[PackedVideo]) -> str:
        pieces, clip = [], iter(packed)
        for message in prompt_messages(messages):
            pieces.append(f"{IM_START}{message['role']}\n")
            for part in message.get("content", []):
                if part.get("type") == "text":
                    pieces.append(part.get("text", ""))
                elif part.get("type") == "video":
                    pieces.append(VISION_START + VIDEO_PAD * next(clip).num_tokens + VISION_END)
                else:
                    raise DataError(f"unsupported content part type {part.get('type')!r}")
            pieces.append(f"{IM_END}\n")
        pieces.append(f"{IM_START}assistant\n")
        return "".join(pieces)

    def encode(
        self,
        messages: list[dict],
        completion: str | None = None,
        cot: str | None = None,
        suffix_ids: list[int] | None = None,
        meta: dict | None = None,
    ) -> EncodedSequence:
        """Prompt (+ optional ``cot`` text, + optional ``completion`` target, + ``suffix_ids``).

        ``completion`` is a training target followed by ``<|im_end|>``. ``cot`` is context that is
        not a target (descore scores it). ``suffix_ids`` are appended raw (the [Reward] token).
        """
        packed = [self.videos.load(self.export.media_path(path)) for path in video_paths(prompt_messages(messages))]
        prompt_ids = self._tokens(self.render_prompt(messages, packed))
        expected = sum(video.num_tokens for video in packed)
        if prompt_ids.count(self.video_token_id) != expected:
            raise DataError(f"prompt has {prompt_ids.count(self.video_token_id)} video tokens, expected {expected}")
        cot_ids = self._tokens(cot) if cot else []
        target_ids = self._tokens(completion) + [self.im_end_id] if completion is not None else []
        suffix_ids = list(suffix_ids or [])
        budget = self.max_tokens - len(prompt_ids) - len(suffix_ids)
        if budget < 1:
            raise DataError(
                f"the prompt alone is {len(prompt_ids)} tokens, over max_text_tokens={self.max_tokens}; "
                "lower video.max_pixels / video.max_frames or raise max_text_tokens"
            )
        cot_ids = cot_ids[: max(0, budget - len(target_ids))] if target_ids else cot_ids[:budget]
        target_ids = target_ids[: budget - len(cot_ids)]
        input_ids = prompt_ids + cot_ids + target_ids + suffix_ids
        labels = [IGNORE_INDEX] * (len(prompt_ids) + len(cot_ids)) + target_ids + [IGNORE_INDEX] * len(suffix_ids)
        cot_span = (len(prompt_ids), len(prompt_ids) + len(cot_ids))
        return EncodedSequence(
            input_ids=input_ids,
            labels=labels,
            videos=packed,
            completion_start=len(prompt_ids) + len(cot_ids),
            cot_span=cot_span,
            meta=meta or {},
        )


def collate(
    sequences: list[EncodedSequence], pad_token_id: int, video_token_id: int, padding_side: str = "right"
) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence and concatenate the videos in order of appearance."""
    length = max(len(s.input_ids) for s in sequences)
    input_ids, attention, labels = [], [], []
    for sequence in sequences:
        pad = length - len(sequence.input_ids)
        ids, mask, target = sequence.input_ids, [1] * len(sequence.input_ids), sequence.labels
        if padding_side == "right":
            input_ids.append(ids + [pad_token_id] * pad)
            attention.append(mask + [0] * pad)
            labels.append(target + [IGNORE_INDEX] * pad)
        else:
            input_ids.append([pad_token_id] * pad + ids)
            attention.append([0] * pad + mask)
            labels.append([IGNORE_INDEX] * pad + target)
    batch = {
        "input_ids": torch.tensor(input_ids, dtype=torch.long),
        "attention_mask": torch.tensor(attention, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
    }
    batch["mm_token_type_ids"] = (batch["input_ids"] == video_token_id).int() * 2
    videos = [video for sequence in sequences for video in sequence.videos]
    if videos:
        batch["pixel_values_videos"] = torch.cat([video.pixel_values for video in videos])
        batch["video_grid_thw"] = torch.tensor([video.grid_thw for video in videos], dtype=torch.long)
        batch["second_per_grid_ts"] = torch.tensor([video.second_per_grid for video in videos])
    return batch


def batch_indices(
    num_items: int, batch_size: int, seed: int, start_batch: int = 0, stride: int = 1
) -> Iterator[list[int]]:
    """Endless shuffled batches ``start_batch, start_batch + stride, ...``; batch ``n`` is the same
    whatever ``start_batch`` is, so a resumed run sees the data in the order an uninterrupted run
    would have. With several processes, process ``p`` of ``P`` starts at ``P * first + p`` with
    stride ``P`` so the processes read different batches."""
    if num_items == 0:
        raise DataError("no training examples")
    batches_per_epoch = max(1, num_items // batch_size) if num_items >= batch_size else 1
    index = start_batch
    while True:
        epoch, position = divmod(index, batches_per_epoch)
        order = list(range(num_items))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        chosen = order[position * batch_size: position * batch_size + batch_size]
        if len(chosen) < batch_size:
            chosen += order[: batch_size - len(chosen)]
        yield chosen
        index += stride


class _PreparedBatches(IterableDataset):
    """``prepare(indices)`` for each batch of ``make_batches()``; worker ``w`` of ``W`` takes batches
    ``w, w + W, ...``, and the DataLoader reads its workers in turn, so the order is the stream's."""

    def __init__(self, make_batches: Callable[[], Iterable[list[int]]], prepare: Callable[[list[int]], Any]):
        self.make_batches = make_batches
        self.prepare = prepare

    def __iter__(self) -> Iterator[Any]:
        batches = iter(self.make_batches())
        worker = get_worker_info()
        if worker is not None:
            batches = itertools.islice(batches, worker.id, None, worker.num_workers)
        for indices in batches:
            yield self.prepare(indices)


def _unchanged(item: Any) -> Any:
    return item


def prepared_batches(
    make_batches: Callable[[], Iterable[list[int]]], prepare: Callable[[list[int]], Any], num_workers: int
) -> Iterator[Any]:
    """``prepare(indices)`` of each batch, in order, computed by ``num_workers`` DataLoader worker
    processes two batches ahead each (0: in this process, when asked), so decoding and tokenising
    the next batches overlaps the training step. ``prepare`` runs on CPU and must not touch the GPU;
    workers are forked, each with its own copy (and clip cache) of what ``prepare`` holds."""
    if num_workers == 0:
        return (prepare(indices) for indices in make_batches())
    loader = DataLoader(
        _PreparedBatches(make_batches, prepare),
        batch_size=None,
        num_workers=num_workers,
        collate_fn=_unchanged,
        prefetch_factor=2,
        # its own generator: seeding the workers must not advance the global RNG the step samples from
        generator=torch.Generator().manual_seed(0),
    )
    return iter(loader)
