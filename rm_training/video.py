"""Video frames for Qwen-VL models without torchvision.

Frames are sampled uniformly over the whole clip by ffmpeg (ffmpeg-python) with the rule of
``transformers``' ``Qwen2VLVideoProcessor.sample_frames`` (``fps`` frames per second of video,
between ``MIN_FRAMES`` and ``max_frames``, an even count for the temporal patch), resized to a pixel
budget that is a multiple of ``patch_size * merge_size`` (Qwen's ``smart_resize``, PIL bicubic), then flattened
exactly like ``Qwen2VLVideoProcessor.patchify`` into ``pixel_values_videos`` of shape
``(grid_t * grid_h * grid_w, C * temporal_patch * patch * patch)`` and
``video_grid_thw = (grid_t, grid_h, grid_w)``. The sampled frames' timestamps travel with the clip.

torchvision (which transformers' video processor needs) fails with the CPU torch wheel here, so the
packer is ours; ``rm_training/tests/test_video_packer_matches_transformers.py`` checks it against
transformers' own numpy/PIL ``Qwen2VLImageProcessorPil`` frame by frame.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# Qwen3-VL's processors normalise with IMAGENET_STANDARD_MEAN / STD.
HALF = (0.5, 0.5, 0.5)
# The pixel budget per frame when neither the run config nor the model folder sets one.
DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS = 56 * 56, 448 * 448
# Read in this order, the later winning: the video processor's own settings over the image processor's
# (which transformers' video processor falls back to when a model folder has no video config).
PROCESSOR_CONFIG_FILES = ("preprocessor_config.json", "video_preprocessor_config.json")
GEOMETRY_SETTINGS = ("patch_size", "temporal_patch_size", "merge_size", "image_mean", "image_std")
# Qwen2VLVideoProcessor.min_frames: a clip shorter than 2 s at fps 2 still gets 4 frames.
MIN_FRAMES = 4
SUPPORTED_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")


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
    model_type: str = "qwen2_5_vl"

    @classmethod
    def from_model_config(cls, config) -> VisionGeometry:
        """Qwen2-VL and Qwen2.5-VL: patch 14, CLIP mean/std. Qwen3-VL: patch 16, mean/std 0.5."""
        model_type = getattr(config, "model_type", "")
        if model_type not in SUPPORTED_MODEL_TYPES:
            expected = ", ".join(SUPPORTED_MODEL_TYPES)
            raise ValueError(f"model_type {model_type!r} has no known video geometry; expected one of {expected}")
        vision = config.vision_config
        normalisation = HALF if model_type == "qwen3_vl" else None
        return cls(
            patch_size=int(vision.patch_size),
            temporal_patch_size=int(vision.temporal_patch_size),
            merge_size=int(vision.spatial_merge_size),
            image_mean=normalisation or OPENAI_CLIP_MEAN,
            image_std=normalisation or OPENAI_CLIP_STD,
            model_type=model_type,
        )


    def with_processor_settings(self, settings: dict) -> VisionGeometry:
        """This geometry with the values a model folder's processor config sets (:func:`processor_settings`)."""
        return dataclasses.replace(
            self,
            patch_size=int(settings.get("patch_size", self.patch_size)),
            temporal_patch_size=int(settings.get("temporal_patch_size", self.temporal_patch_size)),
            merge_size=int(settings.get("merge_size", self.merge_size)),
            image_mean=tuple(float(value) for value in settings.get("image_mean", self.image_mean)),
            image_std=tuple(float(value) for value in settings.get("image_std", self.image_std)),
        )


def processor_settings(model_dir: Path | str) -> dict:
    """The video processing values saved with a model, only those found: ``patch_size``,
    ``temporal_patch_size``, ``merge_size``, ``image_mean``, ``image_std``, ``min_pixels``,
    ``max_pixels``, from ``video_preprocessor_config.json`` over ``preprocessor_config.json``. Qwen-VL
    processors keep the pixel budget as ``min_pixels`` / ``max_pixels`` (hub files) or as pixel counts
    in ``size`` (``shortest_edge`` / ``longest_edge``, as transformers 5 saves them)."""
    found: dict = {}
    for name in PROCESSOR_CONFIG_FILES:
        path = Path(model_dir) / name
        if not path.is_file():
            continue
        values = json.loads(path.read_text())
        found.update({key: values[key] for key in GEOMETRY_SETTINGS if key in values})
        size = values.get("size") or {}
        budget = {"min_pixels": values.get("min_pixels", size.get("shortest_edge")),
                  "max_pixels": values.get("max_pixels", size.get("longest_edge"))}
        found.update({key: int(value) for key, value in budget.items() if value is not None})
    return found


@dataclass(frozen=True)
class SampledFrames:
    frames: np.ndarray  # (T, H, W, 3) RGB uint8
    timestamps: tuple[float, ...]  # seconds from the start of the clip, one per frame
    # frames per second of video, as qwen_vl_utils reports it (T / total frames * video fps)
    sampled_fps: float


@dataclass(frozen=True)
class PackedVideo:
    pixel_values: torch.Tensor  # (grid_t * grid_h * grid_w, C * t * p * p), float32
    grid_thw: tuple[int, int, int]
    second_per_grid: float  # seconds covered by one temporal patch
    merge_size: int = 2
    timestamps: tuple[float, ...] = ()  # of the sampled frames, in seconds (for prompts and logs)

    @property
    def num_tokens(self) -> int:
        """``<|video_pad|>`` tokens in the text: patches merged ``merge_size ** 2`` to one."""
        t, h, w = self.grid_thw
        return t * h * w // self.merge_size**2

    @property
    def num_bytes(self) -> int:
        return self.pixel_values.numel() * self.pixel_values.element_size()


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


def sample_frame_indices(
    total_frames: int, video_fps: float, fps: float, max_frames: int, temporal_patch_size: int = 2
) -> list[int]:
    """``Qwen2VLVideoProcessor.sample_frames`` with ``fps``: ``duration * fps`` frames, at least
    ``MIN_FRAMES``, at most ``max_frames`` and the clip's own count, floored to a multiple of the
    temporal patch, spread uniformly over the whole clip (``arange(0, total, total / n)``)."""
    if total_frames < 1:
        raise VideoDecodeError("the clip has no frames")
    ceiling = math.floor(min(max_frames, total_frames) / temporal_patch_size) * temporal_patch_size
    wanted = min(max(total_frames / video_fps * fps, MIN_FRAMES), ceiling, total_frames)
    count = math.floor(wanted / temporal_patch_size) * temporal_patch_size
    if count < 1:
        # Fewer frames than one temporal patch (a one-frame clip, max_frames 1): packing repeats the last.
        count = max(1, min(max_frames, total_frames))
    return [int(index) for index in np.arange(0, total_frames, total_frames / count)[:count]]


def _stream_facts(path: Path | str) -> tuple[int, int, int, float]:
    """(height, width, frame count, frame rate) of the first video stream."""
    import ffmpeg

    try:
        probe = ffmpeg.probe(str(path), select_streams="v:0", count_packets=None)
    except ffmpeg.Error as error:
        raise VideoDecodeError(f"cannot probe {path}: {error.stderr.decode(errors='replace')[-300:]}") from error
    streams = [s for s in probe.get("streams", []) if s.get("codec_type") == "video"]
    if not streams:
        raise VideoDecodeError(f"{path} has no video stream")
    stream = streams[0]
    numerator, _, denominator = (stream.get("avg_frame_rate") or "0/0").partition("/")
    video_fps = float(numerator) / float(denominator) if float(denominator or 0) else 0.0
    total = int(stream.get("nb_read_packets") or stream.get("nb_frames") or 0)
    if video_fps <= 0 or total < 1:
        raise VideoDecodeError(f"{path}: cannot tell the frame rate or frame count of the video stream")
    return int(stream["height"]), int(stream["width"]), total, video_fps


def decode_frames(
    path: Path | str,
    fps: float,
    max_frames: int,
    factor: int,
    min_pixels: int,
    max_pixels: int,
    temporal_patch_size: int = 2,
) -> SampledFrames:
    """RGB uint8 frames sampled uniformly over the whole clip (:func:`sample_frame_indices`), decoded
    at their own size, resized by :func:`smart_resize` with PIL's bicubic, and their timestamps."""
    import ffmpeg

    source_height, source_width, total, video_fps = _stream_facts(path)
    height, width = smart_resize(source_height, source_width, factor, min_pixels, max_pixels)
    indices = sample_frame_indices(total, video_fps, fps, max_frames, temporal_patch_size)
    chosen = "+".join(f"eq(n,{index})" for index in indices)
    try:
        raw, _ = (
            ffmpeg.input(str(path))
            .filter("select", chosen)
            .output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
            .run(capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as error:
        raise VideoDecodeError(f"cannot decode {path}: {error.stderr.decode(errors='replace')[-300:]}") from error
    native = np.frombuffer(raw, dtype=np.uint8)
    if native.size == 0:
        raise VideoDecodeError(f"{path}: ffmpeg returned no frames")
    native = native.reshape(-1, source_height, source_width, 3)
    # The probe's packet count can exceed the decodable frames (a truncated tail): keep what came.
    kept = indices[: native.shape[0]]
    return SampledFrames(
        frames=resize_frames(native[: len(kept)], height, width),
        timestamps=tuple(index / video_fps for index in kept),
        sampled_fps=len(kept) / total * video_fps,
    )


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """PIL bicubic on uint8 RGB, as transformers' ``Qwen2VLImageProcessorPil.resize`` does it
    (ffmpeg's bicubic scaler differs by up to ~150 grey levels at sharp edges)."""
    from PIL import Image

    if frames.shape[1:3] == (height, width):
        return frames.copy()
    bicubic = Image.Resampling.BICUBIC
    return np.stack([np.asarray(Image.fromarray(frame).resize((width, height), resample=bicubic)) for frame in frames])


def pack_frames(
    frames: np.ndarray, geometry: VisionGeometry, fps: float, timestamps: tuple[float, ...] | None = None
) -> PackedVideo:
    """Rescale to [0, 1], normalise, pad the frame count to the temporal patch, and flatten patches
    in the order of ``Qwen2VLVideoProcessor.patchify`` (``permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)``).

    ``fps`` is the sampling rate of ``frames`` (frames per second of video); ``timestamps`` default
    to ``index / fps``."""
    if timestamps is None:
        timestamps = tuple(index / fps for index in range(frames.shape[0]))
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
        timestamps=tuple(float(t) for t in timestamps),
    )


class VideoLoader:
    """Decodes and packs clips, keeping the most recently used ones up to ``cache_bytes`` of pixel
    values (clips repeat across pairs; evicts the least recently used). Each process, DataLoader
    workers included, has its own cache. ``cache_bytes=0`` caches nothing."""

    def __init__(
        self,
        geometry: VisionGeometry,
        fps: float,
        max_frames: int,
        min_pixels: int,
        max_pixels: int,
        cache_bytes: int = 2 * 1024**3,
    ):
        self.geometry = geometry
        self.fps = fps
        self.max_frames = max_frames
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, PackedVideo] = OrderedDict()
        self._cached_bytes = 0

    @classmethod
    def from_config(cls, geometry: VisionGeometry, video, processor: dict | None = None) -> VideoLoader:
        """From a :class:`rm_training.config.VideoConfig`; an unset pixel budget comes from ``processor``
        (:func:`processor_settings`), else ``DEFAULT_MIN_PIXELS`` / ``DEFAULT_MAX_PIXELS``."""
        processor = processor or {}
        min_pixels = video.min_pixels if video.min_pixels is not None else processor.get("min_pixels",
                                                                                          DEFAULT_MIN_PIXELS)
        max_pixels = video.max_pixels if video.max_pixels is not None else processor.get("max_pixels",
                                                                                          DEFAULT_MAX_PIXELS)
        if min_pixels > max_pixels:
            raise ValueError(f"frame pixel budget: min_pixels {min_pixels} > max_pixels {max_pixels} (set "
                             "video.min_pixels / video.max_pixels; unset ones come from the model's processor config)")
        return cls(geometry, video.fps, video.max_frames, min_pixels, max_pixels, video.cache_bytes)

    @classmethod
    def for_model(cls, model_config, model_dir: Path | str, video) -> VideoLoader:
        """The loader of a run: the geometry of ``model_config`` with the processor settings saved in
        ``model_dir`` (the base model folder) over it, the run's ``video`` config over both."""
        settings = processor_settings(model_dir)
        geometry = VisionGeometry.from_model_config(model_config).with_processor_settings(settings)
        return cls.from_config(geometry, video, settings)

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes

    def cached_paths(self) -> list[str]:
        """Least recently used first."""
        return list(self._cache)

    def pack(self, path: Path | str) -> PackedVideo:
        """Decode and pack without touching the cache."""
        factor = self.geometry.patch_size * self.geometry.merge_size
        sampled = decode_frames(
            path, self.fps, self.max_frames, factor, self.min_pixels, self.max_pixels, self.geometry.temporal_patch_size
        )
        return pack_frames(sampled.frames, self.geometry, sampled.sampled_fps, sampled.timestamps)

    def load(self, path: Path | str) -> PackedVideo:
        key = str(path)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        packed = self.pack(path)
        self._remember(key, packed)
        return packed

    def _remember(self, key: str, packed: PackedVideo) -> None:
        size = packed.num_bytes
        if size > self.cache_bytes:
            return
        while self._cached_bytes + size > self.cache_bytes:
            _, evicted = self._cache.popitem(last=False)
            self._cached_bytes -= evicted.num_bytes
        self._cache[key] = packed
        self._cached_bytes += size


def unpack_frames(pixel_values: torch.Tensor, grid_thw: tuple[int, int, int], geometry: VisionGeometry) -> np.ndarray:
    """The RGB uint8 frames ``(T, H, W, 3)`` a :func:`pack_frames` output was made from: the inverse
    patch order and normalisation, rounded back to bytes (exact for frames packed from uint8, float32
    rounding is far below half a grey level). A frame count padded to the temporal patch comes back
    with its repeated last frame. For engines that take raw frames (vLLM's ``multi_modal_data``)."""
    grid_t, grid_h, grid_w = (int(side) for side in grid_thw)
    temporal, patch, merge = geometry.temporal_patch_size, geometry.patch_size, geometry.merge_size
    patches = pixel_values.float().reshape(
        1, grid_t, grid_h // merge, grid_w // merge, merge, merge, 3, temporal, patch, patch
    )
    # the inverse of pack_frames' permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    video = patches.permute(0, 1, 7, 6, 2, 4, 8, 3, 5, 9).reshape(grid_t * temporal, 3, grid_h * patch, grid_w * patch)
    mean = torch.tensor(geometry.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(geometry.image_std).view(1, 3, 1, 1)
    rescaled = (video * std + mean) * 255.0
    return rescaled.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
