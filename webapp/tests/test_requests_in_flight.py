"""The live server's request counter that browser tests wait on before the database is flushed."""

import pytest

from webapp.testing import RequestsInFlight


def _streaming_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "video/mp4")])
    return iter([b"first bytes", b"more bytes"])


def test_a_response_counts_until_the_server_closes_it_even_when_fully_read():
    counted = RequestsInFlight(_streaming_app)

    response = counted({}, lambda *args: None)
    assert counted.count == 1
    assert b"".join(response) == b"first bytesmore bytes"
    assert counted.count == 1  # the server closes it after the last byte, or when the browser went away

    response.close()
    response.close()
    assert counted.count == 0
    counted.wait_idle(timeout=0.1)


def test_an_application_that_raises_is_not_counted_and_an_open_response_makes_the_wait_fail_naming_it():
    def broken(environ, start_response):
        raise RuntimeError("view crashed")

    failing = RequestsInFlight(broken)
    with pytest.raises(RuntimeError):
        failing({}, lambda *args: None)
    assert failing.count == 0

    streaming = RequestsInFlight(_streaming_app)
    streaming({"REQUEST_METHOD": "GET", "PATH_INFO": "/media/a.mp4", "QUERY_STRING": "v=2"}, lambda *args: None)
    with pytest.raises(AssertionError, match=r"the live server's requests; still open: GET /media/a.mp4\?v=2 \(since "):
        streaming.wait_idle(timeout=0.2)
