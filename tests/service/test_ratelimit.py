import uuid

import pytest

from kasuhara.service.ratelimit import InProcessLimiter, RedisLimiter, make_limiter


def test_in_process_limiter_counts_per_key():
    lim = InProcessLimiter(3)
    assert [lim.allow("a") for _ in range(4)] == [True, True, True, False]
    assert lim.allow("b")


def test_redis_limiter_is_shared_between_instances():
    """Two limiters (two workers) on the Redis at 127.0.0.1:6379 count together."""
    key = uuid.uuid4().hex
    a, b = RedisLimiter("redis://127.0.0.1:6379/0", 4), RedisLimiter("redis://127.0.0.1:6379/0", 4)
    got = [a.allow(key), b.allow(key), a.allow(key), b.allow(key), a.allow(key), b.allow(key)]
    assert got == [True, True, True, True, False, False]


def test_redis_down_falls_back_to_in_process():
    lim = RedisLimiter("redis://127.0.0.1:1/0", 2)
    assert [lim.allow("k") for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize("url,kind", [(None, InProcessLimiter), ("redis://127.0.0.1:6379/0", RedisLimiter)])
def test_make_limiter(url, kind):
    assert isinstance(make_limiter(10, url), kind)
