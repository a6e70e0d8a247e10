"""The playground mount at /playground/ (served by uvicorn as webapp/asgi.py builds it) takes state-changing
requests only from this site's own pages and can be framed by no page; Django's own pages cannot be framed either."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings
from gradio_client import Client
from gradio_client.exceptions import AppError

from training.playground import SOURCE_HELD_OUT, origin_is_this_site

pytestmark = pytest.mark.django_db(transaction=True)

EVIL = "http://evil.example"
GRADIO_POSTS = [f"/playground/gradio_api/{route}" for route in ("queue/join", "upload", "run/judge")]


@pytest.fixture
def cookie(client, ml_engineer, campaign):
    from annotation.services import campaign_member_add

    campaign_member_add(campaign=campaign, user=ml_engineer, role="ml_engineer")
    client.force_login(ml_engineer)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _assert_unframeable(response: httpx.Response) -> None:
    assert response.headers["x-frame-options"] == "DENY", response.url
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'", response.url


def test_a_post_from_another_site_is_refused_before_gradio_sees_it(playground_url, cookie):
    for path in GRADIO_POSTS:
        for foreign in ({"Origin": EVIL}, {"Referer": f"{EVIL}/page.html"}, {"Origin": "null"}, {}):
            response = httpx.post(f"{playground_url}{path}", headers={"Cookie": cookie, **foreign}, json={})
            assert response.status_code == 403, (path, foreign)
            assert "must come from this site's own pages" in response.text
            _assert_unframeable(response)
    # other unsafe methods too; reading (GET) needs no origin
    assert httpx.delete(f"{playground_url}/playground/gradio_api/queue/join", headers={"Cookie": cookie,
                        "Origin": EVIL}).status_code == 403
    assert httpx.get(f"{playground_url}/playground/config", headers={"Cookie": cookie}).status_code == 200


def test_the_sites_own_pages_and_gradio_client_with_its_origin_still_work(playground_url, cookie):
    playground = Client(f"{playground_url}/playground/", headers={"Cookie": cookie, "Origin": playground_url},
                        verbose=False)
    # the judge ran: it answered that no such model is there for this user
    with pytest.raises(AppError, match="not available to you"):
        playground.predict("model:99999", SOURCE_HELD_OUT, "1", None, None, "", api_name="/judge")
    # a page of the site that sends only a Referer (older browsers) is accepted as well
    upload = httpx.post(
        f"{playground_url}/playground/gradio_api/upload",
        headers={"Cookie": cookie, "Referer": f"{playground_url}/playground/"},
        files={"files": ("note.txt", b"hello")},
    )
    assert upload.status_code == 200, upload.text
    _assert_unframeable(upload)


def test_every_playground_response_forbids_framing(playground_url, cookie):
    signed_out_page = httpx.get(f"{playground_url}/playground/", follow_redirects=False)
    assert signed_out_page.status_code == 302
    page = httpx.get(f"{playground_url}/playground/", headers={"Cookie": cookie})
    assert page.status_code == 200 and "<html" in page.text.lower()
    refused = httpx.get(f"{playground_url}/playground/config")
    assert refused.status_code == 401
    for response in (signed_out_page, page, refused):
        _assert_unframeable(response)


def test_djangos_own_pages_forbid_framing_through_the_same_app(playground_url):
    login = httpx.get(f"{playground_url}/accounts/login/")
    assert login.status_code == 200 and login.headers["x-frame-options"] == "DENY"


def test_this_site_is_its_host_or_a_trusted_origin():
    trusted = ["https://aeslab.example.com", "https://*.tools.example.org"]
    host = "aeslab.internal:8001"
    assert origin_is_this_site("https://aeslab.internal:8001", host=host, trusted_origins=[])
    assert origin_is_this_site("http://aeslab.internal:8001", host=host, trusted_origins=[])  # TLS ends at a proxy
    assert origin_is_this_site("https://aeslab.example.com", host=host, trusted_origins=trusted)
    assert origin_is_this_site("https://lab.tools.example.org", host=host, trusted_origins=trusted)
    assert not origin_is_this_site("http://aeslab.example.com", host=host, trusted_origins=trusted)  # scheme
    assert not origin_is_this_site("https://aeslab.internal:9000", host=host, trusted_origins=trusted)
    assert not origin_is_this_site("https://aeslab.example.com.evil.example", host=host, trusted_origins=trusted)
    assert not origin_is_this_site("null", host=host, trusted_origins=trusted)
    assert not origin_is_this_site("", host=host, trusted_origins=trusted)
