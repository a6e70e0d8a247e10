"""Errors are pages in the app's look that say what the user can do: a missing page or object (404), a page the
user's campaign roles do not open (403), and a server error (500), which never shows a traceback."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 1920])
def test_a_missing_page_and_a_forbidden_one_are_styled_and_say_what_to_do(chromium, app_url, expert, width):
    page = chromium.new_page(viewport={"width": width, "height": 900})
    sign_in(page, app_url, expert)

    response = page.goto(f"{app_url}/no/such/page/")
    assert response.status == 404
    expect(page.locator("[data-error-page='404'] h1")).to_have_text("This page does not exist")
    expect(page.locator("header.topbar nav")).to_contain_text("Campaigns")
    screenshot(page, f"error-404-{width}.png")
    page.click("[data-error-page='404'] >> text=Go to your campaigns")
    assert page.url == f"{app_url}/"

    response = page.goto(f"{app_url}/exports/")
    assert response.status == 403
    expect(page.locator("[data-forbidden]")).to_contain_text("curator or ML engineer")
    expect(page.locator("[data-error-page='403']")).to_contain_text("Ask a curator of the campaign")
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"error-403-{width}.png")
    page.close()


@pytest.mark.urls("webapp.tests.error_urls")
def test_a_server_error_is_the_apps_500_page_without_a_traceback(expert):
    client = Client(raise_request_exception=False)
    client.force_login(expert)

    response = client.get("/failing/")

    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and "Nothing you saved is lost" in page
    assert "RuntimeError" not in page and "Traceback" not in page
    assert 'class="topbar"' in page
