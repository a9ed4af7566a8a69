"""brewverse/channel_layers.py: `group_send_many` delivers what a `group_send` per pair would, in order,
and on Redis in a constant number of round trips."""

import asyncio
import logging
import textwrap
import time
import uuid

import pytest
from channels.layers import get_channel_layer
from channels_redis import core as channels_redis_core
from django.conf import settings
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from brewverse.channel_layers import GROUP_SEND_LUA, InMemoryChannelLayer, RedisChannelLayer

# Marked as the other tests of the production backends are, and skipped on the embedded defaults.
NEEDS_REDIS = [pytest.mark.postgres_redis, pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis")]


def needs_redis(test):
    for mark in NEEDS_REDIS:
        test = mark(test)
    return test


# Sent to a channel after the sends under test: everything a channel receives before it is what they
# delivered, without waiting out a timeout to prove that nothing else came.
END = {"type": "test.end"}


def message(n: int) -> dict:
    return {"type": "test.message", "n": n}


class CountingConnection(aioredis.Connection):
    """A real redis-py connection that counts its writes. Each write is one round trip: a pipeline is
    packed into one write, and the layer waits for its answer before going on."""

    writes = 0

    async def send_packed_command(self, command, check_health: bool = True) -> None:
        type(self).writes += 1
        await super().send_packed_command(command, check_health)


@pytest.fixture
async def make_redis_layer():
    """Redis layers configured as brewverse.settings configures the real one, each under a prefix of its
    own so that tests do not see each other's keys; their keys are deleted afterwards."""
    layers: list[RedisChannelLayer] = []

    def make(*, host_copies: int = 1, **overrides) -> RedisChannelLayer:
        config = {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "prefix": f"test.{uuid.uuid4().hex}", **overrides}
        # Copies of the one test Redis still spread the keys over several hosts (connection indexes).
        config["hosts"] = config["hosts"] * host_copies
        layers.append(RedisChannelLayer(**config))
        return layers[-1]

    yield make
    for layer in layers:
        await layer.flush()


@pytest.fixture(
    params=[
        "in-memory",
        pytest.param("redis", marks=NEEDS_REDIS),
        pytest.param("redis with two hosts", marks=NEEDS_REDIS),
    ]
)
def layer(request, make_redis_layer):
    if request.param == "in-memory":
        return InMemoryChannelLayer(capacity=1500)
    return make_redis_layer(host_copies=2 if "two hosts" in request.param else 1)


async def channels_of(layer) -> list[str]:
    """Two channels of one process (on Redis they share one key, the process's inbox) and one that is not
    process-specific (a key of its own)."""
    return [await layer.new_channel(), await layer.new_channel(), f"inbox.{uuid.uuid4().hex}"]


async def received(layer, channel: str) -> list[dict]:
    """What `channel` received before END."""
    await layer.send(channel, END)
    messages = []
    while (got := await asyncio.wait_for(layer.receive(channel), timeout=5)) != END:
        messages.append(got)
    return messages


async def group_send_each(layer, sends: list[tuple[str, dict]]) -> None:
    """The behaviour group_send_many must match."""
    for group, sent in sends:
        await layer.group_send(group, sent)


def test_the_settings_use_these_layers():
    assert isinstance(get_channel_layer(), RedisChannelLayer if settings.REDIS_URL else InMemoryChannelLayer)


@pytest.mark.parametrize("send", ["group_send_many", "group_send each"])
async def test_every_channel_receives_what_group_send_would_deliver(layer, send):
    a, b, c = await channels_of(layer)
    members = {"one": [a, b, c], "two": [a], "three": [b, c], "nobody": []}
    for group, channels in members.items():
        for channel in channels:
            await layer.group_add(group, channel)
    if isinstance(layer, RedisChannelLayer) and layer.ring_size == 2:
        assert {layer.consistent_hash(group) for group in members} == {0, 1}, "the groups span both hosts"
    sends = [("one", message(1)), ("two", message(2)), ("three", message(3))]
    sends += [("one", message(4)), ("nobody", message(5)), ("two", message(6))]

    if send == "group_send_many":
        await layer.group_send_many(sends)
    else:
        await group_send_each(layer, sends)

    assert await received(layer, a) == [message(1), message(2), message(4), message(6)]
    assert await received(layer, b) == [message(1), message(3), message(4)]
    assert await received(layer, c) == [message(1), message(3), message(4)]


async def test_many_sends_to_one_group_arrive_in_order(layer):
    """On Redis, every message of a batch needs a score of its own: the channel pops the lowest first and
    breaks ties on the message bytes, which start at random."""
    channels = await channels_of(layer)
    for channel in channels:
        await layer.group_add("room", channel)

    await layer.group_send_many([("room", message(n)) for n in range(500)])

    for channel in channels:
        assert [got["n"] for got in await received(layer, channel)] == list(range(500))


async def test_an_empty_batch_sends_nothing(layer):
    a, *_ = await channels_of(layer)
    await layer.group_add("room", a)

    await layer.group_send_many([])

    assert await received(layer, a) == []


async def test_a_bad_group_name_fails_the_batch_before_anything_is_sent(layer):
    a, *_ = await channels_of(layer)
    await layer.group_add("room", a)

    with pytest.raises(TypeError):
        await layer.group_send_many([("room", message(1)), ("not a group!", message(2))])

    assert await received(layer, a) == []


@needs_redis
@pytest.mark.parametrize("hosts", [1, 2])
async def test_a_member_older_than_group_expiry_is_dropped_and_not_sent_to(make_redis_layer, hosts):
    layer = make_redis_layer(host_copies=hosts)
    fresh, stale, _ = await channels_of(layer)
    await layer.group_add("room", fresh)
    # As group_add would have written it group_expiry (and a bit) seconds ago.
    group_key = layer._group_key("room")
    group_connection = layer.connection(layer.consistent_hash("room"))
    await group_connection.zadd(group_key, {stale: time.time() - layer.group_expiry - 5})

    await layer.group_send_many([("room", message(1))])

    assert await received(layer, fresh) == [message(1)]
    assert await received(layer, stale) == []
    assert await group_connection.zscore(group_key, stale) is None


@needs_redis
async def test_a_full_channel_drops_the_extra_message_and_it_is_logged(make_redis_layer, caplog):
    layer = make_redis_layer(channel_capacity={"small.*": 2})
    for channel in ("small.inbox", "large.inbox"):
        await layer.group_add("room", channel)

    with caplog.at_level(logging.INFO, logger=channels_redis_core.logger.name):
        await layer.group_send_many([("room", message(n)) for n in range(3)])

    # Full, so END cannot be sent until these two are taken.
    assert [await layer.receive("small.inbox") for _ in range(2)] == [message(0), message(1)]
    assert await received(layer, "small.inbox") == []
    assert await received(layer, "large.inbox") == [message(0), message(1), message(2)]
    over_capacity = [r for r in caplog.records if r.name == channels_redis_core.logger.name]
    assert [r.getMessage() for r in over_capacity] == ["1 of 2 channels over capacity in group room"]


@needs_redis
@pytest.mark.parametrize("hosts", [1, 2])
async def test_a_batch_costs_two_round_trips_per_host_where_group_send_costs_four_per_group(make_redis_layer, hosts):
    host = {**settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0], "connection_class": CountingConnection}
    layer = make_redis_layer(hosts=[host], host_copies=hosts)
    inbox = await layer.new_channel()
    groups = [f"user.{n}" for n in range(200)]
    for group in groups:  # also opens the connections, whose handshakes are not counted
        await layer.group_add(group, inbox)
    sends = [(group, message(n)) for n, group in enumerate(groups)]

    CountingConnection.writes = 0
    await layer.group_send_many([])
    assert CountingConnection.writes == 0

    await layer.group_send_many(sends)
    # One pipeline for each host holding some of the groups, one for each holding some of their channels.
    group_hosts = {layer.consistent_hash(group) for group in groups}
    inbox_hosts = {layer.consistent_hash(layer.non_local_name(inbox))}
    assert len(group_hosts) == hosts
    assert CountingConnection.writes == len(group_hosts) + len(inbox_hosts)

    CountingConnection.writes = 0
    await group_send_each(layer, sends)
    assert CountingConnection.writes == 4 * len(groups)

    assert [got["n"] for got in await received(layer, inbox)] == list(range(200)) * 2


async def test_redis_errors_reach_the_caller():
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:9/0"])  # nothing listens on port 9

    with pytest.raises(RedisConnectionError):
        await layer.group_send_many([("room", message(1))])


def test_the_script_is_channels_redis_group_send_script():
    """It is copied (channels_redis keeps it inside group_send): an upgrade that changes it fails here."""
    scripts = [const for const in RedisChannelLayer.group_send.__code__.co_consts if "over_capacity" in str(const)]

    assert [textwrap.dedent(script).strip() for script in scripts] == [GROUP_SEND_LUA.strip()]


# --- receiving in batches -------------------------------------------------------------------------


@needs_redis
async def test_a_full_inbox_is_received_in_batches_each_channel_in_order(make_redis_layer):
    host = {**settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0], "connection_class": CountingConnection}
    layer = make_redis_layer(hosts=[host])
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("room", channel)
        await layer.group_add(f"only.{channel.rsplit('!', 1)[1]}", channel)
    # 150 to all three, interleaved with 150 to one channel at a time: 300 entries in the process's inbox.
    sends = []
    for n in range(150):
        sends.append(("room", message(n)))
        sends.append((f"only.{channels[n % 3].rsplit('!', 1)[1]}", message(1000 + n)))
    await layer.group_send_many(sends)

    CountingConnection.writes = 0
    got = {channel: [] for channel in channels}
    for channel in channels:
        while len(got[channel]) < 200:
            got[channel].append((await asyncio.wait_for(layer.receive(channel), timeout=5))["n"])
    await layer.wait_received()

    for index, channel in enumerate(channels):
        assert got[channel] == [m for n in range(150) for m in (n, 1000 + n) if m == n or n % 3 == index]
    # channels_redis takes four round trips per entry (1,200 here); batches of up to 100 take two each.
    assert CountingConnection.writes <= 2 * 3 + 2


@needs_redis
async def test_a_receive_cancelled_while_it_waits_loses_nothing(make_redis_layer):
    layer = make_redis_layer()
    first, second = await layer.new_channel(), await layer.new_channel()
    waiting = asyncio.ensure_future(layer.receive(first))
    await asyncio.sleep(0.2)  # blocked on the empty inbox
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    await layer.send(second, message(1))
    await layer.send(first, message(2))
    assert (await asyncio.wait_for(layer.receive(first), timeout=5))["n"] == 2
    assert (await asyncio.wait_for(layer.receive(second), timeout=5))["n"] == 1
