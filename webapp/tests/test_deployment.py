"""Production configuration: `check --deploy` passes and docker-compose.yml has the production shape."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "aeslab.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _manage_check(tmp_path, **environment) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "DEBUG")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **environment)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_production_refuses_to_start_without_a_secret_key_of_its_own(tmp_path):
    from webapp.settings import DEVELOPMENT_SECRET_KEY

    for secret_key in (None, "", DEVELOPMENT_SECRET_KEY):
        environment = {"DEBUG": "false"} | ({"SECRET_KEY": secret_key} if secret_key is not None else {})
        result = _manage_check(tmp_path, **environment)
        assert result.returncode != 0, secret_key
        assert "ImproperlyConfigured: SECRET_KEY must be set in the environment when DEBUG is false" in result.stderr
    configured = _manage_check(tmp_path, DEBUG="false", SECRET_KEY="a-production-secret-0123456789-abcdefghijklmnop")
    assert configured.returncode == 0, configured.stderr
    assert "no issues" in configured.stdout


def test_development_runs_on_the_committed_key_when_debug_is_on(tmp_path):
    result = _manage_check(tmp_path)  # DEBUG defaults to true, as for ./run demo
    assert result.returncode == 0, result.stderr


def test_docker_compose_requires_a_secret_key():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    # ${VAR:?message}: compose refuses to start the stack while SECRET_KEY is unset or empty
    assert compose["x-app"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_docker_compose_has_web_worker_beat_postgres_and_redis_with_health_checks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert "healthcheck" in services[name], name
    assert "gunicorn" in services["web"]["command"]
    # the playground's Gradio queue lives in one process's memory
    assert services["playground"]["command"].startswith("uvicorn webapp.asgi:application")
    assert services["playground"]["command"].endswith("--workers 1")
    assert ":8001/playground/" in services["web"]["environment"]["PLAYGROUND_URL"]
    assert services["playground"]["ports"] == ["8001:8000"]
    assert services["worker"]["command"].startswith("celery -A webapp worker")
    assert services["beat"]["command"].startswith("celery -A webapp beat")
    assert services["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert {"data", "pgdata"} <= set(compose["volumes"])
    # media, export snapshots and training runs (siblings under /data) are shared by every app service
    for name in ("web", "playground", "worker", "gpu-worker", "beat"):
        assert services[name]["volumes"] == ["data:/data"], name
    assert services["web"]["environment"]["MEDIA_ROOT"] == "/data/media"
    assert services["web"]["environment"]["DATABASE_URL"].startswith("postgres://")
    assert services["web"]["environment"]["CELERY_BROKER_URL"].startswith("redis://")
    assert services["gpu-worker"]["command"].startswith("celery -A webapp worker -Q gpu --concurrency 1")
    devices = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_settings_default_to_sqlite_and_eager_celery_when_nothing_is_configured(tmp_path):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='webapp.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.STORAGES['default']['BACKEND'])"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "True",
        "django.core.files.storage.FileSystemStorage",
    ], result.stderr


def test_s3_storage_is_used_when_a_bucket_is_configured():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='webapp.settings'; django.setup();"
        "from django.conf import settings as s; print(s.STORAGES['default']['BACKEND'])"
    )
    env = {**os.environ, "AWS_STORAGE_BUCKET_NAME": "aeslab-media"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "storages.backends.s3.S3Storage", result.stderr
