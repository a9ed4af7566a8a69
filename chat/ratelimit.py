"""Atomic budgets shared by every process: the one place that counts logins, signups, messages and
socket frames.

Two kinds of budget:
- a *window*: at most `limit` charges per `period` seconds (logins, signups, messages, password
  changes). A sliding window, approximated from two fixed ones (the current window's count plus the
  previous one's, weighted by how much of it still overlaps the last `period`), so a burst at a
  window's edge cannot spend two budgets. A charge can be refunded (a login that succeeded);
- a *bucket*: a burst of `burst`, refilled at `rate` per second (socket frames, per user).

Each charge is one atomic step, so parallel requests in any number of processes never spend more
than the budget: with REDIS_URL, one Lua script (one round trip); on the embedded defaults (one
process) the local cache under a lock. A charge that is refused is not counted.
"""

import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from chat.presence import _async_client, _sync_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "brewverse:budget:"


@dataclass(frozen=True)
class Charge:
    """The outcome of one charge: whether it was allowed, how long to wait if not, and what a refund
    takes back (`window` is the key of the window counted, None when nothing was)."""

    allowed: bool
    retry_after: float = 0.0
    window: str | None = None


# KEYS: the current window, the previous one; ARGV: limit, window seconds, fraction of the current
# window elapsed. Counts first and takes the charge back when over, so it needs no read-then-write.
_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
end
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * (1 - tonumber(ARGV[3])) + count > tonumber(ARGV[1]) then
    redis.call('DECR', KEYS[1])
    return {0, count - 1, previous}
end
return {1, count, previous}
"""

# KEYS: the window charged. A window that expired meanwhile is left alone (DECR would recreate it).
_REFUND = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('DECR', KEYS[1])
end
return 0
"""

# KEYS: the bucket; ARGV: burst, rate per second, now. Returns {allowed, tokens left}.
_BUCKET = """
local burst, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(tokens)}
"""

# The embedded defaults run one process: a lock makes the local cache's read-then-write atomic.
_local_lock = threading.Lock()


def _uses_redis() -> bool:
    return bool(settings.REDIS_URL)


def _windows(key: str, period: int, now: float) -> tuple[str, str, float]:
    index, elapsed = divmod(now, period)
    return f"{KEY_PREFIX}{key}:{int(index)}", f"{KEY_PREFIX}{key}:{int(index) - 1}", elapsed / period


def _window_wait(limit: int, period: int, count: int, previous: int, fraction: float) -> float:
    """Seconds until one more charge fits: while the previous window's weight fades, or, when the
    current window alone is full, into the next one (where this one becomes the previous)."""
    if count + 1 <= limit and previous:
        # previous * (1 - f) + count + 1 <= limit  <=>  f >= 1 - (limit - count - 1) / previous
        return max(0.0, (1 - (limit - count - 1) / previous) - fraction) * period
    fade = 1 - (limit - 1) / count if count else 0.0
    return ((1 - fraction) + max(0.0, fade)) * period


def _window_outcome(limit: int, period: int, result: list, current: str, fraction: float) -> Charge:
    allowed, count, previous = (int(value) for value in result)
    if allowed:
        return Charge(True, window=current)
    return Charge(False, retry_after=max(1.0, _window_wait(limit, period, count, previous, fraction)))


def _local_window(current: str, previous_key: str, limit: int, period: int, fraction: float) -> list:
    with _local_lock:
        previous = cache.get(previous_key, 0)
        count = cache.get(current, 0)
        if previous * (1 - fraction) + count + 1 > limit:
            return [0, count, previous]
        cache.set(current, count + 1, 2 * period)
        return [1, count + 1, previous]


def charge(key: str, limit: int, period: int) -> Charge:
    """Count one more use of the budget `key` (at most `limit` per `period` seconds), if it fits."""
    current, previous, fraction = _windows(key, period, time.time())
    if _uses_redis():
        script = _sync_client().register_script(_WINDOW)
        result = script(keys=[current, previous], args=[limit, period, fraction])
    else:
        result = _local_window(current, previous, limit, period, fraction)
    return _window_outcome(limit, period, result, current, fraction)


async def acharge(key: str, limit: int, period: int) -> Charge:
    """`charge`, from async code (the sockets): Redis without a thread, or the in-memory cache."""
    current, previous, fraction = _windows(key, period, time.time())
    if _uses_redis():
        script = _async_client().register_script(_WINDOW)
        result = await script(keys=[current, previous], args=[limit, period, fraction])
    else:
        result = _local_window(current, previous, limit, period, fraction)
    return _window_outcome(limit, period, result, current, fraction)


def refund(spent: Charge) -> None:
    """Give back an allowed charge (one that turned out not to count, such as a login that worked)."""
    if spent.window is None:
        return
    if _uses_redis():
        _sync_client().register_script(_REFUND)(keys=[spent.window])
        return
    # decr keeps the window's expiry; ValueError: the window expired meanwhile.
    with _local_lock, contextlib.suppress(ValueError):
        cache.decr(spent.window)


def _bucket_outcome(result: list, rate: float) -> Charge:
    allowed, tokens = int(result[0]), float(result[1])
    return Charge(True) if allowed else Charge(False, retry_after=max(0.001, (1 - tokens) / rate))


def _local_bucket(key: str, burst: float, rate: float, now: float) -> list:
    with _local_lock:
        tokens, at = cache.get(key, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)
        allowed = tokens >= 1
        tokens -= 1 if allowed else 0
        cache.set(key, (tokens, now), math.ceil(burst / rate) + 1)
        return [int(allowed), tokens]


async def atake(key: str, burst: float, rate: float) -> Charge:
    """Take one token from the bucket `key` (a burst of `burst`, refilled at `rate` per second)."""
    full_key, now = f"{KEY_PREFIX}{key}", time.time()
    if _uses_redis():
        script = _async_client().register_script(_BUCKET)
        result = await script(keys=[full_key], args=[burst, rate, now])
    else:
        result = _local_bucket(full_key, burst, rate, now)
    return _bucket_outcome(result, rate)


# --- DRF's side: throttles over these budgets -------------------------------------------------------


class BudgetThrottle(SimpleRateThrottle):
    """A DRF throttle whose count is a `charge` on a shared window: atomic, and refundable.

    The rate comes from DRF's settings by `scope`, or from `rate` (as any SimpleRateThrottle); the
    window is the throttle's cache key. `wait()` says how long the refused request should wait.
    """

    spent: Charge | None = None

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.spent = charge(key, self.num_requests, self.duration)
        return self.spent.allowed

    def wait(self) -> float | None:
        return self.spent.retry_after if self.spent is not None else None

    def refund(self) -> None:
        if self.spent is not None:
            refund(self.spent)
            self.spent = None


class MessagePostThrottle(BudgetThrottle):
    """One budget of messages per user, whatever carries them: REST posts, the send box of the pages
    and socket `message` frames all charge the same window (THROTTLE_MESSAGE_POST)."""

    scope = "message_post"

    @classmethod
    def key_for(cls, user_id: int) -> str:
        return f"{cls.scope}:{user_id}"

    def get_cache_key(self, request, view) -> str | None:
        return self.key_for(request.user.pk) if request.user.is_authenticated else None

    def allow_request(self, request, view) -> bool:
        # The counters live in Redis, with the channel layer. When Redis is down a message must still
        # be saved (clients catch up with ?after=), so the budget lets posts through instead of a 500.
        try:
            return super().allow_request(request, view)
        except Exception as error:
            logger.warning("message budget unavailable, post allowed: %r", error)
            return True

    @classmethod
    async def acharge(cls, user_id: int) -> Charge:
        """A socket's message frame: the same window as a REST post, one round trip, from the loop."""
        throttle = cls()
        try:
            return await acharge(cls.key_for(user_id), throttle.num_requests, throttle.duration)
        except Exception as error:
            logger.warning("message budget unavailable, frame allowed: %r", error)
            return Charge(True)
