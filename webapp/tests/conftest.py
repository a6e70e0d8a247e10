# Browser fixtures (Debian's Chromium through Playwright, a live server of the real app) from the annotation app.
from annotation.tests.conftest import app_url, chromium, django_orm_beside_playwright  # noqa: F401
