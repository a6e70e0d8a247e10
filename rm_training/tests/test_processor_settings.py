"""The video processing settings saved with a model folder drive our frame sampling and packing."""

from __future__ import annotations

import json
import shutil

import pytest

from rm_training.config import ConfigError, TrainConfig, load_config
from rm_training.data import prompt_messages, video_paths
from rm_training.export import open_export
from rm_training.video import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_PIXELS,
    VisionGeometry,
    decode_frames,
    pack_frames,
    processor_settings,
)


@pytest.fixture
def model_with_processor_configs(tiny_model_path, tmp_path):
    """The tiny model with the image processor config transformers itself writes (mean/std 0.5, a
    1,568-12,544 px budget) and a video processor config in the same format with its own budget
    (784-3,136 px), which wins for video."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_path, folder)
    Qwen2VLImageProcessorPil(min_pixels=1568, max_pixels=12544, image_mean=[0.5] * 3,
                             image_std=[0.5] * 3).save_pretrained(folder)
    (folder / "video_preprocessor_config.json").write_text(json.dumps({
        "video_processor_type": "Qwen2VLVideoProcessor", "size": {"shortest_edge": 784, "longest_edge": 3136},
        "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2, "fps": 2.0, "min_frames": 4, "max_frames": 768,
    }))
    return folder


def test_settings_are_read_from_both_files_the_video_one_winning(model_with_processor_configs):
    assert json.loads((model_with_processor_configs / "preprocessor_config.json").read_text())["size"] == {
        "shortest_edge": 1568, "longest_edge": 12544}
    assert processor_settings(model_with_processor_configs) == {
        "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
        "min_pixels": 784, "max_pixels": 3136,
    }


def test_hub_style_min_and_max_pixels_keys_are_read(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"min_pixels": 3136, "max_pixels": 12845056,
                                                                   "patch_size": 14}))
    assert processor_settings(tmp_path) == {"patch_size": 14, "min_pixels": 3136, "max_pixels": 12845056}
    assert processor_settings(tmp_path / "missing") == {}


def _build(model_dir, *overrides):
    from rm_training.recipes.aesrm import build

    config = load_config(None, ["video.fps=4", "video.max_frames=4", *overrides], recipe="aesrm-base",
                         model_path=str(model_dir))
    return config, build


def test_a_run_packs_clips_with_the_model_folders_settings(model_with_processor_configs, make_export):
    """Nothing set in the run config: mean/std 0.5 and the video budget 784-3,136 px of the folder,
    so a clip is packed exactly as pack_frames does with those settings."""
    export = open_export(make_export("aesrm-base-sft", sizes={"train": 1, "validation": 1, "test": 1}))
    config, build = _build(model_with_processor_configs)
    _, _, encoder = build(config, export, model_with_processor_configs)
    loader = encoder.videos
    assert loader.geometry.image_mean == (0.5, 0.5, 0.5) and loader.geometry.image_std == (0.5, 0.5, 0.5)
    assert (loader.min_pixels, loader.max_pixels) == (784, 3136)

    messages = prompt_messages(export.rows("train")[0]["messages"])
    encoded = encoder.encode(messages)
    clip = export.media_path(video_paths(messages)[0])
    sampled = decode_frames(clip, 4, 4, 28, 784, 3136)
    geometry = VisionGeometry(image_mean=(0.5,) * 3, image_std=(0.5,) * 3)
    expected = pack_frames(sampled.frames, geometry, sampled.sampled_fps, sampled.timestamps)
    assert encoded.videos[0].grid_thw == expected.grid_thw
    assert encoded.videos[0].pixel_values.equal(expected.pixel_values)


def test_a_pixel_budget_set_in_the_run_config_wins(model_with_processor_configs, make_export):
    export = open_export(make_export("aesrm-base-sft", sizes={"train": 1, "validation": 1, "test": 1}))
    config, build = _build(model_with_processor_configs, "video.max_pixels=6272")
    _, _, encoder = build(config, export, model_with_processor_configs)
    assert (encoder.videos.min_pixels, encoder.videos.max_pixels) == (784, 6272)


def test_without_processor_configs_the_defaults_stand(tiny_model_path, make_export):
    export = open_export(make_export("aesrm-base-sft", sizes={"train": 1, "validation": 1, "test": 1}))
    config, build = _build(tiny_model_path)
    _, _, encoder = build(config, export, tiny_model_path)
    assert (encoder.videos.min_pixels, encoder.videos.max_pixels) == (DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS)
    assert encoder.videos.geometry == VisionGeometry()


def test_pixel_budget_keys_are_unset_by_default_and_checked_when_set():
    assert TrainConfig().video.max_pixels is None and TrainConfig().video.min_pixels is None
    with pytest.raises(ConfigError, match="video.max_pixels must be an integer"):
        load_config(None, ["video.max_pixels=lots"])
    with pytest.raises(ConfigError, match="must be >= video.min_pixels"):
        load_config(None, ["video.max_pixels=1000", "video.min_pixels=2000"])
