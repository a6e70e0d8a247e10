import functools
import itertools
import subprocess

import numpy as np
import pytest
import torch

from rm_training.data import (
    ChatEncoder,
    DataError,
    assistant_text,
    batch_indices,
    collate,
    prepared_batches,
    swap_videos,
    video_paths,
)
from rm_training.export import open_export
from rm_training.video import (
    VideoDecodeError,
    VideoLoader,
    VisionGeometry,
    decode_frames,
    pack_frames,
    sample_frame_indices,
    smart_resize,
)


@pytest.fixture(scope="module")
def ten_second_clip(tmp_path_factory):
    """10 s at 10 fps whose grey level names its second: luma 16 + 20 * floor(t), so an RGB frame of
    second s has mean (20 * s) * 255 / 219."""
    path = tmp_path_factory.mktemp("counting") / "seconds.mp4"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
         "color=c=black:s=64x48:r=10:d=10,format=yuv420p,geq=lum='16+20*floor(T)':cb=128:cr=128",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


def second_shown(frame: np.ndarray) -> int:
    return round(float(frame.mean()) * 219 / 255 / 20)


def test_smart_resize_keeps_sides_multiple_of_28_within_budget():
    """64x64 with budget 56*56: round(64/28)*28 = 56 on each side, 3136 <= 3136 -> 56x56.
    1080x1920 with budget 448*448: beta = sqrt(2073600 / 200704) = 3.2143;
    floor(1080 / 3.2143 / 28) * 28 = 336, floor(1920 / 3.2143 / 28) * 28 = 588."""
    assert smart_resize(64, 64, 28, 28 * 28, 56 * 56) == (56, 56)
    assert smart_resize(1080, 1920, 28, 56 * 56, 448 * 448) == (336, 588)


def test_decode_samples_frames_at_the_configured_fps(clips):
    """The clips last 1 s at 8 fps: fps 4 gives 4 frames (frames 0, 2, 4, 6), resized to 56x56.
    fps 8 with max_frames 3 gives 2: the count is floored to the temporal patch (2)."""
    sampled = decode_frames(clips["good"][0], fps=4, max_frames=16, factor=28, min_pixels=784, max_pixels=56 * 56)
    assert sampled.frames.shape == (4, 56, 56, 3)
    assert sampled.frames.dtype == np.uint8
    assert sampled.timestamps == (0.0, 0.25, 0.5, 0.75)
    assert decode_frames(clips["good"][0], 8, 3, 28, 784, 56 * 56).frames.shape[0] == 2


def test_frame_indices_follow_qwen2_vl_video_processor_sampling():
    """Qwen2VLVideoProcessor.sample_frames with fps: n = floor(min(max(duration * fps, 4),
    floor(min(max_frames, total) / 2) * 2, total) / 2) * 2, indices arange(0, total, total / n).
    300 frames at 30 fps, fps 2, max 16: 10 s * 2 = 20 -> 16; step 18.75 -> 0, 18, 37, ..., 281.
    100 frames at 10 fps, fps 2, max 16: 20 -> 16; step 6.25 -> ..., 93 (9.3 s).
    A 1 s clip (8 frames at 8 fps) at fps 1: 1 -> at least 4 frames, step 2.
    max_frames 5 is floored to 4; a single-frame clip, or max_frames 1, gives one frame."""
    long_clip = sample_frame_indices(300, 30.0, 2.0, 16)
    assert len(long_clip) == 16
    assert long_clip[:3] == [0, 18, 37] and long_clip[-1] == 281
    assert sample_frame_indices(100, 10.0, 2.0, 16)[-1] == 93
    assert sample_frame_indices(8, 8.0, 1.0, 16) == [0, 2, 4, 6]
    assert sample_frame_indices(100, 10.0, 2.0, 5) == [0, 25, 50, 75]
    assert sample_frame_indices(1, 8.0, 2.0, 16) == [0]
    assert sample_frame_indices(100, 10.0, 2.0, 1) == [0]


def test_frames_cover_the_whole_clip_and_the_last_comes_from_the_last_second(ten_second_clip):
    """Today's code took the first 16 frames at 2 fps (0 to 7.5 s): seconds 8 and 9 never reached
    the model. Uniform sampling: 16 frames at 0.0, 0.6, ..., 9.3 s, each showing its own second."""
    sampled = decode_frames(ten_second_clip, fps=2, max_frames=16, factor=28, min_pixels=784, max_pixels=56 * 56)
    assert len(sampled.timestamps) == 16
    assert [second_shown(frame) for frame in sampled.frames] == [int(t) for t in sampled.timestamps]
    assert second_shown(sampled.frames[-1]) == 9
    assert sampled.timestamps[-1] == pytest.approx(9.3)


def test_packed_clip_carries_its_sampled_timestamps(ten_second_clip):
    """16 of 100 frames at 10 fps: sampled at 16 / 100 * 10 = 1.6 fps (qwen_vl_utils' sample_fps), so
    one temporal patch of 2 frames covers 2 / 1.6 = 1.25 s (Qwen2.5-VL's second_per_grid_ts)."""
    loader = VideoLoader(VisionGeometry(), fps=2, max_frames=16, min_pixels=784, max_pixels=56 * 56)
    packed = loader.load(ten_second_clip)
    assert packed.grid_thw == (8, 4, 4)
    assert packed.timestamps[0] == 0.0 and packed.timestamps[-1] == pytest.approx(9.3)
    assert packed.second_per_grid == pytest.approx(1.25)


def test_decoding_a_non_video_raises_a_decode_error(tmp_path):
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"not a video")
    with pytest.raises(VideoDecodeError):
        decode_frames(bogus, 4, 4, 28, 784, 3136)


def test_packing_follows_qwen_patch_order():
    """3 frames of 56x56 (padded to 4 frames by repeating the last) -> grid (2, 4, 4), 32 patches of
    3 * 2 * 14 * 14 = 1176 values, 32 / 2^2 = 8 video tokens.
    Order of patches: (t, h // 2, w // 2, h % 2, w % 2). A marker at frame 0, channel 0, row 14,
    column 0 lies in patch row h = 1, column w = 0: patch index 0 * 16 + (0 * 2 + 0) * 4 + (1 * 2 + 0) = 2;
    inside the patch (C, t, y, x) it is offset 0. A marker at frame 1, row 0, col 15, channel 2 sits
    in patch w = 1 (index 1), offset 2 * 392 + 1 * 196 + 0 * 14 + 1 = 981."""
    frames = np.zeros((3, 56, 56, 3), dtype=np.uint8)
    frames[0, 14, 0, 0] = 255
    frames[1, 0, 15, 2] = 255
    geometry = VisionGeometry(image_mean=(0.0, 0.0, 0.0), image_std=(1.0, 1.0, 1.0))
    packed = pack_frames(frames, geometry, fps=4)
    assert packed.grid_thw == (2, 4, 4)
    assert packed.pixel_values.shape == (32, 1176)
    assert packed.num_tokens == 8
    assert packed.second_per_grid == 0.5
    assert torch.nonzero(packed.pixel_values).tolist() == [[1, 981], [2, 0]]
    # frame 2 is repeated as frame 3 to fill the temporal patch: second temporal slot equals the first
    second_t = packed.pixel_values[16:].view(16, 3, 2, 14, 14)
    assert torch.equal(second_t[:, :, 0], second_t[:, :, 1])


def _encoder(export_dir, tiny_model_path, max_tokens=512):
    from transformers import AutoConfig, AutoTokenizer

    geometry = VisionGeometry.from_model_config(AutoConfig.from_pretrained(tiny_model_path))
    loader = VideoLoader(geometry, fps=4, max_frames=4, min_pixels=784, max_pixels=56 * 56)
    return ChatEncoder(AutoTokenizer.from_pretrained(tiny_model_path), open_export(export_dir), loader, max_tokens)


def test_sft_rows_become_model_inputs_that_the_tiny_vlm_accepts(make_export, tiny_model_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    export = make_export("cot-sft", sizes={"train": 2, "validation": 1, "test": 1})
    encoder = _encoder(export, tiny_model_path)
    rows = open_export(export).rows("train")

    sequences = [encoder.encode(row["messages"], completion=assistant_text(row["messages"])) for row in rows]
    batch = collate(sequences, encoder.tokenizer.pad_token_id, encoder.video_token_id)
    assert batch["video_grid_thw"].tolist() == [[2, 4, 4]] * 4
    assert int((batch["mm_token_type_ids"] == 2).sum()) == 4 * 8
    target = batch["labels"][0][batch["labels"][0] != -100]
    assert encoder.tokenizer.decode(target).startswith("<think>")
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_path)
    output = model(**batch)
    assert torch.isfinite(output.loss)


def test_a_qwen3_vl_model_is_refused_by_the_chat_encoder_with_the_reason(make_export, tiny_model_path):
    from transformers import AutoTokenizer, Qwen3VLConfig

    export = make_export("cot-sft", sizes={"train": 1, "validation": 1, "test": 1})
    loader = VideoLoader(VisionGeometry.from_model_config(Qwen3VLConfig()), 4, 4, 1024, 64 * 64)
    with pytest.raises(DataError, match="Qwen3-VL prompts put a '<t seconds>' timestamp"):
        ChatEncoder(AutoTokenizer.from_pretrained(tiny_model_path), open_export(export), loader, 512)


def test_a_prompt_longer_than_the_budget_is_a_data_error(make_export, tiny_model_path):
    export = make_export("cot-sft", sizes={"train": 1, "validation": 1, "test": 1})
    encoder = _encoder(export, tiny_model_path, max_tokens=20)
    with pytest.raises(DataError, match="max_text_tokens"):
        encoder.encode(open_export(export).rows("train")[0]["messages"], completion="x")


def test_swapping_videos_exchanges_the_two_clips():
    messages = [{"role": "user", "content": [{"type": "video", "video": "a"}, {"type": "video", "video": "b"}]}]
    assert video_paths(swap_videos(messages)) == ["b", "a"]
    assert video_paths(messages) == ["a", "b"]


def test_batches_resume_in_the_same_order():
    full = batch_indices(5, 2, seed=3)
    first_six = [next(full) for _ in range(6)]
    resumed = batch_indices(5, 2, seed=3, start_batch=4)
    assert [next(resumed), next(resumed)] == first_six[4:]
    assert all(len(batch) == 2 for batch in first_six)


def test_two_processes_read_disjoint_batch_positions():
    single = batch_indices(8, 2, seed=1)
    sequence = [next(single) for _ in range(6)]
    rank0 = batch_indices(8, 2, seed=1, start_batch=0, stride=2)
    rank1 = batch_indices(8, 2, seed=1, start_batch=1, stride=2)
    assert [next(rank0) for _ in range(3)] == sequence[0::2]
    assert [next(rank1) for _ in range(3)] == sequence[1::2]


def test_parquet_rows_match_jsonl_rows_when_the_jsonl_is_absent(make_export):
    from rm_training.data import assistant_text

    export_dir = make_export("cot-sft", sizes={"train": 3, "validation": 1, "test": 1})
    from_jsonl = open_export(export_dir).rows("train")
    (export_dir / "train.jsonl").unlink()
    from_parquet = open_export(export_dir).rows("train")
    for json_row, parquet_row in zip(from_jsonl, from_parquet, strict=True):
        assert parquet_row["labels"] == json_row["labels"]
        assert parquet_row["criteria"] == json_row["criteria"]
        assert video_paths(parquet_row["messages"]) == video_paths(json_row["messages"])
        assert assistant_text(parquet_row["messages"]) == assistant_text(json_row["messages"])


def test_the_clip_cache_stays_within_its_byte_bound_and_evicts_the_least_recently_used(clips):
    """Each 1 s clip packs to 4 frames of 56x56: grid (2, 4, 4) = 32 patches x 1176 float32
    = 150,528 bytes. A bound of 2.5 clips holds two: loading a, b, a, c evicts b (least recently
    used), not a; the cached bytes never exceed the bound."""
    a, b, c = clips["good"][0], clips["good"][1], clips["bad"][0]
    clip_bytes = 32 * 1176 * 4
    loader = VideoLoader(VisionGeometry(), fps=4, max_frames=4, min_pixels=784, max_pixels=56 * 56,
                         cache_bytes=int(2.5 * clip_bytes))
    for path in (a, b, a, c):
        loader.load(path)
        assert loader.cached_bytes <= loader.cache_bytes
    assert loader.cached_paths() == [str(a), str(c)]
    assert loader.cached_bytes == 2 * clip_bytes
    assert loader.load(a) is loader.load(a)


def test_a_clip_larger_than_the_cache_is_packed_but_not_kept(clips):
    loader = VideoLoader(VisionGeometry(), fps=4, max_frames=4, min_pixels=784, max_pixels=56 * 56, cache_bytes=1000)
    assert loader.load(clips["good"][0]).grid_thw == (2, 4, 4)
    assert loader.cached_paths() == [] and loader.cached_bytes == 0


def test_two_dataloader_workers_yield_the_batches_of_zero_workers(make_export, tiny_model_path):
    """Five shuffled batches of two SFT rows (four clips each), encoded in this process and by two
    worker processes: same order, same tokens, same pixel values and timestamps."""
    export = make_export("cot-sft", sizes={"train": 5, "validation": 1, "test": 1})
    encoder = _encoder(export, tiny_model_path)
    rows = open_export(export).rows("train")

    def prepare(indices: list[int]):
        return indices, [encoder.encode(rows[i]["messages"], completion=assistant_text(rows[i]["messages"]))
                         for i in indices]

    make_batches = functools.partial(batch_indices, len(rows), 2, seed=7)
    in_process = list(itertools.islice(prepared_batches(make_batches, prepare, num_workers=0), 5))
    with_workers = list(itertools.islice(prepared_batches(make_batches, prepare, num_workers=2), 5))
    assert [indices for indices, _ in with_workers] == [indices for indices, _ in in_process]
    assert len({tuple(indices) for indices, _ in in_process}) > 1
    for (_, expected), (_, got) in zip(in_process, with_workers, strict=True):
        assert [s.input_ids for s in got] == [s.input_ids for s in expected]
        assert [s.labels for s in got] == [s.labels for s in expected]
        for expected_video, got_video in zip(
            [v for s in expected for v in s.videos], [v for s in got for v in s.videos], strict=True
        ):
            assert torch.equal(got_video.pixel_values, expected_video.pixel_values)
            assert got_video.timestamps == expected_video.timestamps


def test_descore_trains_the_same_with_two_decoding_workers(make_export, tiny_model_path, tmp_path):
    """Two BT steps, clips decoded in the step (video.num_workers=0) or ahead of it by two DataLoader
    workers: the same batches reach the model, so the losses are the same."""
    import json

    from rm_training.cli import main

    export = make_export("cot-sft", sizes={"train": 4, "validation": 1, "test": 1})
    losses = {}
    for workers in (0, 2):
        run = tmp_path / f"workers{workers}"
        assert main(["train", "--recipe", "descore", "--data", str(export), "--out", str(run),
                     f"model_path={tiny_model_path}", "video.fps=4", "video.max_frames=4", "video.max_pixels=3136",
                     "stages.sft_steps=2", f"video.num_workers={workers}"]) == 0
        losses[workers] = json.loads((run / "train_metrics.json").read_text())["train_losses"]
    assert len(losses[2]) == 2
    assert losses[2] == pytest.approx(losses[0], rel=1e-5)
