"""The openai client against the scripted local server: outcomes, Retry-After, tokens and cost from usage."""

from decimal import Decimal

import pytest

from distillation.client import (
    EndpointConfig,
    PermanentCallError,
    RetryableCallError,
    chat_complete,
    retry_after_seconds,
)
from distillation.tests import fake_llm as script

MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "Pair reference: p9\nhello"}]}]


def _config(fake, timeout=5.0) -> EndpointConfig:
    return EndpointConfig(
        base_url=fake.url, model="m", api_key="secret", timeout_seconds=timeout,
        price_prompt_per_1k=Decimal("0.5"), price_completion_per_1k=Decimal("1.5"),
    )  # fmt: skip


def test_a_completion_carries_text_tokens_and_cost(fake_llm):
    fake_llm.answers["p9"] = "<think>x</think><answer>VA: 1, VF: 1, VP: 1</answer>"
    completion = chat_complete(config=_config(fake_llm), messages=MESSAGES, seed=3)
    assert completion.text == fake_llm.answers["p9"]
    assert (completion.prompt_tokens, completion.completion_tokens) == (1000, 200)
    assert completion.cost == Decimal("0.8")  # 1000 x 0.5/1k + 200 x 1.5/1k
    assert fake_llm.requests[0].seed == 3


@pytest.mark.parametrize(
    ("reply", "error", "retry_after"),
    [
        (script.status(429, Retry_After="7"), RetryableCallError, 7.0),
        (script.status(502), RetryableCallError, None),
        (script.malformed(), RetryableCallError, None),
        (script.hang(3.0), RetryableCallError, None),
        (script.status(400), PermanentCallError, None),
        (script.status(401), PermanentCallError, None),
    ],
)
def test_failures_are_sorted_into_retryable_and_permanent_and_the_client_never_retries(
    fake_llm, reply, error, retry_after
):
    fake_llm.script("p9", reply)
    with pytest.raises(error) as raised:
        chat_complete(config=_config(fake_llm, timeout=2.0), messages=MESSAGES)
    assert raised.value.retry_after == retry_after
    assert fake_llm.count("p9") == 1


def test_retry_after_reads_seconds_http_dates_and_milliseconds():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
