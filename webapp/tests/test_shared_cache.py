"""Several machines share Django's cache through Redis (CACHE_URL): what one process caches, another reads."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _shell(code: str, **environment) -> str:
    env = {**os.environ, **environment}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_value_cached_by_one_process_is_read_by_another_through_redis(tmp_path):
    key = f"test-shared-cache-{uuid.uuid4().hex}"
    environment = {"CACHE_URL": TEST_REDIS, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    backend, sessions = _shell(
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'], settings.SESSION_ENGINE)",
        **environment,
    ).split()
    assert backend == "django.core.cache.backends.redis.RedisCache"
    # A cache every process shares holds sessions too (written through to the database): one query less a request.
    assert sessions == "django.contrib.sessions.backends.cached_db"

    _shell(f"from django.core.cache import cache; cache.set('{key}', 'rendered once', 60)", **environment)
    read = _shell(
        f"from django.core.cache import cache; print(cache.get('{key}')); cache.delete('{key}')", **environment
    )
    assert read == "rendered once"


def test_without_cache_url_each_process_keeps_its_own_cache(tmp_path):
    environment = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    backend, sessions = _shell(
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'], settings.SESSION_ENGINE)",
        **environment,
    ).split()
    assert backend == "django.core.cache.backends.locmem.LocMemCache"
    # Not in a cache per process: a session ended in one process would live on in another's copy.
    assert sessions == "django.contrib.sessions.backends.db"
