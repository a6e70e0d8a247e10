from annotation.tests.conftest import app_url, chromium, django_orm_beside_playwright  # noqa: F401
from pipelines.tests.conftest import bad_files, clip_paths  # noqa: F401
