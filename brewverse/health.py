"""`/healthz`: is the database answering, and is the channel layer?"""

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import close_old_connections, connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)
CHECK_TIMEOUT = 2.0


def _database_answers() -> None:
    # This runs in a pool thread that no request cycle cleans up after: without closing, a connection
    # broken by a database restart would stay in that thread and fail every later check.
    close_old_connections()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        close_old_connections()


async def _channel_layer_answers() -> None:
    await get_channel_layer().group_send("healthz", {"type": "healthz.ping"})


async def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": sync_to_async(_database_answers, thread_sensitive=False)(),
        "channel_layer": _channel_layer_answers(),
    }
    body = {"status": "ok"}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, CHECK_TIMEOUT)
            body[name] = "ok"
        except Exception as error:
            logger.warning("health check: %s failing: %r", name, error)
            body[name] = "failing"
            body["status"] = "failing"
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
