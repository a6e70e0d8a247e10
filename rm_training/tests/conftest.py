"""Shared fixtures: real ffmpeg clips, export folders and a tiny random Qwen2.5-VL checkpoint.

Plain pytest (no Django): works whether or not the repository's pytest config sets
DJANGO_SETTINGS_MODULE.
"""

from __future__ import annotations

import shutil

import pytest

from rm_training.tests.export_builder import build_export, make_clips


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is required for the rm_training tests (real clips)")
    return make_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="session")
def make_export(tmp_path_factory, clips):
    """``make_export(format, **options)`` -> a fresh export folder."""

    def _make(export_format: str, **options):
        root = tmp_path_factory.mktemp(export_format)
        return build_export(root, export_format, clips, **options)

    return _make


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    from rm_training.tiny import save_tiny_qwen2_5_vl

    return save_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny-qwen2_5_vl") / "model")


@pytest.fixture(autouse=True)
def media_root(tmp_path):
    """Overrides the repository-wide autouse fixture of the same name, which needs Django's
    ``settings``: rm_training tests never touch Django."""
    return tmp_path / "media"
