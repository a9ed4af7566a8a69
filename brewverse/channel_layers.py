"""The channel layers Brewverse runs on: Channels' own, plus `group_send_many` and batched receives.

chat/events.py fans one change out to many groups (a `user.<id>` group per recipient: 199 for a message
to a 200-member group). channels_redis' `group_send` costs four Redis round trips per group;
`group_send_many` sends the whole batch in two round trips per Redis host. The in-memory layer has the
same method so that callers need not care which runs.

On the receiving side, channels_redis takes a process's messages out of its Redis inbox one at a time,
four round trips each (with the backup queue that keeps a cancelled receive from losing one); a loaded
process's inbox holds many, and that was the largest cost left per message (docs/performance.md). The
Redis layer here takes up to RECEIVE_BATCH per round trip, with the same backup-queue guarantee.
"""

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence

from channels import layers as channels_layers
from channels_redis import core as channels_redis_core

GroupSend = tuple[str, dict]

# channels_redis 4.3.0's group_send script, whitespace aside: it is a local of that method, so it cannot
# be imported. For each channel key, the message is added unless the key already holds its capacity;
# returns how many keys were full. A test checks that it still matches the installed channels_redis.
GROUP_SEND_LUA = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i=1,#KEYS do
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


# The most messages one receive takes out of a process's inbox at once.
RECEIVE_BATCH = 100

# First what an interrupted receive left in the backup queue (KEYS[2]) goes back into the inbox (KEYS[1]),
# as channels_redis' receive does; then up to ARGV[1] messages, lowest score first, move from the inbox to
# the backup queue and are returned. One atomic step: a receive cancelled while it waits for the reply
# loses nothing, the next one puts them back.
POP_BATCH_LUA = """
local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = #backed_up, 1, -2 do
    redis.call('ZADD', KEYS[1], backed_up[i], backed_up[i - 1])
end
redis.call('DEL', KEYS[2])
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
for i = 1, #popped, 2 do
    redis.call('ZADD', KEYS[2], popped[i + 1], popped[i])
end
return popped
"""


class RedisChannelLayer(channels_redis_core.RedisChannelLayer):
    """channels_redis' layer, with many group sends batched into a constant number of round trips, and a
    process's inbox read in batches."""

    async def receive_single(self, channel: str) -> tuple[str | list[str], dict]:
        """The next message of a process's inbox (`specific.<id>!`): what the inbox holds, up to
        RECEIVE_BATCH, comes out in one round trip; all but the last go straight into the receive buffers
        of their channels (as channels_redis' `receive` does with the one message it gets from here), the
        last is returned. An empty inbox is waited on as channels_redis does. Other channels: unchanged."""
        if "!" not in channel:
            return await super().receive_single(channel)
        index = self.consistent_hash(channel)
        key = self.prefix + channel
        backup = self._backup_channel_name(key)
        connection = self.connection(index)
        await self.receive_clean_locks.acquire(key)
        try:
            contents = (await connection.eval(POP_BATCH_LUA, 2, key, backup, RECEIVE_BATCH))[0::2]
            while not contents:
                first = await self._brpop_with_clean(index, key, timeout=self.brpop_timeout)
                contents = [first] if first is not None else []
        except BaseException:
            self.receive_clean_locks.release(key)
            raise
        # Handed over: the backup queue may go. Until it has, no receive of this inbox starts, or it would
        # put these messages back (channels_redis cleans up the same way, one message at a time).
        cleaner = asyncio.ensure_future(connection.delete(backup))
        self.receive_cleaners.append(cleaner)

        def cleaned(task: asyncio.Future) -> None:
            self.receive_cleaners.remove(task)
            self.receive_clean_locks.release(key)

        cleaner.add_done_callback(cleaned)
        *earlier, last = [self._unpacked(content, channel) for content in contents]
        for targets, message in earlier:
            for target in targets if isinstance(targets, list) else [targets]:
                self.receive_buffer[target].put_nowait(message)
        return last

    def _unpacked(self, content: bytes, channel: str) -> tuple[str | list[str], dict]:
        """The message and whom it is for, as channels_redis' receive_single returns them."""
        message = self.deserialize(content)
        return message.pop("__asgi_channel__", channel), message

    async def group_send_many(self, sends: Sequence[GroupSend]) -> None:
        """Deliver as `group_send(group, message)` awaited for each pair in order would, in two round trips
        per Redis host: one pipeline reading the groups, then one with the channels' expiry trims and one
        group_send script per group, in the order of `sends`. Redis errors propagate. Every group name is
        checked before anything is sent, so a bad one fails the whole batch rather than half of it."""
        for group, _ in sends:
            self.require_valid_group_name(group)
        if not sends:
            return
        members = await self._group_members(dict.fromkeys(group for group, _ in sends))

        # Per host: the channel keys to trim (a dict as an ordered set), and (group, members, keys, args)
        # for each group script, in the order of `sends`.
        trims: defaultdict[int, dict[str, None]] = defaultdict(dict)
        scripts: defaultdict[int, list[tuple[str, int, list, list]]] = defaultdict(list)
        score = 0.0
        for group, message in sends:
            channel_names = members[group]
            if not channel_names:
                continue
            keys_by_host, messages, capacities = self._map_channel_keys_to_connection(channel_names, message)
            # A channel pops its lowest score first and breaks ties on the message, which starts with random
            # bytes: two messages of one batch must never share a score, or they could arrive swapped.
            score = max(time.time(), math.nextafter(score, math.inf))
            for index, keys in keys_by_host.items():
                trims[index].update(dict.fromkeys(keys))
                args = [messages[key] for key in keys] + [capacities[key] for key in keys] + [score, self.expiry]
                scripts[index].append((group, len(channel_names), keys, args))

        expired = int(time.time()) - int(self.expiry)

        async def deliver(index: int) -> None:
            # No MULTI/EXEC: group_send is not atomic across groups either, and outside a transaction Redis
            # wakes a receiver blocked in BZPOPMIN as soon as its message is added, not after the batch.
            pipe = self.connection(index).pipeline(transaction=False)
            for key in trims[index]:
                pipe.zremrangebyscore(key, min=0, max=expired)
            for _, _, keys, args in scripts[index]:
                pipe.eval(GROUP_SEND_LUA, len(keys), *keys, *args)
            replies = await pipe.execute()
            over_capacity = replies[len(trims[index]) :]
            for (group, size, _, _), over in zip(scripts[index], over_capacity, strict=True):
                if over > 0:
                    # channels_redis' own logger and words, so that logs read the same as for group_send.
                    channels_redis_core.logger.info("%s of %s channels over capacity in group %s", over, size, group)

        await asyncio.gather(*(deliver(index) for index in scripts))

    async def _group_members(self, groups: Iterable[str]) -> dict[str, list[str]]:
        """Every group's channels, one pipeline per host: first drop members older than group_expiry, as
        group_send does, then read the rest."""
        groups_by_host: defaultdict[int, list[str]] = defaultdict(list)
        for group in groups:
            groups_by_host[self.consistent_hash(group)].append(group)
        expired = int(time.time()) - self.group_expiry

        async def read(index: int, groups: list[str]) -> dict[str, list[str]]:
            pipe = self.connection(index).pipeline(transaction=False)
            for group in groups:
                key = self._group_key(group)
                pipe.zremrangebyscore(key, min=0, max=expired)
                pipe.zrange(key, 0, -1)
            replies = await pipe.execute()
            return {
                group: [name.decode("utf8") for name in names]
                for group, names in zip(groups, replies[1::2], strict=True)
            }

        found = await asyncio.gather(*(read(index, groups) for index, groups in groups_by_host.items()))
        return {group: names for members in found for group, names in members.items()}


class InMemoryChannelLayer(channels_layers.InMemoryChannelLayer):
    """Channels' in-memory layer, with the same `group_send_many` as the Redis one."""

    async def group_send_many(self, sends: Sequence[GroupSend]) -> None:
        """One `group_send` after another: in memory there is no round trip to save, and awaiting each
        keeps the order. Names are checked first, as the Redis layer does, so a bad one sends nothing."""
        for group, _ in sends:
            self.require_valid_group_name(group)
        for group, message in sends:
            await self.group_send(group, message)
