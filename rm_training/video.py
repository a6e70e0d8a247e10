"""Video frames for Qwen-VL models without torchvision.

Frames are decoded by ffmpeg (ffmpeg-python) at a configured fps, resized to a pixel budget that
is a multiple of ``patch_size * merge_size`` (Qwen's ``smart_resize``), then flattened exactly like
``transformers.models.qwen2_vl.video_processing_qwen2_vl.Qwen2VLVideoProcessor.patchify`` into
``pixel_values_videos`` of shape ``(grid_t * grid_h * grid_w, C * temporal_patch * patch * patch)``
and ``video_grid_thw = (grid_t, grid_h, grid_w)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class VideoDecodeError(RuntimeError):
    """ffmpeg could not read the clip."""


@dataclass(frozen=True)
class VisionGeometry:
    """What the vision tower expects (from the model config)."""

    patch_size: int = 14
    temporal_patch_size: int = 2
    merge_size: int = 2
    image_mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    image_std: tuple[float, float, float] = OPENAI_CLIP_STD

    @classmethod
    def from_model_config(cls, config) -> VisionGeometry:
        vision = config.vision_config
        return cls(
            patch_size=int(vision.patch_size),
            temporal_patch_size=int(vision.temporal_patch_size),
            merge_size=int(vision.spatial_merge_size),
        )


@dataclass(frozen=True)
class PackedVideo:
    pixel_values: torch.Tensor  # (grid_t * grid_h * grid_w, C * t * p * p), float32
    grid_thw: tuple[int, int, int]
    second_per_grid: float  # seconds covered by one temporal patch
    merge_size: int = 2

    @property
    def num_tokens(self) -> int:
        """``<|video_pad|>`` tokens in the text: patches merged ``merge_size ** 2`` to one."""
        t, h, w = self.grid_thw
        return t * h * w // self.merge_size**2


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's resize rule: sides divisible by ``factor``, area within the budget, aspect kept."""
    if max(height, width) / min(height, width) > 200:
        raise VideoDecodeError(f"aspect ratio {max(height, width) / min(height, width):.0f} is above 200")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def decode_frames(
    path: Path | str, fps: float, max_frames: int, factor: int, min_pixels: int, max_pixels: int
) -> np.ndarray:
    """RGB uint8 frames ``(T, H, W, 3)`` sampled at ``fps`` (at most ``max_frames``), resized by
    :func:`smart_resize` with bicubic interpolation."""
    import ffmpeg

    try:
        probe = ffmpeg.probe(str(path))
    except ffmpeg.Error as error:
        raise VideoDecodeError(f"cannot probe {path}: {error.stderr.decode(errors='replace')[-300:]}") from error
    streams = [s for s in probe.get("streams", []) if s.get("codec_type") == "video"]
    if not streams:
        raise VideoDecodeError(f"{path} has no video stream")
    height, width = smart_resize(int(streams[0]["height"]), int(streams[0]["width"]), factor, min_pixels, max_pixels)
    try:
        raw, _ = (
            ffmpeg.input(str(path))
            .filter("fps", fps=fps)
            .filter("scale", width, height, flags="bicubic")
            .output("pipe:", format="rawvideo", pix_fmt="rgb24", vframes=max_frames)
            .run(capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as error:
        raise VideoDecodeError(f"cannot decode {path}: {error.stderr.decode(errors='replace')[-300:]}") from error
    frames = np.frombuffer(raw, dtype=np.uint8)
    if frames.size == 0:
        raise VideoDecodeError(f"{path}: ffmpeg returned no frames at fps={fps}")
    return frames.reshape(-1, height, width, 3).copy()


def pack_frames(frames: np.ndarray, geometry: VisionGeometry, fps: float) -> PackedVideo:
    """Rescale to [0, 1], normalise, pad the frame count to the temporal patch, and flatten patches
    in the order of ``Qwen2VLVideoProcessor.patchify`` (``permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)``)."""
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0  # T, C, H, W
    mean = torch.tensor(geometry.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(geometry.image_std).view(1, 3, 1, 1)
    video = ((video - mean) / std).unsqueeze(0)  # 1, T, C, H, W
    batch, num_frames, channel, height, width = video.shape
    temporal, patch, merge = geometry.temporal_patch_size, geometry.patch_size, geometry.merge_size
    if pad := -num_frames % temporal:
        video = torch.cat((video, video[:, -1:].expand(-1, pad, -1, -1, -1)), dim=1)
        num_frames += pad
    grid_t, grid_h, grid_w = num_frames // temporal, height // patch, width // patch
    patches = video.view(
        batch, grid_t, temporal, channel, grid_h // merge, merge, patch, grid_w // merge, merge, patch
    )
    patches = patches.permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    flat = patches.reshape(grid_t * grid_h * grid_w, channel * temporal * patch * patch)
    return PackedVideo(
        pixel_values=flat.contiguous(),
        grid_thw=(grid_t, grid_h, grid_w),
        second_per_grid=temporal / fps,
        merge_size=merge,
    )


class VideoLoader:
    """Decodes and packs clips once per process (keyed by path); clips repeat across pairs."""

    def __init__(self, geometry: VisionGeometry, fps: float, max_frames: int, min_pixels: int, max_pixels: int):
        self.geometry = geometry
        self.fps = fps
        self.max_frames = max_frames
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self._cache: dict[str, PackedVideo] = {}

    def load(self, path: Path | str) -> PackedVideo:
        key = str(path)
        if key not in self._cache:
            factor = self.geometry.patch_size * self.geometry.merge_size
            frames = decode_frames(path, self.fps, self.max_frames, factor, self.min_pixels, self.max_pixels)
            self._cache[key] = pack_frames(frames, self.geometry, self.fps)
        return self._cache[key]
