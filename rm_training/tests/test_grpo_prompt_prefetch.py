"""GRPO prompt batches (video decoding, packing, tokenising, collating) are prepared ahead of the
step by ``video.num_workers`` DataLoader workers, as the descore / atomic / SFT stages' batches are."""

from __future__ import annotations

import functools
import itertools
import os

import torch

from rm_training.cli import main
from rm_training.config import TrainConfig
from rm_training.data import ChatEncoder, batch_indices, prepared_batches
from rm_training.export import open_export
from rm_training.grpo import encode_prompt_batch

FAST = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "optim.batch_size=2",
        "grpo.max_new_tokens=8", "grpo.num_generations=2", "stages.sft_steps=0", "stages.grpo_steps=3",
        "save_every=1000"]


def test_prompt_batches_from_two_workers_equal_those_made_in_process(make_export, tiny_model_path):
    from rm_training.recipes.aesrm import build

    export = open_export(make_export("aesrm-base-sft", sizes={"train": 5, "validation": 1, "test": 1}))
    config = TrainConfig(recipe="aesrm-base", model_path=str(tiny_model_path))
    config.video.fps, config.video.max_frames, config.video.max_pixels = 4, 4, 3136
    _, _, encoder = build(config, export, tiny_model_path)
    rows = export.rows("train")
    make_batches = functools.partial(batch_indices, len(rows), 2, seed=3)
    prepare = functools.partial(encode_prompt_batch, encoder, rows)
    in_process = list(itertools.islice(prepared_batches(make_batches, prepare, 0), 5))
    from_workers = list(itertools.islice(prepared_batches(make_batches, prepare, 2), 5))
    for mine, theirs in zip(in_process, from_workers, strict=True):
        assert mine.indices == theirs.indices and mine.videos_per_row == theirs.videos_per_row == 2
        assert set(mine.batch) == set(theirs.batch)
        for key, value in mine.batch.items():
            assert torch.equal(value, theirs.batch[key]), key


def test_a_grpo_run_encodes_its_prompts_in_the_workers(make_export, tiny_model_path, tmp_path, monkeypatch):
    """Each ChatEncoder.encode call appends its process id to a file (the workers are other
    processes, forked with the patched class): with video.num_workers=2, two processes encode, and
    the training process none."""
    log = tmp_path / "encoders.txt"
    encode = ChatEncoder.encode

    def logged(self, *args, **kwargs):
        with open(log, "a") as out:
            out.write(f"{os.getpid()}\n")
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(ChatEncoder, "encode", logged)
    export = make_export("rl-prompts", sizes={"train": 6, "validation": 1, "test": 1})
    assert main(["train", "--recipe", "rapo", "--data", str(export), "--out", str(tmp_path / "run"),
                 f"model_path={tiny_model_path}", *FAST, "video.num_workers=2"]) == 0
    encoders = set(log.read_text().split())
    assert len(encoders) == 2 and str(os.getpid()) not in encoders
