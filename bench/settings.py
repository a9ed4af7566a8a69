"""The production settings with the channel layer chosen by `BENCH_CHANNEL_LAYER`.

The benchmark runs `brewverse.settings` untouched for `core`; this module is used for the others:
- `core`: the Redis layer exactly as `brewverse.settings` configures it (`brewverse.channel_layers`,
  channels_redis' RedisChannelLayer with batched group sends and receives).
- `core-tuned`: the same layer with two Redis connection options changed (see REDIS_HOST_OPTIONS).
- `pubsub`: channels_redis' RedisPubSubChannelLayer, with the same connection options.
"""

import os

from brewverse.settings import *  # noqa: F403
from brewverse.settings import CHANNEL_LAYERS, REDIS_URL

_LAYER = os.environ.get("BENCH_CHANNEL_LAYER", "core")

# redis-py 8 gives every connection a 5 s socket timeout, as long as channels_redis' blocking
# BZPOPMIN: an idle layer.receive() then fails with TimeoutError every 5 s. And its asyncio pool
# refuses (MaxConnectionsError) past 100 connections, which one message to a 200-member group
# needed while its group sends ran concurrently. A longer timeout and a larger pool remove both.
REDIS_HOST_OPTIONS = {"socket_timeout": 30, "max_connections": 2000}

if _LAYER == "core-tuned":
    CHANNEL_LAYERS = {
        "default": {
            **CHANNEL_LAYERS["default"],
            "CONFIG": {
                **CHANNEL_LAYERS["default"]["CONFIG"],
                "hosts": [{"address": REDIS_URL, **REDIS_HOST_OPTIONS}],
            },
        }
    }
elif _LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, **REDIS_HOST_OPTIONS}]},
        }
    }
elif _LAYER != "core":
    raise ValueError(f"BENCH_CHANNEL_LAYER must be core, core-tuned or pubsub, not {_LAYER!r}")
