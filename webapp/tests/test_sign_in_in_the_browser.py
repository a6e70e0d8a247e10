"""Signing in in real Chromium: after five wrong passwords the right one meets the lockout page; password reset is
offered on the sign-in page only when mail is configured."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from annotation.tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _submit(page: Page, app_url: str, username: str, password: str) -> None:
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_five_wrong_passwords_then_the_right_one_shows_the_lockout_page(chromium, app_url, expert, other_expert):
    page = chromium.new_page()
    for _ in range(4):
        _submit(page, app_url, "expert-ada", "not-the-password")
        expect(page.locator("p.error")).to_contain_text("didn't match")
    _submit(page, app_url, "expert-ada", "not-the-password")
    _submit(page, app_url, "expert-ada", "pw-expert-ada")
    expect(page.locator("[data-lockout]")).to_contain_text("Too many failed sign-ins")
    expect(page.locator("[data-lockout]")).to_contain_text("expert-ada")
    screenshot(page, "sign-in-lockout.png")
    # another user signs in from the same browser
    _submit(page, app_url, "expert-bo", "pw-expert-bo")
    expect(page.locator("form.logout")).to_contain_text("expert-bo")
    page.close()


def test_the_sign_in_page_offers_password_reset_only_with_mail(chromium, app_url, settings):
    page = chromium.new_page()
    settings.MAIL_CONFIGURED = False
    page.goto(f"{app_url}/accounts/login/")
    expect(page.locator("[data-password-reset]")).to_have_count(0)
    settings.MAIL_CONFIGURED = True
    page.goto(f"{app_url}/accounts/login/")
    page.click("[data-password-reset]")
    expect(page.locator("h1")).to_have_text("Reset your password")
    page.close()
