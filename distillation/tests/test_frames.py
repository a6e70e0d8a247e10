"""Frame sampling with real ffmpeg: rate, cap, short side without upscaling, JPEG bytes; cached per video."""

import tempfile

import ffmpeg
import pytest

from distillation import frames


def _size(frame) -> tuple[int, int]:
    with tempfile.NamedTemporaryFile(suffix=".jpg") as file:
        file.write(frame.jpeg)
        file.flush()
        stream = ffmpeg.probe(file.name)["streams"][0]
    return stream["width"], stream["height"]


def test_frames_are_evenly_spaced_capped_and_scaled_to_the_short_side(clip_paths):
    sampled = frames.frames_sample(clip_paths[0], fps=4.0, max_frames=3, short_side=48, duration_seconds=1.0)
    assert len(sampled) == 3
    assert [frame.seconds for frame in sampled] == [0.0, 0.333, 0.667]
    assert all(frame.jpeg[:2] == b"\xff\xd8" for frame in sampled)
    assert _size(sampled[0]) == (80, 48)


def test_a_short_side_larger_than_the_video_does_not_upscale(clip_paths):
    (frame,) = frames.frames_sample(clip_paths[0], fps=1.0, max_frames=1, short_side=480, duration_seconds=1.0)
    assert _size(frame) == (160, 96)


@pytest.mark.django_db
def test_a_video_in_several_pairs_is_sampled_once_per_process(labelled_pairs, campaign, monkeypatch):
    from distillation.tests.factories import uniform_labels

    (pair,) = labelled_pairs([uniform_labels(campaign.rubric, 1)])
    calls = []
    real = frames.frames_sample
    monkeypatch.setattr(frames, "frames_sample", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = frames.frames_for_video(pair.video_a, fps=1.0, max_frames=1, short_side=32)
    again = frames.frames_for_video(pair.video_a, fps=1.0, max_frames=1, short_side=32)
    other_settings = frames.frames_for_video(pair.video_a, fps=1.0, max_frames=1, short_side=40)
    assert first == again and len(calls) == 2 and _size(other_settings[0])[1] == 40


@pytest.mark.django_db(transaction=True)
def test_a_video_with_media_on_s3_is_sampled_from_a_temporary_copy_of_its_proxy(
    s3_media, campaign, clip_paths, media_root, monkeypatch
):
    from collections import OrderedDict

    from pipelines.ingest import IncomingVideo, pair_ingest
    from webapp.testing import media_files

    monkeypatch.setattr(frames, "_cache", OrderedDict())  # another test may have sampled the same clip
    pair, _ = pair_ingest(
        campaign=campaign,
        prompt="p",
        video_a=IncomingVideo(path=clip_paths[0], original_name="a.mp4"),
        video_b=IncomingVideo(path=clip_paths[1], original_name="b.mp4"),
    )
    pair.video_a.refresh_from_db()
    assert pair.video_a.proxy.name in s3_media.keys()

    sampled = frames.frames_for_video(pair.video_a, fps=2.0, max_frames=2, short_side=48)

    assert [frame.seconds for frame in sampled] == [0.0, 0.5]
    assert _size(sampled[0]) == (80, 48)
    assert media_files(media_root) == []
