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
    backend = _shell("from django.conf import settings; print(settings.CACHES['default']['BACKEND'])", **environment)
    assert backend == "django.core.cache.backends.redis.RedisCache"

    _shell(f"from django.core.cache import cache; cache.set('{key}', 'rendered once', 60)", **environment)
    read = _shell(
        f"from django.core.cache import cache; print(cache.get('{key}')); cache.delete('{key}')", **environment
    )
    assert read == "rendered once"


def test_without_cache_url_each_process_keeps_its_own_cache(tmp_path):
    environment = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    backend = _shell("from django.conf import settings; print(settings.CACHES['default']['BACKEND'])", **environment)
    assert backend == "django.core.cache.backends.locmem.LocMemCache"
