"""A token bucket for frames on one socket: bursts are fine, a sustained flood is refused."""

import time

from django.conf import settings


class TokenBucket:
    def __init__(self, capacity: float | None = None, rate: float | None = None) -> None:
        self.capacity = capacity if capacity is not None else settings.SOCKET_FRAME_BURST
        self.rate = rate if rate is not None else settings.SOCKET_FRAME_RATE
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
