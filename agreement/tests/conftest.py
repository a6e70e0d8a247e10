from annotation.tests.conftest import app_url, chromium, django_orm_beside_playwright  # noqa: F401
