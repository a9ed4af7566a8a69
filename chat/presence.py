"""Who is online: a user is online while at least one of their sockets is open, in any process.

Each open socket is an entry (user, socket id, expiry). A socket adds its entry when it is accepted,
pushes the expiry PRESENCE_TTL seconds ahead on every heartbeat (every PRESENCE_HEARTBEAT seconds) and
removes it when it closes. A process that dies without closing its sockets stops heartbeating, so its
entries stop counting once they expire: nobody stays online forever.

Two stores, chosen by settings like the channel layer:
- with REDIS_URL, one sorted set per user (member: socket id, score: expiry timestamp), shared by
  every process; each change runs as one MULTI/EXEC, so of two sockets opening (or closing) at once
  in two processes exactly one sees the user go online (or offline);
- on the embedded defaults, the `SocketPresence` table.

The socket side is async (`SocketPresenceTracker`, one per accepted socket); `online_user_ids` is
sync, for the notifier and the API. When a user comes online or goes offline their `last_seen_at` is
saved and everyone sharing a conversation with them gets a `presence` frame (`events.presence_changed`).
Presence is best effort: if Redis or the database fails, the socket works on and the entry expires.
"""

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable
from datetime import timedelta

import redis
import redis.asyncio
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from brewverse.db import in_thread_pool
from chat import events
from chat.models import SocketPresence

logger = logging.getLogger(__name__)

KEY_PREFIX = "brewverse:presence:"


def _key(user_id: int) -> str:
    return f"{KEY_PREFIX}{user_id}"


def _uses_redis() -> bool:
    return bool(settings.REDIS_URL)


# --- Redis ----------------------------------------------------------------------------------------

# An asyncio client is bound to the event loop that opened its connections: one client per loop
# (daphne has one; tests have one per test).
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis]" = (
    weakref.WeakKeyDictionary()
)
_sync_clients: dict[str, redis.Redis] = {}


def _async_client() -> redis.asyncio.Redis:
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
        _async_clients[loop] = client
    return client


def _sync_client() -> redis.Redis:
    client = _sync_clients.get(settings.REDIS_URL)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
        _sync_clients[settings.REDIS_URL] = client
    return client


def _key_lifetime() -> int:
    # The whole set expires a little after its newest entry, so a crashed process leaves nothing behind.
    return int(settings.PRESENCE_TTL) + 5


async def _redis_refresh(user_id: int, socket_id: str) -> int:
    """Add or refresh the socket's entry; returns how many live entries the user had before."""
    now = time.time()
    async with _async_client().pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(_key(user_id), "-inf", now)
        pipe.zcount(_key(user_id), now, "+inf")
        pipe.zadd(_key(user_id), {socket_id: now + settings.PRESENCE_TTL})
        pipe.expire(_key(user_id), _key_lifetime())
        results = await pipe.execute()
    return results[1]


async def _redis_remove(user_id: int, socket_id: str) -> int:
    """Remove the socket's entry; returns how many live entries the user has left."""
    now = time.time()
    async with _async_client().pipeline(transaction=True) as pipe:
        pipe.zrem(_key(user_id), socket_id)
        pipe.zremrangebyscore(_key(user_id), "-inf", now)
        pipe.zcount(_key(user_id), now, "+inf")
        results = await pipe.execute()
    return results[2]


def _redis_online(user_ids: list[int]) -> set[int]:
    now = time.time()
    pipe = _sync_client().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.zcount(_key(user_id), now, "+inf")
    return {user_id for user_id, count in zip(user_ids, pipe.execute(), strict=True) if count}


# --- the database ---------------------------------------------------------------------------------


def _expiry():
    return timezone.now() + timedelta(seconds=settings.PRESENCE_TTL)


def _db_refresh(user_id: int, socket_id: str) -> int:
    now = timezone.now()
    with transaction.atomic():
        SocketPresence.objects.filter(user_id=user_id, expires_at__lte=now).exclude(socket_id=socket_id).delete()
        before = SocketPresence.objects.filter(user_id=user_id, expires_at__gt=now).exclude(socket_id=socket_id)
        count = before.count()
        SocketPresence.objects.update_or_create(
            socket_id=socket_id, defaults={"user_id": user_id, "expires_at": _expiry()}
        )
    return count


def _db_remove(user_id: int, socket_id: str) -> int:
    now = timezone.now()
    with transaction.atomic():
        SocketPresence.objects.filter(socket_id=socket_id).delete()
        SocketPresence.objects.filter(user_id=user_id, expires_at__lte=now).delete()
        return SocketPresence.objects.filter(user_id=user_id, expires_at__gt=now).count()


def _db_online(user_ids: list[int]) -> set[int]:
    live = SocketPresence.objects.filter(user_id__in=user_ids, expires_at__gt=timezone.now())
    return set(live.values_list("user_id", flat=True).distinct())


# --- the interface ----------------------------------------------------------------------------------


async def socket_opened(user_id: int, socket_id: str) -> bool:
    """Count a newly accepted socket; True when the user just came online (no other live socket)."""
    if _uses_redis():
        return await _redis_refresh(user_id, socket_id) == 0
    return await in_thread_pool(_db_refresh)(user_id, socket_id) == 0


async def socket_heartbeat(user_id: int, socket_id: str) -> None:
    """The socket is still open: push its expiry PRESENCE_TTL seconds ahead."""
    if _uses_redis():
        await _redis_refresh(user_id, socket_id)
    else:
        await in_thread_pool(_db_refresh)(user_id, socket_id)


async def socket_closed(user_id: int, socket_id: str) -> bool:
    """Stop counting a socket; True when it was the user's last live one (they just went offline)."""
    if _uses_redis():
        return await _redis_remove(user_id, socket_id) == 0
    return await in_thread_pool(_db_remove)(user_id, socket_id) == 0


def online_user_ids(user_ids: Iterable[int]) -> set[int]:
    """Which of these users have a live socket: one round trip to Redis, or one query."""
    user_ids = list(dict.fromkeys(user_ids))
    if not user_ids:
        return set()
    if _uses_redis():
        return _redis_online(user_ids)
    return _db_online(user_ids)


def is_online(user_id: int) -> bool:
    return user_id in online_user_ids([user_id])


# --- the socket's side ----------------------------------------------------------------------------


def presence_record(*, user_id: int, online: bool) -> None:
    """The user came online or went offline: remember when, and tell everyone who shares a conversation."""
    now = timezone.now()
    User.objects.filter(pk=user_id).update(last_seen_at=now)
    events.presence_changed(user_id, online, now)


async def _cancel(task: asyncio.Future) -> None:
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)


class SocketPresenceTracker:
    """One accepted socket's part in its user's presence: counted from `start()`, kept alive by a
    heartbeat, and no longer counted after `stop()` (or PRESENCE_TTL after its process died)."""

    def __init__(self, user_id: int, socket_id: str) -> None:
        self.user_id = user_id
        self.socket_id = socket_id
        self._opening: asyncio.Future | None = None
        self._beating: asyncio.Future | None = None

    def start(self, owner: object) -> None:
        """Runs in the background, so a slow store or channel layer never holds up the socket.

        Should `owner` (the consumer) vanish without `stop()`, the heartbeat ends with it.
        """
        self._opening = asyncio.ensure_future(self._open())
        self._beating = asyncio.ensure_future(self._beat())
        weakref.finalize(owner, self._beating.cancel).atexit = False

    async def stop(self) -> None:
        if self._opening is None:
            return
        opening, self._opening = self._opening, None
        # Let the opening finish, so "online" is never announced after "offline".
        await asyncio.wait([opening])
        await _cancel(self._beating)
        try:
            if await socket_closed(self.user_id, self.socket_id):
                await in_thread_pool(presence_record)(user_id=self.user_id, online=False)
        except Exception as error:
            logger.warning("presence: socket %s of user %s not closed (%r)", self.socket_id, self.user_id, error)

    async def _open(self) -> None:
        try:
            if await socket_opened(self.user_id, self.socket_id):
                await in_thread_pool(presence_record)(user_id=self.user_id, online=True)
        except Exception as error:
            logger.warning("presence: socket %s of user %s not counted (%r)", self.socket_id, self.user_id, error)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_HEARTBEAT)
            try:
                await socket_heartbeat(self.user_id, self.socket_id)
            except Exception as error:
                logger.warning("presence: heartbeat of socket %s failed (%r)", self.socket_id, error)
