"""API keys are stored encrypted or read from a named environment variable, and never shown back."""

import pytest

from distillation import services
from distillation.selectors import endpoint_api_key

pytestmark = pytest.mark.django_db


def test_a_stored_key_is_encrypted_at_rest_and_readable_only_through_the_selector():
    endpoint = services.endpoint_create(name="e", base_url="http://127.0.0.1:1/v1", model="m", api_key="sk-secret")
    assert "sk-secret" not in endpoint.api_key_encrypted
    assert endpoint_api_key(endpoint=endpoint) == "sk-secret"
    assert endpoint.api_key_status == "set"
    services.endpoint_api_key_set(endpoint=endpoint, api_key="")
    assert endpoint.api_key_status == "not set" and endpoint_api_key(endpoint=endpoint) == ""


def test_a_key_from_the_environment_wins_and_is_read_at_call_time(monkeypatch):
    endpoint = services.endpoint_create(
        name="e", base_url="http://127.0.0.1:1/v1", model="m", api_key="stored", api_key_env="AESLAB_TEST_KEY"
    )
    monkeypatch.delenv("AESLAB_TEST_KEY", raising=False)
    assert endpoint.api_key_status == "not set"
    monkeypatch.setenv("AESLAB_TEST_KEY", "from-env")
    assert endpoint_api_key(endpoint=endpoint) == "from-env" and endpoint.api_key_status == "set"


def test_a_key_encrypted_under_another_secret_key_reads_as_empty(settings):
    endpoint = services.endpoint_create(name="e", base_url="http://127.0.0.1:1/v1", model="m", api_key="sk")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert endpoint_api_key(endpoint=endpoint) == ""


def test_the_jobs_page_lists_endpoints_with_the_key_status_only(client, ml_engineer, campaign):
    from django.urls import reverse

    services.endpoint_create(name="vllm", base_url="http://127.0.0.1:1/v1", model="qwen", api_key="sk-hidden-value")
    client.force_login(ml_engineer)
    page = client.get(reverse("distillation-index")).content.decode()
    assert "vllm" in page and "qwen" in page and ">set" in page
    assert "sk-hidden-value" not in page


def test_the_admin_never_renders_the_key_and_a_blank_field_keeps_it(admin_client):
    from django.urls import reverse

    endpoint = services.endpoint_create(name="e", base_url="http://127.0.0.1:1/v1", model="m", api_key="sk-admin")
    url = reverse("admin:distillation_endpoint_change", args=[endpoint.pk])
    page = admin_client.get(url).content.decode()
    assert "sk-admin" not in page and endpoint.api_key_encrypted not in page

    form = {
        "name": "e", "base_url": "http://127.0.0.1:1/v1", "model": "m2", "api_key_env": "", "api_key": "",
        "max_concurrency": 2, "requests_per_minute": 0, "timeout_seconds": 30, "price_prompt_per_1k": "0",
        "price_completion_per_1k": "0", "max_tokens": 100, "temperature": 0.5, "max_retries": 1,
        "backoff_base_seconds": 1,
    }  # fmt: skip
    assert admin_client.post(url, form).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.model == "m2" and endpoint_api_key(endpoint=endpoint) == "sk-admin"
    admin_client.post(url, {**form, "api_key": "sk-new"})
    endpoint.refresh_from_db()
    assert endpoint_api_key(endpoint=endpoint) == "sk-new"
