"""Two real daphne processes on PostgreSQL and one Redis: a password change or a logout made in one
process (or by another program on the database, here the test) closes the sockets held by the other."""

import asyncio
import json
import urllib.request

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from accounts.services import token_pair_for
from chat.consumers import CLOSE_REVOKED
from conftest import PASSWORD

pytestmark = [
    pytest.mark.live,
    pytest.mark.postgres_redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL or connection.vendor != "postgresql", reason="needs PostgreSQL and Redis"
    ),
]

TIMEOUT = 10


async def close_code(ws) -> int | None:
    """Reads (and drops) frames until the server closes the socket; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    except ConnectionClosed:
        return ws.close_code


@database_sync_to_async
def signed_in_browser(user) -> tuple[Client, str]:
    browser = Client()
    browser.force_login(user)
    return browser, f"sessionid={browser.cookies['sessionid'].value}"


def paths(conversation_id: int) -> list[str]:
    return [f"/ws/chat/{conversation_id}/", "/ws/notifications/"]


async def test_a_password_change_in_one_process_closes_the_sockets_of_the_other(two_servers, direct, alice):
    first, second = two_servers
    tokens = await database_sync_to_async(token_pair_for)(alice)
    _, session = await signed_in_browser(alice)
    opened = [
        await connect(f"{second.ws_url}{path}?token={tokens['access']}", origin=second.url) for path in paths(direct.pk)
    ] + [
        await connect(f"{second.ws_url}{path}", origin=second.url, additional_headers={"Cookie": session})
        for path in paths(direct.pk)
    ]

    request = urllib.request.Request(
        f"{first.url}/api/auth/password",
        data=json.dumps({"old_password": PASSWORD, "new_password": "an-entirely-new-passphrase"}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {tokens['access']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        assert response.status == 200

    assert await asyncio.gather(*(close_code(ws) for ws in opened)) == [CLOSE_REVOKED] * 4
    second.wait_sockets_closed()


async def test_a_logout_closes_that_browsers_sockets_in_another_process(two_servers, direct, alice):
    _, second = two_servers
    leaving, leaving_session = await signed_in_browser(alice)
    _, staying_session = await signed_in_browser(alice)
    gone = [
        await connect(f"{second.ws_url}{path}", origin=second.url, additional_headers={"Cookie": leaving_session})
        for path in paths(direct.pk)
    ]
    async with connect(
        f"{second.ws_url}/ws/notifications/", origin=second.url, additional_headers={"Cookie": staying_session}
    ) as kept:
        await database_sync_to_async(leaving.post)("/logout")

        assert await asyncio.gather(*(close_code(ws) for ws in gone)) == [CLOSE_REVOKED] * 2
        with pytest.raises(TimeoutError):  # still open
            await asyncio.wait_for(kept.recv(), 1)
    second.wait_sockets_closed()
