"""Token-bucket rate limits, per client address and per site.

Addresses are kept only as salted hashes, in memory: the limiter can tell two clients
apart without ever holding an IP that could end up in a dump or a log.
"""

from __future__ import annotations

import hashlib
import math
import os
import time


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._max_keys = max_keys
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last refill time]

    def take(self, key: str, cost: float = 1.0, now: float | None = None) -> float:
        """Spend ``cost`` tokens; return 0 if allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_idle(now)
            bucket = self._buckets[key] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= cost:
            bucket[0] = tokens - cost
            return 0.0
        bucket[0] = tokens
        return (min(cost, self.burst) - tokens) / self.rate

    def wait(self, key: str, now: float | None = None) -> float:
        """The seconds until ``key`` may spend one token (0: now), spending nothing."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely holds no information: drop those first,
        # and everything if that is not enough (a flood of new keys).
        full_after = self.burst / self.rate
        idle = [k for k, (_, last) in self._buckets.items() if now - last >= full_after]
        for k in idle:
            del self._buckets[k]
        if len(self._buckets) >= self._max_keys:
            self._buckets.clear()


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))


class AddressHasher:
    """Salted, per-process hashes of client addresses."""

    def __init__(self) -> None:
        self._salt = os.urandom(16)

    def __call__(self, address: str) -> str:
        return hashlib.blake2b(address.encode(), digest_size=8, key=self._salt).hexdigest()
