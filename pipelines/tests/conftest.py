import shutil
import subprocess

import pytest


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, demo_set):
    """Files every ingest path must refuse, each with the reason it should give."""
    root = tmp_path_factory.mktemp("bad")
    good_clip = (
        demo_set.manifest_path.parent
        / "clips"
        / sorted(p.name for p in (demo_set.manifest_path.parent / "clips").iterdir())[0]
    )
    (root / "fake.mp4").write_text("this is a text file wearing an .mp4 name\n")
    (root / "empty.mp4").write_bytes(b"")
    data = good_clip.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5", "-t", "1", str(root / "animated.gif"))
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(root / "still.jpg"))
    shutil.copy(root / "still.jpg", root / "still_as.mp4")
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", str(root / "tone.m4a"))
    return {
        "fake.mp4": "not a readable video file",
        "empty.mp4": "file is empty",
        "truncated.mp4": "not a readable video file",
        "animated.gif": "unsupported codec 'gif'",
        "still_as.mp4": "zero-length video",
        "tone.m4a": "contains no video stream",
    }, root


@pytest.fixture
def clip_paths(demo_set):
    clips = demo_set.manifest_path.parent / "clips"
    return sorted(clips.iterdir())
