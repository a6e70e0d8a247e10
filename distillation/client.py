"""Chat completions through the official `openai` client against any OpenAI-compatible server (OpenAI, vLLM, ...).

The client's own retries are off (max_retries=0): retrying is the Celery task's job, so backoff, jitter and
Retry-After are handled in one place (services.item_process / tasks.item_distill_task). Errors come out as
RetryableCallError (429, 5xx, timeouts, connection errors, malformed responses) or PermanentCallError
(other 4xx), each with a short reason; tokens and cost come from the response's `usage`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime

import openai

RETRY_AFTER_CAP_SECONDS = 600.0


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str
    model: str
    api_key: str
    timeout_seconds: float
    max_tokens: int = 4096
    temperature: float = 0.7
    price_prompt_per_1k: Decimal = Decimal("0")
    price_completion_per_1k: Decimal = Decimal("0")


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    finish_reason: str
    latency_seconds: float


class CallError(Exception):
    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class RetryableCallError(CallError):
    """429, 5xx, timeout, connection error or a malformed response: worth another try later."""


class PermanentCallError(CallError):
    """A 4xx other than 429 (bad request, auth, unknown model): retrying will not help."""


def cost_of(*, prompt_tokens: int, completion_tokens: int, config: EndpointConfig) -> Decimal:
    return (
        Decimal(prompt_tokens) * config.price_prompt_per_1k
        + Decimal(completion_tokens) * config.price_completion_per_1k
    ) / Decimal(1000)


def retry_after_seconds(headers) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); also the retry-after-ms some servers send."""
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return min(float(milliseconds) / 1000.0, RETRY_AFTER_CAP_SECONDS)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP_SECONDS)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), RETRY_AFTER_CAP_SECONDS)


_clients: dict[tuple[str, str, float], openai.OpenAI] = {}


def client_for(config: EndpointConfig) -> openai.OpenAI:
    """One client (one connection pool) per endpoint settings in this process."""
    key = (config.base_url, config.api_key, config.timeout_seconds)
    if key not in _clients:
        _clients[key] = openai.OpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "not-needed",
            timeout=config.timeout_seconds,
            max_retries=0,
        )
    return _clients[key]


def chat_complete(*, config: EndpointConfig, messages: list[dict], seed: int | None = None) -> Completion:
    """One chat completion; raises RetryableCallError or PermanentCallError, never anything else from the call."""
    started = time.monotonic()
    try:
        response = client_for(config).chat.completions.create(
            model=config.model,
            messages=messages,
            max_tokens=config.max_tokens,
            temperature=config.temperature,
            seed=seed,
        )
    except openai.APITimeoutError as error:
        raise RetryableCallError(f"timeout after {config.timeout_seconds:g} s") from error
    except openai.APIConnectionError as error:
        raise RetryableCallError(f"connection error: {error}") from error
    except openai.RateLimitError as error:
        raise RetryableCallError(
            "429 rate limited", status=429, retry_after=retry_after_seconds(error.response.headers)
        ) from error
    except openai.APIStatusError as error:
        status = error.status_code
        reason = f"HTTP {status}: {str(error.message)[:200]}"
        if status >= 500 or status in (408, 409):
            raise RetryableCallError(
                reason, status=status, retry_after=retry_after_seconds(error.response.headers)
            ) from error
        raise PermanentCallError(reason, status=status) from error
    except (openai.APIResponseValidationError, ValueError) as error:
        raise RetryableCallError(f"malformed response: {type(error).__name__}: {str(error)[:200]}") from error
    latency = time.monotonic() - started

    choices = getattr(response, "choices", None)
    if not choices or getattr(choices[0], "message", None) is None:
        raise RetryableCallError(f"malformed response: no choices in {str(response)[:200]!r}")
    text = choices[0].message.content or ""
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    return Completion(
        text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=cost_of(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, config=config),
        finish_reason=str(choices[0].finish_reason or ""),
        latency_seconds=latency,
    )
