"""Per-endpoint concurrency and requests-per-minute, shared by every worker process through Redis.

Concurrency: a sorted set of leases (score = expiry), so a slot held by a killed worker frees itself when its
lease runs out. Rate: a sliding one-minute window of request start times. Both are checked and taken in one
Lua script, atomically, with Redis' own clock. Without Redis (eager development mode) an in-process limiter
does the same for the one process there is.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local lease = tonumber(ARGV[1])
local max_concurrency = tonumber(ARGV[2])
local per_minute = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60)
if max_concurrency > 0 and redis.call('ZCARD', KEYS[1]) >= max_concurrency then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tostring(math.min(0.05, tonumber(first[2]) - now))}
end
if per_minute > 0 and redis.call('ZCARD', KEYS[2]) >= per_minute then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {0, tostring(tonumber(oldest[2]) + 60 - now)}
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 60)
if per_minute > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  redis.call('EXPIRE', KEYS[2], 120)
end
return {1, '0'}
"""


class RateLimitBusy(Exception):
    """No slot within the wait allowed; retry the task after `retry_after` seconds."""

    def __init__(self, retry_after: float):
        super().__init__(f"endpoint busy, retry in {retry_after:.2f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    endpoint_id: int
    max_concurrency: int
    requests_per_minute: int
    lease_seconds: float


def _redis_url() -> str | None:
    url = getattr(settings, "DISTILLATION_REDIS_URL", "") or settings.CELERY_BROKER_URL
    return url if url and url.startswith(("redis://", "rediss://", "unix://")) else None


_redis_clients: dict[str, object] = {}


def _redis(url: str):
    import redis

    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(url)
    return _redis_clients[url]


def _keys(endpoint_id: int) -> list[str]:
    # The database name keeps test databases (and deployments sharing a Redis) apart.
    namespace = f"aeslab:{connection.settings_dict.get('NAME')}:distillation:endpoint:{endpoint_id}"
    return [f"{namespace}:slots", f"{namespace}:minute"]


class _LocalLimiter:
    def __init__(self):
        self.lock = threading.Lock()
        self.slots: dict[int, dict[str, float]] = {}
        self.starts: dict[int, list[float]] = {}

    def try_acquire(self, limits: Limits, token: str) -> tuple[bool, float]:
        now = time.monotonic()
        with self.lock:
            slots = {key: expiry for key, expiry in self.slots.get(limits.endpoint_id, {}).items() if expiry > now}
            starts = [start for start in self.starts.get(limits.endpoint_id, []) if start > now - 60]
            self.slots[limits.endpoint_id], self.starts[limits.endpoint_id] = slots, starts
            if limits.max_concurrency and len(slots) >= limits.max_concurrency:
                return False, 0.05
            if limits.requests_per_minute and len(starts) >= limits.requests_per_minute:
                return False, starts[0] + 60 - now
            slots[token] = now + limits.lease_seconds
            starts.append(now)
            return True, 0.0

    def release(self, limits: Limits, token: str) -> None:
        with self.lock:
            self.slots.get(limits.endpoint_id, {}).pop(token, None)


_local = _LocalLimiter()


def _try_acquire(limits: Limits, token: str) -> tuple[bool, float]:
    url = _redis_url()
    if url is None:
        return _local.try_acquire(limits, token)
    acquired, wait = _redis(url).eval(
        _ACQUIRE,
        2,
        *_keys(limits.endpoint_id),
        limits.lease_seconds,
        limits.max_concurrency,
        limits.requests_per_minute,
        token,
    )
    return bool(int(acquired)), max(float(wait), 0.0)


def _release(limits: Limits, token: str) -> None:
    url = _redis_url()
    if url is None:
        _local.release(limits, token)
    else:
        _redis(url).zrem(_keys(limits.endpoint_id)[0], token)


@contextlib.contextmanager
def endpoint_slot(limits: Limits, *, max_wait_seconds: float = 30.0) -> Iterator[None]:
    """Hold one concurrency slot (and one request of the minute's budget) for the duration of a call.

    Waits up to `max_wait_seconds`; beyond that raises RateLimitBusy so the task is retried later instead of
    holding a worker process.
    """
    token = uuid.uuid4().hex
    deadline = time.monotonic() + max_wait_seconds
    while True:
        acquired, wait = _try_acquire(limits, token)
        if acquired:
            break
        if time.monotonic() + wait > deadline:
            raise RateLimitBusy(retry_after=max(wait, 0.5))
        time.sleep(max(min(wait, 1.0), 0.01))
    try:
        yield
    finally:
        _release(limits, token)
