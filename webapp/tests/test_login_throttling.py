"""Sign-in is throttled per username and IP address (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords the
right one is refused too, with a lockout page (HTTP 429), until the cool-off ends."""

from __future__ import annotations

import base64

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _sign_in(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_limit_is_five_failures_and_the_lockout_answers_429():
    assert settings.AXES_FAILURE_LIMIT == 5 and settings.AXES_HTTP_RESPONSE_CODE == 429
    assert settings.AUTHENTICATION_BACKENDS[0] == "webapp.authentication.LoginThrottleBackend"


def test_five_wrong_passwords_lock_the_username_out_even_with_the_right_password(client, expert, other_expert):
    for _ in range(4):
        wrong = _sign_in(client, "expert-ada", "not-the-password")
        assert wrong.status_code == 200 and "didn't match" in wrong.content.decode()
    fifth = _sign_in(client, "expert-ada", "not-the-password")
    assert fifth.status_code == 429

    refused = _sign_in(client, "expert-ada", "pw-expert-ada")
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many failed sign-ins" in page and "data-lockout" in page and "0:15:00" in page
    assert "_auth_user_id" not in client.session

    # another user from the same address, and the same user from another address, still sign in
    assert _sign_in(client, "expert-bo", "pw-expert-bo").status_code == 302
    client.logout()
    assert _sign_in(client, "expert-ada", "pw-expert-ada", address="198.51.100.9").status_code == 302


def test_a_successful_sign_in_clears_the_failures(client, expert):
    for _ in range(4):
        _sign_in(client, "expert-ada", "not-the-password")
    assert _sign_in(client, "expert-ada", "pw-expert-ada").status_code == 302
    client.logout()
    for _ in range(4):
        _sign_in(client, "expert-ada", "not-the-password")
    assert _sign_in(client, "expert-ada", "pw-expert-ada").status_code == 302


def test_the_cool_off_ends_the_lockout(client, expert, settings):
    for _ in range(5):
        _sign_in(client, "expert-ada", "not-the-password")
    assert _sign_in(client, "expert-ada", "pw-expert-ada").status_code == 429
    from axes.models import AccessAttempt

    # as if the cool-off had passed: the attempts are older than AXES_COOLOFF_TIME
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME)
    assert _sign_in(client, "expert-ada", "pw-expert-ada").status_code == 302


def test_basic_authentication_on_the_api_is_throttled_too(client, django_user_model):
    django_user_model.objects.create_user(username="staff-sam", password="pw-staff-sam", is_staff=True)

    def basic(password: str) -> dict:
        token = base64.b64encode(f"staff-sam:{password}".encode()).decode()
        return {"HTTP_AUTHORIZATION": f"Basic {token}", "REMOTE_ADDR": "203.0.113.7"}

    assert client.get("/api/pairs/", **basic("pw-staff-sam")).status_code == 200
    for _ in range(5):
        assert client.get("/api/pairs/", **basic("wrong")).status_code in (401, 403, 429)
    locked = client.get("/api/pairs/", **basic("pw-staff-sam"))
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()


def test_the_test_clients_login_and_force_login_still_work(client, expert):
    assert client.login(username="expert-ada", password="pw-expert-ada")
    assert client.get("/").status_code == 200
    client.logout()
    client.force_login(expert)
    assert client.get("/").status_code == 200
