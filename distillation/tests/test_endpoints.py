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
