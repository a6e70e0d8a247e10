"""Distillation fixtures: a scripted OpenAI-compatible server, real tiny clips, consensus-labelled pairs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from annotation.tests.conftest import app_url, chromium, django_orm_beside_playwright  # noqa: F401
from distillation.tests.fake_llm import FakeLLM
from webapp.testing import lavfi_render

H264 = ("-c:v", "libx264", "-pix_fmt", "yuv420p")


@pytest.fixture
def fake_llm():
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def clip_paths(tmp_path_factory):
    """Two real 160x96, one-second H.264 clips."""
    folder = tmp_path_factory.mktemp("distill-clips")
    paths = []
    for name, source in (("a.mp4", "testsrc2"), ("b.mp4", "smptehdbars")):
        path = folder / name
        lavfi_render(path, f"{source}=size=160x96:rate=24", seconds=1, output_args=H264)
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-frames:v", "1", str(path) + ".jpg"],
            check=True,
        )
        paths.append(path)
    return paths


@pytest.fixture
def labelled_pairs(campaign, expert, other_expert, clip_paths, media_root):
    """make(labels_list) -> pairs "p0", "p1", ... with real clips, judged identically by two experts."""
    from annotation.services import assignment_create, pair_judgment_submit
    from annotation.tests.factories import VideoFactory, VideoPairFactory, all_checklist_yes

    counter = {"n": 0}

    def video(source):
        counter["n"] += 1
        name = f"clip-{counter['n']}.mp4"
        target = media_root / "videos" / "original" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        poster = media_root / "videos" / "poster" / f"{name}.jpg"
        poster.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f"{source}.jpg", poster)
        return VideoFactory(
            original_name=name, file=f"videos/original/{name}", proxy=f"videos/original/{name}",
            poster=f"videos/poster/{name}.jpg",
            duration_seconds=1.0, fps=24.0, width=160, height=96, frame_count=24,
        )  # fmt: skip

    def make(labels_list: list[dict]) -> list:
        pairs = []
        for index, labels in enumerate(labels_list):
            pair = VideoPairFactory(
                campaign=campaign, external_id=f"p{index}", video_a=video(clip_paths[0]), video_b=video(clip_paths[1])
            )
            for judge in (expert, other_expert):
                assignment = assignment_create(pair=pair, expert=judge, swapped=False)
                pair_judgment_submit(
                    assignment=assignment,
                    criteria=labels["criteria"],
                    dimensions=labels["dimensions"],
                    checklist=all_checklist_yes(campaign, pair),
                )
            pairs.append(pair)
        return pairs

    return make
