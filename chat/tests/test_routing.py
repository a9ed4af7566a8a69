"""The socket paths (chat/routing.py): with or without the trailing slash, and every other path
refused at the handshake with a 403, in-process and on a real daphne."""

import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chat.tests import sockets as socket_fixtures
from chat.tests.live import live_server
from chat.tests.sockets import receive

pytestmark = pytest.mark.django_db(transaction=True)

sockets = socket_fixtures.sockets
fast_passwords = socket_fixtures.fast_passwords

UNROUTED = [
    "/ws/nope/",
    "/ws/nope",
    "/ws/chat/-1/",
    "/ws/chat/abc/",
    "/ws/chat/1.5/",
    "/ws/chat//",
    "/ws/chat/",
    "/ws/",
    "/",
    "/ws/notifications/extra/",
    "/ws/chat/99999999999999999999/",
    "/api/conversations/",
]


async def test_both_sockets_open_without_the_trailing_slash(sockets, direct, alice, bob):
    alice_chat, connected, _ = await sockets.connect(f"/ws/chat/{direct.pk}", alice)
    assert connected
    bob_notes, connected, _ = await sockets.connect("/ws/notifications", bob)
    assert connected

    await alice_chat.send_json_to({"type": "message", "content": "no slash"})
    assert (await receive(alice_chat))["message"]["content"] == "no slash"
    assert (await receive(bob_notes))["type"] == "new_message"


@pytest.mark.parametrize("path", UNROUTED)
async def test_a_path_that_names_no_socket_is_refused_cleanly(sockets, alice, path, caplog):
    with caplog.at_level(logging.INFO):
        await sockets.refused(path, alice)
    assert "socket refused" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING], caplog.text


async def handshake_status(url: str) -> int:
    """101 for a socket that opened (and is closed again at once), else the refusal's HTTP status."""
    try:
        async with connect(url, open_timeout=10):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.live
async def test_on_daphne_paths_without_a_slash_open_and_unrouted_ones_are_a_403(direct, alice):
    token = socket_fixtures.access_token(alice)
    paths = [f"/ws/chat/{direct.pk}", "/ws/notifications", "/ws/nope/", "/ws/chat/-1/", "/ws/chat/abc/"]
    with live_server() as server:
        answers = {path: await handshake_status(f"{server.ws_url}{path}?token={token}") for path in paths}
        server.wait_sockets_closed()
        log = server.log()

    assert answers == {
        f"/ws/chat/{direct.pk}": 101,
        "/ws/notifications": 101,
        "/ws/nope/": 403,
        "/ws/chat/-1/": 403,
        "/ws/chat/abc/": 403,
    }, log
    assert "Traceback" not in log, log
    assert " 500 " not in log, log
    assert log.count("socket refused: no socket at this path") == 3, log
