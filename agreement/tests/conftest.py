"""Browser-test fixtures for the agreement pages: Chromium and a live server of the real app."""

from annotation.tests.conftest import app_url, chromium, django_orm_beside_playwright  # noqa: F401
