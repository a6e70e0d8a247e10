"""With media on S3 the workbench plays proxies straight from the bucket: its video and poster URLs are presigned
S3 URLs (no AesLab process streams media), and the bucket answers the Range requests a <video> element makes."""

import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db(transaction=True)


def _ranged_get(url: str, byte_range: str):
    request = urllib.request.Request(url, headers={"Range": f"bytes={byte_range}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers, response.read()


def test_proxy_and_poster_urls_are_presigned_urls_of_the_bucket(s3_media, assignment_on_s3):
    for field_file in (assignment_on_s3.pair.video_a.proxy, assignment_on_s3.pair.video_a.poster):
        url = field_file.url
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == s3_media.endpoint_url
        assert parts.path == f"/{s3_media.name}/{field_file.name}"
        query = parse_qs(parts.query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Signature"]
        assert int(query["X-Amz-Expires"][0]) > 0


def test_the_workbench_page_names_the_presigned_proxy_urls(client, expert, assignment_on_s3):
    client.force_login(expert)
    page = client.get(reverse("workbench", args=[assignment_on_s3.pk])).content.decode()
    for video in (assignment_on_s3.pair.video_a, assignment_on_s3.pair.video_b):
        # Each call presigns anew; the page carries the bucket URL of the proxy, signed.
        unsigned = video.proxy.url.split("?")[0]
        assert f'src="{unsigned}?' in page
        assert "/media/" not in page


def test_a_range_request_to_a_presigned_proxy_url_is_answered_206_with_those_bytes(s3_media, assignment_on_s3):
    proxy = assignment_on_s3.pair.video_a.proxy
    whole = s3_media.client.get_object(Bucket=s3_media.name, Key=proxy.name)["Body"].read()
    url = proxy.url

    status, headers, body = _ranged_get(url, "0-1023")
    assert status == 206
    assert headers["Content-Range"] == f"bytes 0-1023/{len(whole)}"
    assert body == whole[:1024]

    middle = len(whole) // 2
    status, headers, body = _ranged_get(url, f"{middle}-")
    assert status == 206
    assert headers["Content-Range"] == f"bytes {middle}-{len(whole) - 1}/{len(whole)}"
    assert body == whole[middle:]
