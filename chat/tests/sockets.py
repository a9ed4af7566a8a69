"""Helpers for socket tests: real handshakes through `brewverse.asgi.application` (origin check, auth
middleware, URL router) with Channels' `WebsocketCommunicator`.

Tests that use them need `@pytest.mark.django_db(transaction=True)`: the events go out on commit.
"""

import json
import socket
from contextlib import closing

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db import connections

from accounts.models import User
from accounts.tokens import AccessToken
from brewverse.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1")
# Every browser and HTTP/1.1 client sends Host; a session socket's origin is checked against it.
HOST = (b"host", b"127.0.0.1")
# Long enough for a loaded machine and for Redis; a frame that is expected comes well before.
TIMEOUT = 5
# How long to listen before concluding that no frame is coming.
QUIET = 0.3


def access_token(user: User) -> str:
    return str(AccessToken.for_user(user))


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def down_redis_url() -> str:
    return f"redis://127.0.0.1:{closed_port()}/0"


class Sockets:
    """Opens sockets on the real ASGI application and disconnects them all when the test ends."""

    def __init__(self) -> None:
        self.opened: list[WebsocketCommunicator] = []

    async def connect(
        self,
        path: str,
        user: User | None = None,
        *,
        query: str = "",
        token: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> tuple[WebsocketCommunicator, bool, int | str | None]:
        params = []
        if token is None and user is not None:
            token = access_token(user)
        if token is not None:
            params.append(f"token={token}")
        if query:
            params.append(query)
        url = path + ("?" + "&".join(params) if params else "")
        headers = [ORIGIN] if headers is None else headers
        if not any(name == b"host" for name, _ in headers):
            headers = [*headers, HOST]
        communicator = WebsocketCommunicator(application, url, headers=headers)
        self.opened.append(communicator)
        connected, detail = await communicator.connect(timeout=TIMEOUT)
        return communicator, connected, detail

    async def chat(self, user: User, conversation_id: int, *, query: str = "") -> WebsocketCommunicator:
        communicator, connected, _ = await self.connect(f"/ws/chat/{conversation_id}/", user, query=query)
        assert connected, f"{user} could not open conversation {conversation_id}"
        return communicator

    async def notifications(self, user: User) -> WebsocketCommunicator:
        communicator, connected, _ = await self.connect("/ws/notifications/", user)
        assert connected, f"{user} could not open notifications"
        return communicator

    async def refused(self, path: str, user: User | None = None, **kwargs) -> None:
        communicator, connected, _ = await self.connect(path, user, **kwargs)
        assert not connected, f"the handshake to {path} should have been refused"
        # A consumer that refused can be waiting out a Redis read before it ends; nothing of ours
        # runs then, so it is not waited for.
        self.opened.remove(communicator)
        await communicator.disconnect(timeout=0.1)

    async def close_all(self) -> None:
        for communicator in self.opened:
            # Re-raises whatever ended a consumer with an exception: a consumer must never die.
            await communicator.disconnect(timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Argon2 costs a fifth of a second per user; socket tests make many users and log none in."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
async def sockets():
    # A fresh channel layer per test: the in-memory one holds queues bound to the test's event loop.
    channel_layers.backends.clear()
    opened = Sockets()
    yield opened
    await opened.close_all()
    channel_layers.backends.clear()
    # The thread that ran the consumers' queries can be left holding a connection, which would keep
    # the flush waiting and the test database from being dropped.
    await database_sync_to_async(connections.close_all)()


async def receive(communicator: WebsocketCommunicator, timeout: float = TIMEOUT, *, presence: bool = False) -> dict:
    """The next frame. `presence` frames come whenever a contact opens or closes their first or last
    socket, so tests of anything else skip them; tests of presence ask for them."""
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if presence or frame.get("type") != "presence":
            return frame


async def receive_messages(communicator: WebsocketCommunicator, count: int, timeout: float = TIMEOUT) -> list[dict]:
    """The next `count` frames, all of which must be `message` frames; returns their messages."""
    messages = []
    for _ in range(count):
        frame = await receive(communicator, timeout)
        assert frame["type"] == "message", frame
        messages.append(frame["message"])
    return messages


async def receive_messages_and_acks(
    communicator: WebsocketCommunicator, count: int, acks: int, timeout: float = TIMEOUT
) -> tuple[list[dict], list[dict]]:
    """The next `count` `message` frames and `acks` `ack` frames, in any mix (nothing else may come),
    checking that each ack comes after its message's own frame and names that very message."""
    messages: dict[int, dict] = {}
    acked: list[dict] = []
    while len(messages) < count or len(acked) < acks:
        frame = await receive(communicator, timeout)
        if frame["type"] == "ack":
            assert messages.get(frame["message"]["seq"]) == frame["message"], f"ack before its message: {frame}"
            acked.append(frame)
            continue
        assert frame["type"] == "message", frame
        messages[frame["message"]["seq"]] = frame["message"]
    return list(messages.values()), acked


async def assert_silent(*communicators: WebsocketCommunicator, timeout: float = QUIET) -> None:
    """Nothing arrives but, perhaps, `presence` frames (see `receive`)."""
    for communicator in communicators:
        while not await communicator.receive_nothing(timeout=timeout):
            output = await communicator.receive_output()
            assert output.get("type") == "websocket.send", output
            assert json.loads(output["text"]).get("type") == "presence", output


async def closed_with(communicator: WebsocketCommunicator, timeout: float = TIMEOUT) -> int | None:
    """Skips frames until the server closes the socket; returns the close code."""
    while True:
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output.get("code")
