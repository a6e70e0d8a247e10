"""Password reset is offered only when mail can be sent (EMAIL_URL): then the link arrives by mail and sets a new
password; without mail its pages answer 404 and the sign-in page does not offer it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
RESET_PAGES = ["/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/done/",
               "/accounts/reset/MQ/set-password/"]


@pytest.fixture
def expert_with_mail(expert):
    expert.email = "ada@example.com"
    expert.save(update_fields=["email"])
    return expert


def test_without_mail_password_reset_is_not_offered(client, settings, expert_with_mail):
    settings.MAIL_CONFIGURED = False
    for page in RESET_PAGES:
        assert client.get(page).status_code == 404, page
    assert client.post("/accounts/password_reset/", {"email": "ada@example.com"}).status_code == 404
    assert mail.outbox == []
    login = client.get("/accounts/login/").content.decode()
    assert "password_reset" not in login and "Forgot your password" not in login


def test_with_mail_the_reset_link_arrives_and_sets_a_new_password(client, settings, expert_with_mail):
    settings.MAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    login = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/"' in login and "Forgot your password?" in login

    sent = client.post("/accounts/password_reset/", {"email": "ada@example.com"})
    assert sent.status_code == 302 and sent.url == "/accounts/password_reset/done/"
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"] and message.subject == "AesLab: choose a new password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)

    form = client.get(link, follow=True)
    assert form.status_code == 200 and "Choose a new password" in form.content.decode()
    new_password = "a-new-long-password-for-ada"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302 and done.url == "/accounts/reset/done/"
    expert_with_mail.refresh_from_db()
    assert expert_with_mail.check_password(new_password)


def test_an_address_without_an_account_gets_the_same_answer_and_no_mail(client, settings):
    settings.MAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sent = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert sent.status_code == 302 and sent.url == "/accounts/password_reset/done/"
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("email_url", "expected"),
    [
        ("", "False"),
        ("smtp+tls://aeslab:secret@smtp.example.com:587", "True smtp smtp.example.com 587 True"),
        ("memorymail://", "True locmem"),
    ],
)
def test_mail_is_configured_by_email_url(email_url, expected):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='webapp.settings'; django.setup();"
        "from django.conf import settings as s;"
        "backend = s.EMAIL_BACKEND.split('.')[-2] if s.MAIL_CONFIGURED else '';"
        "smtp = [s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS] if backend == 'smtp' else [];"
        "print(s.MAIL_CONFIGURED, backend, *smtp)"
    )
    env = {**os.environ, "EMAIL_URL": email_url}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == expected, result.stderr
