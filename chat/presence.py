"""Who is online: a user is online while at least one of their sockets is open, in any process.

Each open socket is an entry (user, socket id, expiry). A socket adds its entry when it opens, in
the same atomic step that checks its user has fewer than SOCKETS_PER_USER sockets of its kind (the
socket id starts with the kind: `chat:` or `notifications:`), pushes the expiry PRESENCE_TTL seconds
ahead on every heartbeat (every PRESENCE_HEARTBEAT seconds) and removes it when it closes. A process
that dies without closing its sockets stops heartbeating, so its entries stop counting once they
expire: nobody stays online forever. Nobody closes those sockets, so `sweep_expired` (run by
`manage.py run_notifier` every pass) finds users left with expired entries only and records them
offline, as their last socket closing would have.

Two stores, chosen by settings like the channel layer:
- with REDIS_URL, one sorted set per user (member: socket id, score: expiry timestamp), shared by
  every process, and an index of the users who have entries (`brewverse:presence:online`, score: their
  newest expiry) for the sweep; each change runs atomically (MULTI/EXEC, or a Lua script where it
  depends on what it reads), so of two sockets opening (or closing) at once in two processes, or of a
  closing socket and a sweeper, exactly one sees the user go online (or offline);
- on the embedded defaults, the `SocketPresence` table, with the user's row locked by the sweeper.

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
from datetime import UTC, datetime, timedelta

import redis
import redis.asyncio
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from brewverse.db import in_thread_pool
from chat import events
from chat.models import SocketPresence

logger = logging.getLogger(__name__)

KEY_PREFIX = "brewverse:presence:"
# Every user with entries, scored by their newest entry's expiry: the sweep reads the expired ones.
INDEX_KEY = f"{KEY_PREFIX}online"
# Users a sweep handles per query (or per Redis round trip).
SWEEP_BATCH = 500


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
    """Add or refresh the socket's entry; returns how many live entries the user had before (its own
    included, when it had not expired)."""
    now = time.time()
    expiry = now + settings.PRESENCE_TTL
    async with _async_client().pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(_key(user_id), "-inf", now)
        pipe.zcount(_key(user_id), now, "+inf")
        pipe.zadd(_key(user_id), {socket_id: expiry})
        pipe.expire(_key(user_id), _key_lifetime())
        # GT: the index keeps the newest expiry of all the user's sockets, not this socket's.
        pipe.zadd(INDEX_KEY, {user_id: expiry}, gt=True)
        results = await pipe.execute()
    return results[1]


# KEYS: the user's set, the index; ARGV: socket id, now, expiry, set lifetime, user id, kind prefix,
# limit. `_redis_refresh` for a socket that is opening, unless the user already has `limit` live
# entries whose socket id starts with the prefix: then -1 and nothing is added. One script, so two
# sockets opening at once in two processes cannot both take the last place.
_OPEN_WITHIN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
local prefix, same = ARGV[6], 0
for _, member in ipairs(live) do
    if string.sub(member, 1, #prefix) == prefix then
        same = same + 1
    end
end
if same >= tonumber(ARGV[7]) then
    return -1
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[5])
return #live
"""


async def _redis_open_within(user_id: int, socket_id: str, prefix: str, limit: int) -> int:
    now = time.time()
    script = _async_client().register_script(_OPEN_WITHIN)
    args = [socket_id, now, now + settings.PRESENCE_TTL, _key_lifetime(), user_id, prefix, limit]
    return await script(keys=[_key(user_id), INDEX_KEY], args=args)


# KEYS: the user's set, the index; ARGV: socket id, now, user id. The user leaves the index in the
# same step as their last entry, and whoever takes them out of it (this or a sweeper) is the one who
# announces them offline: -1 when a sweeper was first. While entries remain, the index follows the
# newest one.
_REMOVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local live = redis.call('ZCOUNT', KEYS[1], ARGV[2], '+inf')
if live == 0 then
    if redis.call('ZREM', KEYS[2], ARGV[3]) == 0 then
        return -1
    end
else
    local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
    redis.call('ZADD', KEYS[2], newest[2], ARGV[3])
end
return live
"""

# KEYS: the user's set (it may have expired away entirely: ZCOUNT of a missing key is 0), the index;
# ARGV: user id, now. Takes the user out of the index if they have no live entry and returns their
# newest expiry; nil when they have a live entry (the index then follows it) or are gone already (a
# socket closed, or another sweeper was first).
_SWEEP = """
if redis.call('ZCOUNT', KEYS[1], ARGV[2], '+inf') > 0 then
    local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
    redis.call('ZADD', KEYS[2], newest[2], ARGV[1])
    return false
end
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not expiry then
    return false
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return expiry
"""


async def _redis_remove(user_id: int, socket_id: str) -> int:
    """Remove the socket's entry; returns how many live entries the user has left (-1: none, and a
    sweep has announced it)."""
    remove = _async_client().register_script(_REMOVE)
    return await remove(keys=[_key(user_id), INDEX_KEY], args=[socket_id, time.time(), user_id])


def _redis_online(user_ids: list[int]) -> set[int]:
    now = time.time()
    pipe = _sync_client().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.zcount(_key(user_id), now, "+inf")
    return {user_id for user_id, count in zip(user_ids, pipe.execute(), strict=True) if count}


def _redis_sweep() -> list[int]:
    client = _sync_client()
    sweep = client.register_script(_SWEEP)
    swept = []
    while True:
        now = time.time()
        # Each user read here leaves this range: swept, or their score moved to a live entry's expiry.
        due = client.zrangebyscore(INDEX_KEY, "-inf", f"({now}", start=0, num=SWEEP_BATCH)
        for member in due:
            user_id = int(member)
            expiry = sweep(keys=[_key(user_id), INDEX_KEY], args=[user_id, now])
            if expiry is None:
                continue
            try:
                _record_gone(user_id, float(expiry))
            except Exception as error:
                # Out of the index already: like a closing socket's, this announcement is best effort.
                logger.warning("presence: user %s swept but not recorded offline (%r)", user_id, error)
                continue
            swept.append(user_id)
        if len(due) < SWEEP_BATCH:
            return swept


# --- the database ---------------------------------------------------------------------------------


def _expiry():
    return timezone.now() + timedelta(seconds=settings.PRESENCE_TTL)


def _db_refresh(user_id: int, socket_id: str) -> int:
    now = timezone.now()
    with transaction.atomic():
        SocketPresence.objects.filter(user_id=user_id, expires_at__lte=now).exclude(socket_id=socket_id).delete()
        count = SocketPresence.objects.filter(user_id=user_id, expires_at__gt=now).count()
        SocketPresence.objects.update_or_create(
            socket_id=socket_id, defaults={"user_id": user_id, "expires_at": _expiry()}
        )
    return count


def _db_open_within(user_id: int, socket_id: str, prefix: str, limit: int) -> int:
    """Like `_redis_open_within`. The user's row is locked first, so sockets opening at once take
    their places one at a time (SQLite's IMMEDIATE transaction does that by itself)."""
    now = timezone.now()
    with transaction.atomic():
        list(User.objects.select_for_update().filter(pk=user_id).values_list("pk"))
        live = SocketPresence.objects.filter(user_id=user_id, expires_at__gt=now)
        if live.filter(socket_id__startswith=prefix).count() >= limit:
            return -1
        SocketPresence.objects.filter(user_id=user_id, expires_at__lte=now).delete()
        count = live.count()
        SocketPresence.objects.create(socket_id=socket_id, user_id=user_id, expires_at=_expiry())
    return count


def _db_remove(user_id: int, socket_id: str) -> int:
    """Like `_redis_remove`: -1 when the socket's row is gone already, the sweep having taken it."""
    now = timezone.now()
    with transaction.atomic():
        removed, _ = SocketPresence.objects.filter(socket_id=socket_id).delete()
        SocketPresence.objects.filter(user_id=user_id, expires_at__lte=now).delete()
        live = SocketPresence.objects.filter(user_id=user_id, expires_at__gt=now).count()
    return -1 if live == 0 and not removed else live


def _db_online(user_ids: list[int]) -> set[int]:
    live = SocketPresence.objects.filter(user_id__in=user_ids, expires_at__gt=timezone.now())
    return set(live.values_list("user_id", flat=True).distinct())


def _db_sweep_batch() -> tuple[list[int], int]:
    """Sweeps up to SWEEP_BATCH users; returns those recorded offline, and how many were looked at.

    The user's row is the lock: on PostgreSQL a second sweeper skips (SKIP LOCKED) a user the first
    holds; FOR NO KEY UPDATE, so a socket inserting its row (which takes KEY SHARE on the user) does
    not wait for it. Then every row of theirs is locked, waiting for a socket opening or closing
    right now: one that committed is seen (a live row keeps the user online), one that has yet to run
    waits for this transaction and then finds the user offline, so announces them online again. Rows
    are deleted by primary key, never by user, so a row committed meanwhile is never lost. On SQLite
    the IMMEDIATE transaction serializes all of this.
    """
    now = timezone.now()
    swept = []
    with transaction.atomic():
        users = User.objects.filter(pk__in=SocketPresence.objects.filter(expires_at__lte=now).values("user_id"))
        if connection.features.has_select_for_update_skip_locked:
            users = users.select_for_update(
                skip_locked=True, of=("self",), no_key=connection.features.has_select_for_no_key_update
            )
        user_ids = list(users.order_by("pk").values_list("pk", flat=True)[:SWEEP_BATCH])
        rows = list(
            SocketPresence.objects.filter(user_id__in=user_ids)
            .select_for_update()
            .values_list("pk", "user_id", "expires_at")
        )
        live = {user_id for _, user_id, expires_at in rows if expires_at > now}
        newest: dict[int, datetime] = {}
        for _, user_id, expires_at in rows:
            if user_id not in live:
                newest[user_id] = max(expires_at, newest.get(user_id, expires_at))
        # The expired rows of users still online go too, or they would be looked at on every pass.
        SocketPresence.objects.filter(pk__in=[pk for pk, _, expires_at in rows if expires_at <= now]).delete()
        for user_id in sorted(newest):
            _record_gone(user_id, newest[user_id].timestamp())
            swept.append(user_id)
    return swept, len(user_ids)


def _db_sweep() -> list[int]:
    swept = []
    while True:
        batch, looked_at = _db_sweep_batch()
        swept += batch
        if looked_at < SWEEP_BATCH:
            return swept


# --- the interface ----------------------------------------------------------------------------------


async def socket_opened(user_id: int, socket_id: str) -> bool:
    """Count a newly accepted socket; True when the user just came online (no other live socket)."""
    if _uses_redis():
        return await _redis_refresh(user_id, socket_id) == 0
    return await in_thread_pool(_db_refresh)(user_id, socket_id) == 0


async def socket_opened_within(user_id: int, socket_id: str, *, prefix: str, limit: int) -> bool | None:
    """`socket_opened`, unless the user already has `limit` live sockets whose ids start with
    `prefix` (their sockets of one kind): then None, and the socket is not counted. Sockets of a
    crashed process stop taking places once their entries expire."""
    if _uses_redis():
        before = await _redis_open_within(user_id, socket_id, prefix, limit)
    else:
        before = await in_thread_pool(_db_open_within)(user_id, socket_id, prefix, limit)
    return None if before < 0 else before == 0


async def socket_heartbeat(user_id: int, socket_id: str) -> bool:
    """The socket is still open: push its expiry PRESENCE_TTL seconds ahead. True when the user had no
    live entry left, this one included (its process stalled past the TTL): they count as having gone
    offline, and a sweep may have announced it, so they are back online now."""
    if _uses_redis():
        return await _redis_refresh(user_id, socket_id) == 0
    return await in_thread_pool(_db_refresh)(user_id, socket_id) == 0


async def socket_closed(user_id: int, socket_id: str) -> bool:
    """Stop counting a socket; True when it was the user's last live one (they just went offline),
    unless a sweep announced that already (its process stalled past the TTL)."""
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


def sweep_expired() -> list[int]:
    """Record offline every user whose entries have all expired without their sockets closing (their
    process died); returns their ids. Exactly once per user, even with several sweepers running, and
    never a user whose socket opened meanwhile. Their `last_seen_at` is their last heartbeat: their
    newest entry's expiry less PRESENCE_TTL."""
    if _uses_redis():
        return _redis_sweep()
    return _db_sweep()


# --- the socket's side ----------------------------------------------------------------------------


def presence_record(*, user_id: int, online: bool, at: datetime | None = None) -> None:
    """The user came online or went offline (at `at`, now by default): remember when, and tell
    everyone who shares a conversation, once that is committed."""
    at = at or timezone.now()
    User.objects.filter(pk=user_id).update(last_seen_at=at)
    transaction.on_commit(lambda: events.presence_changed(user_id, online, at))


def _record_gone(user_id: int, expiry: float) -> None:
    """A user the sweep found with expired entries only: offline since their last heartbeat."""
    heard = min(expiry - settings.PRESENCE_TTL, time.time())
    presence_record(user_id=user_id, online=False, at=datetime.fromtimestamp(heard, tz=UTC))


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
        # The heartbeat under way, which `stop()` lets finish: cancelled half-way, its thread would
        # carry on and could put the entry back after the socket removed it.
        self._heartbeat: asyncio.Future | None = None

    async def start(self, owner: object, *, prefix: str, limit: int) -> bool:
        """Count the socket, unless its user has `limit` live sockets with ids starting with `prefix`
        already: then False, and it is not counted (chat/consumers.py refuses it).

        Awaited, since the socket waits for the answer (one Redis round trip, or one transaction); a
        store that fails lets the socket in, uncounted (presence is best effort). Announcing the user
        online and the heartbeat run in the background, so a slow channel layer never holds up the
        socket. Should `owner` (the consumer) vanish without `stop()`, the heartbeat ends with it.
        """
        try:
            came_online = await socket_opened_within(self.user_id, self.socket_id, prefix=prefix, limit=limit)
        except Exception as error:
            logger.warning("presence: socket %s of user %s not counted (%r)", self.socket_id, self.user_id, error)
            came_online = False
        if came_online is None:
            return False
        self._opening = asyncio.ensure_future(self._announce(came_online))
        self._beating = asyncio.ensure_future(self._beat())
        weakref.finalize(owner, self._beating.cancel).atexit = False
        return True

    async def stop(self) -> None:
        if self._opening is None:
            return
        opening, self._opening = self._opening, None
        # Let the opening finish, so "online" is never announced after "offline".
        await asyncio.wait([opening])
        await _cancel(self._beating)
        if self._heartbeat is not None:
            await asyncio.wait([self._heartbeat])
        try:
            if await socket_closed(self.user_id, self.socket_id):
                await in_thread_pool(presence_record)(user_id=self.user_id, online=False)
        except Exception as error:
            logger.warning("presence: socket %s of user %s not closed (%r)", self.socket_id, self.user_id, error)

    async def _announce(self, came_online: bool) -> None:
        if not came_online:
            return
        try:
            await in_thread_pool(presence_record)(user_id=self.user_id, online=True)
        except Exception as error:
            logger.warning("presence: user %s not announced online (%r)", self.user_id, error)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_HEARTBEAT)
            self._heartbeat = asyncio.ensure_future(self._heartbeat_once())
            await asyncio.shield(self._heartbeat)

    async def _heartbeat_once(self) -> None:
        try:
            if await socket_heartbeat(self.user_id, self.socket_id):
                await in_thread_pool(presence_record)(user_id=self.user_id, online=True)
        except Exception as error:
            logger.warning("presence: heartbeat of socket %s failed (%r)", self.socket_id, error)
