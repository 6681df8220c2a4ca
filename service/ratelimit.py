"""Per-API-key rate limits: in process by default, shared through Redis when configured
(several workers or replicas then count together)."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

log = logging.getLogger("kasuhara.service")


class InProcessLimiter:
    """Sliding one-minute window per key, for one process."""

    blocking = False  # allow() does no I/O: fine to call on the event loop

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            return True


class RedisLimiter:
    """Fixed one-minute windows per key in Redis (INCR + EXPIRE in one pipeline), shared by
    every worker and replica. When Redis cannot be reached the in-process limiter decides, so
    the service keeps answering; the log says so once a minute."""

    blocking = True  # allow() talks to Redis: called on a worker thread

    def __init__(self, url: str, per_minute: int, prefix: str = "kasuhara:rl:"):
        import redis

        self.per_minute = per_minute
        self.prefix = prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
        self._fallback = InProcessLimiter(per_minute)
        self._warned = 0.0

    def allow(self, key: str) -> bool:
        import redis

        window = int(time.time() // 60)
        name = f"{self.prefix}{key}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, 120)
            count, _ = pipe.execute()
        except redis.RedisError as e:
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                log.warning(f'{{"event": "rate_limit_redis_unavailable", "error": "{type(e).__name__}"}}')
            return self._fallback.allow(key)
        return int(count) <= self.per_minute


def make_limiter(per_minute: int, redis_url: str | None):
    return RedisLimiter(redis_url, per_minute) if redis_url else InProcessLimiter(per_minute)
