"""Testing an endpoint: one frame and a question through the real openai client against a server on 127.0.0.1;
the answer and latency, or the error with a hint at its cause, and nothing saved either way."""

import json
import socket

import pytest

from distillation import services
from distillation.models import Endpoint, Generation
from distillation.tests import fake_llm as script

pytestmark = pytest.mark.django_db

UNROUTED = "unknown"  # the probe's question carries no pair reference: the fake server routes it here


def _endpoint(url: str, **settings) -> Endpoint:
    return services.endpoint_create(
        name="probe", base_url=url, model="qwen-vl", api_key="sk-probe-0123456789", **settings
    )


def _saved(endpoint: Endpoint) -> dict:
    return dict(Endpoint.objects.filter(pk=endpoint.pk).values().get())


def test_an_answer_comes_back_with_its_latency_and_tokens(fake_llm):
    fake_llm.latency = 0.2
    fake_llm.answers[UNROUTED] = "Colour bars above a grey gradient."
    probe = services.endpoint_probe(endpoint=_endpoint(fake_llm.url), question="What do you see?")
    assert probe.ok and probe.answer == "Colour bars above a grey gradient."
    assert 200 <= probe.latency_ms < 5000
    assert (probe.prompt_tokens, probe.completion_tokens) == (1000, 200)


def test_the_request_carries_the_question_one_jpeg_frame_the_model_and_the_key(fake_llm):
    services.endpoint_probe(endpoint=_endpoint(fake_llm.url), question="What do you see?")
    body = json.loads(fake_llm.requests[0].body)
    assert body["model"] == "qwen-vl"
    (message,) = body["messages"]
    text, image = message["content"]
    assert text == {"type": "text", "text": "What do you see?"}
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")


def test_the_timeout_is_the_endpoints_capped_so_a_page_never_waits_minutes(fake_llm):
    patient = _endpoint(fake_llm.url, timeout_seconds=600)
    assert services.endpoint_probe(endpoint=patient).timeout_seconds == services.PROBE_TIMEOUT_CAP_SECONDS
    quick = services.endpoint_create(name="quick", base_url=fake_llm.url, model="m", timeout_seconds=3)
    assert services.endpoint_probe(endpoint=quick).timeout_seconds == 3


@pytest.mark.parametrize(
    ("reply", "error", "hint"),
    [
        (script.status(401), "HTTP 401", "refused the API key"),
        (script.status(404), "HTTP 404", "base URL usually ends in /v1"),
        (script.status(500), "HTTP 500", "failed while answering"),
        (script.malformed(), "malformed response", "not with an OpenAI chat completion"),
        (script.garbage(), "malformed response", "not with an OpenAI chat completion"),
    ],
)
def test_a_failing_server_gives_a_clear_error_and_nothing_is_saved(fake_llm, reply, error, hint):
    endpoint = _endpoint(fake_llm.url)
    before = _saved(endpoint)
    fake_llm.script(UNROUTED, reply)
    probe = services.endpoint_probe(endpoint=endpoint)
    assert not probe.ok and probe.answer == ""
    assert probe.error.startswith(error) and hint in probe.hint
    assert fake_llm.count(UNROUTED) == 1  # the client never retries
    assert _saved(endpoint) == before and not Generation.objects.exists()


def test_a_hanging_server_is_abandoned_at_the_timeout(fake_llm):
    endpoint = _endpoint(fake_llm.url, timeout_seconds=1.0)
    fake_llm.script(UNROUTED, script.hang(5.0))
    probe = services.endpoint_probe(endpoint=endpoint)
    assert probe.error == "timeout after 1 s" and "No answer in time" in probe.hint
    assert 1000 <= probe.latency_ms < 3000


def test_nothing_listening_is_a_connection_error():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    probe = services.endpoint_probe(endpoint=_endpoint(f"http://127.0.0.1:{port}/v1"))
    assert probe.error.startswith("connection error") and "Nothing answered at that address" in probe.hint


def test_a_refused_key_named_by_an_unset_variable_says_so(fake_llm, monkeypatch):
    monkeypatch.delenv("AESLAB_PROBE_KEY", raising=False)
    endpoint = services.endpoint_create(name="env", base_url=fake_llm.url, model="m", api_key_env="AESLAB_PROBE_KEY")
    fake_llm.script(UNROUTED, script.status(401))
    assert "$AESLAB_PROBE_KEY is not set" in services.endpoint_probe(endpoint=endpoint).hint
