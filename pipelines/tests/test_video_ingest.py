"""Real ffmpeg on real generated clips: proxies, posters, metadata, and what gets refused."""

import ffmpeg
import pytest

from annotation.models import Video, VideoPair
from pipelines.ingest import IncomingVideo, PairRejected, pair_ingest
from pipelines.media import VideoRejected, video_probe
from webapp.testing import lavfi_render, media_files

pytestmark = pytest.mark.django_db(transaction=True)


def _ingest(campaign, path_a, path_b, external_id="pair-1"):
    return pair_ingest(
        campaign=campaign,
        prompt="a test prompt",
        external_id=external_id,
        video_a=IncomingVideo(path=path_a, original_name=path_a.name, source_model="model-a"),
        video_b=IncomingVideo(path=path_b, original_name=path_b.name, source_model="model-b"),
    )


def test_ingested_pair_gets_h264_faststart_proxies_posters_and_true_metadata(campaign, clip_paths):
    pair, created = _ingest(campaign, clip_paths[0], clip_paths[1])
    assert created
    video = Video.objects.get(pk=pair.video_a_id)
    assert video.status == Video.Status.READY, video.error
    assert (video.width, video.height, video.fps, video.codec) == (160, 96, 24.0, "h264")
    assert video.duration_seconds == pytest.approx(1.0, abs=0.05)
    assert video.frame_count == 24
    assert video.source_model == "model-a"

    proxy = ffmpeg.probe(video.proxy.path)
    stream = proxy["streams"][0]
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    data = open(video.proxy.path, "rb").read()
    assert data.index(b"moov") < data.index(b"mdat"), "proxy must be +faststart (moov before mdat)"

    poster = ffmpeg.probe(video.poster.path)["streams"][0]
    assert (poster["codec_name"], poster["width"], poster["height"]) == ("mjpeg", 160, 96)


def test_proxy_of_a_large_video_is_scaled_to_720p_with_even_dimensions(campaign, tmp_path, settings):
    big = tmp_path / "big.mp4"
    lavfi_render(
        big, "testsrc2=size=1281x961:rate=10", seconds=0.5, output_args=["-pix_fmt", "yuv444p", "-c:v", "libx264"]
    )
    small = tmp_path / "small.webm"
    lavfi_render(small, "testsrc=size=64x48:rate=10", seconds=0.5, output_args=["-c:v", "libvpx-vp9"])
    pair, _ = _ingest(campaign, big, small)
    proxy_a = ffmpeg.probe(Video.objects.get(pk=pair.video_a_id).proxy.path)["streams"][0]
    assert proxy_a["height"] == 720 and proxy_a["width"] % 2 == 0
    video_b = Video.objects.get(pk=pair.video_b_id)
    assert video_b.codec == "vp9" and ffmpeg.probe(video_b.proxy.path)["streams"][0]["codec_name"] == "h264"


def test_same_file_in_two_pairs_is_stored_once(campaign, clip_paths, media_root):
    _ingest(campaign, clip_paths[0], clip_paths[1], external_id="p1")
    _ingest(campaign, clip_paths[0], clip_paths[2], external_id="p2")
    assert Video.objects.count() == 3
    assert len([path for path in media_files(media_root) if "original" in path.parts]) == 3


@pytest.mark.parametrize(
    "name",
    ["fake.mp4", "empty.mp4", "truncated.mp4", "animated.gif", "still_as.mp4", "tone.m4a"],
)
def test_bad_file_is_refused_with_its_name_and_reason_and_nothing_is_written(
    name, bad_files, campaign, clip_paths, media_root
):
    reasons, root = bad_files
    with pytest.raises(VideoRejected) as error:
        _ingest(campaign, clip_paths[0], root / name)
    assert name in str(error.value)
    assert reasons[name] in str(error.value)
    assert Video.objects.count() == 0 and VideoPair.objects.count() == 0
    assert media_files(media_root) == []


def test_oversized_file_is_refused(settings, campaign, clip_paths, media_root):
    settings.VIDEO_MAX_BYTES = 1000
    with pytest.raises(VideoRejected, match="over the limit of 0.0 MB"):
        _ingest(campaign, clip_paths[0], clip_paths[1])
    assert Video.objects.count() == 0 and media_files(media_root) == []


def test_overlong_video_is_refused(settings, clip_paths):
    settings.VIDEO_MAX_DURATION_SECONDS = 0.5
    with pytest.raises(VideoRejected, match="is 1.0 s long, over the limit"):
        video_probe(clip_paths[0])


def test_pair_of_one_file_with_itself_is_refused(campaign, clip_paths):
    with pytest.raises(PairRejected, match="same file"):
        _ingest(campaign, clip_paths[0], clip_paths[0])


def test_a_failure_after_files_were_stored_removes_them(campaign, clip_paths, media_root, monkeypatch):
    def explode(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(VideoPair, "save", explode)
    with pytest.raises(RuntimeError):
        _ingest(campaign, clip_paths[0], clip_paths[1])
    assert Video.objects.count() == 0
    assert media_files(media_root) == []


def test_a_stream_ffprobe_accepts_but_ffmpeg_cannot_decode_marks_the_video_failed(campaign, clip_paths, tmp_path):
    damaged = tmp_path / "damaged.mp4"
    data = bytearray(clip_paths[1].read_bytes())
    start = data.index(b"mdat") + 8
    data[start : start + 4000] = bytes(4000)  # zero the first frames' bitstream, keep the container intact
    damaged.write_bytes(bytes(data))
    pair, _ = _ingest(campaign, clip_paths[0], damaged)
    video = Video.objects.get(pk=pair.video_b_id)
    assert video.status == Video.Status.FAILED
    assert "failed" in video.error
    assert not video.proxy
