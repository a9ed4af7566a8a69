"""Atomic budgets shared by every process: the one place that counts logins, signups, messages and
socket frames.

Two kinds of budget:
- a *window*: at most `limit` charges in any `period` seconds (logins, signups, messages, password
  changes). A sliding log: the time of each charge in the last `period`, so no window's edge lets a
  second budget through, and a charge can be refunded (a login that succeeded);
- a *bucket*: a burst of `burst`, refilled at `rate` per second (socket frames, per user).

Each charge is one atomic step, so parallel requests in any number of processes never spend more
than the budget: with REDIS_URL, one Lua script (one round trip); on the embedded defaults (one
process) the local cache under a lock. A charge that is refused is not counted.
"""

import logging
import math
import threading
import time
import uuid
from collections.abc import Awaitable
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
    takes back (the window's key, its period and this charge's entry in it; None when nothing was
    counted)."""

    allowed: bool
    retry_after: float = 0.0
    window: str | None = None
    entry: str | None = None
    period: int = 0


# KEYS: the window; ARGV: now, period, limit, the new entry. Returns {1} when counted, else {0, the
# time the oldest entry that must go before one more fits was counted}.
_WINDOW = """
local now, period, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
    return {0, oldest[2]}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(period * 1000))
return {1}
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


def _local_window(key: str, now: float, period: int, limit: int, entry: str) -> list:
    with _local_lock:
        log = [(at, name) for at, name in cache.get(key, []) if at > now - period]
        if len(log) >= limit:
            return [0, log[len(log) - limit][0]]
        log.append((now, entry))
        cache.set(key, log, period)
        return [1]


def _window_outcome(result: list, now: float, period: int, key: str, entry: str) -> Charge:
    if int(result[0]):
        return Charge(True, window=key, entry=entry, period=period)
    return Charge(False, retry_after=max(0.001, float(result[1]) + period - now))


def charge(key: str, limit: int, period: int) -> Charge:
    """Count one more use of the budget `key` (at most `limit` in any `period` seconds), if it fits."""
    full_key, now, entry = f"{KEY_PREFIX}{key}", time.time(), uuid.uuid4().hex
    if _uses_redis():
        result = _sync_client().register_script(_WINDOW)(keys=[full_key], args=[now, period, limit, entry])
    else:
        result = _local_window(full_key, now, period, limit, entry)
    return _window_outcome(result, now, period, full_key, entry)


async def acharge(key: str, limit: int, period: int) -> Charge:
    """`charge`, from async code (the sockets): Redis without a thread, or the in-memory cache."""
    full_key, now, entry = f"{KEY_PREFIX}{key}", time.time(), uuid.uuid4().hex
    if _uses_redis():
        script = _async_client().register_script(_WINDOW)
        result = await script(keys=[full_key], args=[now, period, limit, entry])
    else:
        result = _local_window(full_key, now, period, limit, entry)
    return _window_outcome(result, now, period, full_key, entry)


def refund(spent: Charge) -> None:
    """Give back an allowed charge (one that turned out not to count, such as a login that worked)."""
    if spent.window is None:
        return
    if _uses_redis():
        _sync_client().zrem(spent.window, spent.entry)
        return
    with _local_lock:
        log = cache.get(spent.window, [])
        cache.set(spent.window, [item for item in log if item[1] != spent.entry], spent.period)


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


_outage_logged = False


async def lenient(what: str, charging: Awaitable[Charge]) -> Charge:
    """Await a charge; while the store (Redis) fails, allow instead, so that a message is still saved.
    The outage is logged once, not once a frame, and its end once."""
    global _outage_logged
    try:
        outcome = await charging
    except Exception as error:
        if not _outage_logged:
            logger.warning("budgets unavailable: %s allowed until they are back (%r)", what, error)
            _outage_logged = True
        return Charge(True)
    if _outage_logged:
        logger.info("budgets available again")
        _outage_logged = False
    return outcome


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
    async def charge_socket_message(cls, user_id: int) -> Charge:
        """A socket's message frame: the same window as a REST post, one round trip, from the loop."""
        throttle = cls()
        return await lenient("messages", acharge(cls.key_for(user_id), throttle.num_requests, throttle.duration))
