"""Per-endpoint concurrency and requests per minute, shared through Redis by every process that asks."""

import random
import threading
import time

import pytest

from distillation.ratelimit import Limits, RateLimitBusy, endpoint_slot

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_redis(settings):
    settings.DISTILLATION_REDIS_URL = "redis://127.0.0.1:6379/15"


def _limits(**values) -> Limits:
    # A random endpoint id keeps this test's keys apart from any other run on the same Redis.
    values = {"max_concurrency": 0, "requests_per_minute": 0, "lease_seconds": 5.0, **values}
    return Limits(endpoint_id=random.randrange(10**9, 10**10), **values)


def test_concurrency_is_capped_across_callers(shared_redis):
    limits = _limits(max_concurrency=2)
    inside, peak, lock = [0], [0], threading.Lock()

    def call():
        with endpoint_slot(limits, max_wait_seconds=30):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == 2


def test_requests_per_minute_turn_into_a_retry_with_the_wait(shared_redis):
    limits = _limits(requests_per_minute=3)
    for _ in range(3):
        with endpoint_slot(limits, max_wait_seconds=0):
            pass
    with pytest.raises(RateLimitBusy) as busy:
        with endpoint_slot(limits, max_wait_seconds=0.1):
            pass
    assert 50 < busy.value.retry_after <= 60


def test_a_slot_held_by_a_dead_caller_frees_itself_when_its_lease_ends(shared_redis):
    limits = _limits(max_concurrency=1, lease_seconds=0.3)
    held = endpoint_slot(limits)
    held.__enter__()  # never released, as if the process had been killed
    with pytest.raises(RateLimitBusy):
        with endpoint_slot(limits, max_wait_seconds=0.0):
            pass
    with endpoint_slot(limits, max_wait_seconds=5.0):
        pass
