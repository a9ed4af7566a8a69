"""The channel layers Brewverse runs on: Channels' own, plus `group_send_many`.

chat/events.py fans one change out to many groups (a `user.<id>` group per recipient: 199 for a message
to a 200-member group). channels_redis' `group_send` costs four Redis round trips per group;
`group_send_many` sends the whole batch in two round trips per Redis host (docs/performance.md, "What to
change next", item 4). The in-memory layer has the same method so that callers need not care which runs.
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


class RedisChannelLayer(channels_redis_core.RedisChannelLayer):
    """channels_redis' layer, with many group sends batched into a constant number of round trips."""

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
