"""Our video packer against transformers' own Qwen2-VL processing, on real ffmpeg frames.

transformers' video processor (``Qwen2VLVideoProcessor``) needs torchvision, which fails with the CPU
torch wheel here, so the reference is transformers' numpy/PIL image processor
``Qwen2VLImageProcessorPil``. It packs one image as a temporal patch of two copies of the frame;
a video patch holds two consecutive frames in the same layout ``(C, temporal, patch, patch)``.
So frame ``i`` of a clip must equal, in temporal slot ``i % 2`` of temporal group ``i // 2``, the
same slot of the image processor's output for that frame alone, resized from the frame's own size.
"""

from __future__ import annotations

import subprocess

import pytest
import torch

from rm_training.video import VideoLoader, VisionGeometry, decode_frames, pack_frames


@pytest.fixture(scope="module")
def testsrc_clip(tmp_path_factory):
    """2 s of testsrc2 at 8 fps, 320x180: sharp edges and colour bars, so resizing differences show."""
    path = tmp_path_factory.mktemp("testsrc") / "testsrc2.mp4"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=8", "-t", "2",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


def _per_frame_reference(processor, native_frames, patch: int) -> list[tuple[torch.Tensor, list[int]]]:
    outputs = []
    for frame in native_frames:
        result = processor(images=[frame], return_tensors="np")
        pixels = torch.from_numpy(result["pixel_values"])
        outputs.append((pixels.view(pixels.shape[0], 3, 2, patch, patch), result["image_grid_thw"][0].tolist()))
    return outputs


def _assert_frames_match(packed, reference, patch: int) -> None:
    grid_t, grid_h, grid_w = packed.grid_thw
    per_group = grid_h * grid_w
    ours = packed.pixel_values.view(grid_t, per_group, 3, 2, patch, patch)
    assert len(reference) == 2 * grid_t
    for index, (theirs, grid) in enumerate(reference):
        group, slot = divmod(index, 2)
        assert grid == [1, grid_h, grid_w]
        torch.testing.assert_close(ours[group, :, :, slot], theirs[:, :, slot], rtol=0, atol=1e-6)


def test_qwen2_5_vl_packing_equals_transformers_image_processor_frame_by_frame(testsrc_clip):
    """8 frames (2 s x 4 fps) of 320x180 with a 112x112 budget: smart_resize -> 84x140, grid
    (4, 6, 10). Pixel values equal the image processor's (PIL bicubic resize from 320x180, rescale,
    CLIP mean/std, patch 14, merge 2) to float32 rounding, frame by frame."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    loader = VideoLoader(VisionGeometry(), fps=4, max_frames=8, min_pixels=784, max_pixels=112 * 112)
    packed = loader.load(testsrc_clip)
    assert packed.grid_thw == (4, 6, 10)
    # factor 4 and an unbounded budget keep 320x180 as it is: the same frames at their own size
    native = decode_frames(testsrc_clip, fps=4, max_frames=8, factor=4, min_pixels=784, max_pixels=10**6)
    assert native.frames.shape == (8, 180, 320, 3)
    processor = Qwen2VLImageProcessorPil(min_pixels=784, max_pixels=112 * 112)
    _assert_frames_match(packed, _per_frame_reference(processor, native.frames, 14), 14)


def test_qwen3_vl_geometry_is_patch_16_with_mean_and_std_one_half():
    """Qwen3-VL's vision config: patch 16, temporal 2, merge 2; its processors normalise with
    IMAGENET_STANDARD_MEAN / STD = 0.5."""
    from transformers import Qwen3VLConfig

    geometry = VisionGeometry.from_model_config(Qwen3VLConfig())
    assert (geometry.patch_size, geometry.temporal_patch_size, geometry.merge_size) == (16, 2, 2)
    assert geometry.image_mean == geometry.image_std == (0.5, 0.5, 0.5)


def test_qwen3_vl_packing_equals_transformers_image_processor_with_qwen3_settings(testsrc_clip):
    """Same frames with factor 32 (patch 16 x merge 2) and a 128x128 budget: 320x180 -> 96x160,
    grid (4, 6, 10); the reference is the image processor set as Qwen3-VL's preprocessor config sets
    it (patch 16, mean/std 0.5): there is no separate Qwen3-VL image processor in transformers."""
    from transformers import Qwen3VLConfig
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    geometry = VisionGeometry.from_model_config(Qwen3VLConfig())
    sampled = decode_frames(testsrc_clip, fps=4, max_frames=8, factor=32, min_pixels=1024, max_pixels=128 * 128)
    packed = pack_frames(sampled.frames, geometry, fps=4, timestamps=sampled.timestamps)
    assert packed.grid_thw == (4, 6, 10)
    native = decode_frames(testsrc_clip, fps=4, max_frames=8, factor=4, min_pixels=784, max_pixels=10**6)
    processor = Qwen2VLImageProcessorPil(
        min_pixels=1024, max_pixels=128 * 128, patch_size=16, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    _assert_frames_match(packed, _per_frame_reference(processor, native.frames, 16), 16)


def test_an_unknown_vision_model_is_refused_by_name():
    from transformers import LlavaConfig

    with pytest.raises(ValueError, match="'llava' has no known video geometry"):
        VisionGeometry.from_model_config(LlavaConfig())
