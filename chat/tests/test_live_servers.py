"""Real daphne processes and a real WebSocket client (`websockets`), as in production.

With PostgreSQL and Redis: two daphne processes share the test database and one Redis, alice talks to
one and bob to the other, and everything must cross between them. On any backend: a server whose
Redis is down still saves and acknowledges messages, and says so on /healthz.
"""

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.db import connection
from websockets.asyncio.client import connect

from chat import services
from chat.tests.live import live_env, live_server
from chat.tests.sockets import access_token, closed_port

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ORIGIN = "http://127.0.0.1"
TIMEOUT = 10

needs_postgres_and_redis = pytest.mark.skipif(
    not settings.REDIS_URL or connection.vendor != "postgresql", reason="needs PostgreSQL and Redis"
)


# --- a small client ------------------------------------------------------------------------------


def http(server, method: str, path: str, user, body: dict | None = None) -> tuple[int, dict]:
    """One REST call with the standard library; returns (status, JSON body)."""
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {access_token(user)}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


async def http_async(*args, **kwargs) -> tuple[int, dict]:
    return await asyncio.to_thread(http, *args, **kwargs)


def socket_url(server, path: str, user, query: str = "") -> str:
    return f"{server.ws_url}{path}?token={access_token(user)}" + (f"&{query}" if query else "")


async def recv(ws, timeout: float = TIMEOUT) -> dict:
    """The next frame that is not `presence` (those come and go with every socket; tested elsewhere)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] != "presence":
            return frame


async def quiet(ws, seconds: float = 0.5) -> None:
    try:
        while True:
            frame = await recv(ws, seconds)
            pytest.fail(f"unexpected frame {frame}")
    except TimeoutError:
        return


# --- two processes, one Redis ---------------------------------------------------------------------


@pytest.fixture
def group(alice, bob, carol):
    return services.conversation_create_group(creator=alice, title="Brew crew", usernames=["bob", "carol"])


@needs_postgres_and_redis
async def test_messages_cross_between_processes_both_ways(two_servers, direct, alice, bob):
    first, second = two_servers
    path = f"/ws/chat/{direct.pk}/"
    async with (
        connect(socket_url(first, path, alice), origin=ORIGIN) as alice_chat,
        connect(socket_url(second, path, bob), origin=ORIGIN) as bob_chat,
    ):
        await alice_chat.send(json.dumps({"type": "message", "content": "from the first", "client_id": "a-1"}))
        own = await recv(alice_chat)
        assert (own["type"], own["message"]["client_id"], own["message"]["seq"]) == ("message", "a-1", 1)
        assert await recv(alice_chat) == {"type": "ack", "client_id": "a-1", "message": own["message"]}
        assert await recv(bob_chat) == own

        await bob_chat.send(json.dumps({"type": "message", "content": "from the second"}))
        reply = await recv(bob_chat)
        assert reply["message"]["seq"] == 2
        assert await recv(alice_chat) == reply

        await bob_chat.send(json.dumps({"type": "typing", "is_typing": True}))
        typing = await recv(alice_chat)
        assert (typing["type"], typing["user"]["id"]) == ("typing", bob.pk)

        await alice_chat.send(json.dumps({"type": "read"}))
        receipt = await recv(bob_chat)
        assert (receipt["type"], receipt["user"]["id"]) == ("receipt", alice.pk)
        assert receipt["last_read_message_id"] == reply["message"]["id"]
        assert await recv(alice_chat) == receipt
        await quiet(alice_chat)
        await quiet(bob_chat)


@needs_postgres_and_redis
async def test_a_rest_post_on_one_process_reaches_sockets_on_the_other(two_servers, direct, alice, bob):
    first, second = two_servers
    async with (
        connect(socket_url(second, f"/ws/chat/{direct.pk}/", bob), origin=ORIGIN) as bob_chat,
        connect(socket_url(second, "/ws/notifications/", bob), origin=ORIGIN) as bob_notes,
    ):
        status, posted = await http_async(
            first, "POST", "/api/messages", alice, {"conversation_id": direct.pk, "content": "over REST"}
        )
        assert status == 201, posted
        assert await recv(bob_chat) == {"type": "message", "message": posted}
        assert await recv(bob_notes) == {
            "type": "new_message",
            "conversation_id": direct.pk,
            "message": posted,
            "unread_count": 1,
            "total_unread": 1,
        }


@needs_postgres_and_redis
async def test_notifications_reach_every_device_across_processes(two_servers, group, alice, bob, make_user):
    first, second = two_servers
    async with (
        connect(socket_url(first, "/ws/notifications/", bob), origin=ORIGIN) as bob_phone,
        connect(socket_url(second, "/ws/notifications/", bob), origin=ORIGIN) as bob_laptop,
        connect(socket_url(first, f"/ws/chat/{group.pk}/", alice), origin=ORIGIN) as alice_chat,
        connect(socket_url(second, f"/ws/chat/{group.pk}/", bob), origin=ORIGIN) as bob_chat,
    ):
        await alice_chat.send(json.dumps({"type": "message", "content": "news"}))
        message = (await recv(alice_chat))["message"]
        for device in (bob_phone, bob_laptop):
            frame = await recv(device)
            assert (frame["type"], frame["message"]["id"], frame["unread_count"]) == ("new_message", message["id"], 1)
        assert (await recv(bob_chat))["message"] == message

        # Read on the laptop's process: the phone on the other process clears its badge.
        await bob_chat.send(json.dumps({"type": "read"}))
        assert (await recv(bob_chat))["type"] == "receipt"
        assert (await recv(alice_chat))["type"] == "receipt"
        for device in (bob_phone, bob_laptop):
            frame = await recv(device)
            assert frame == {
                "type": "read",
                "conversation_id": group.pk,
                "last_read_message_id": message["id"],
                "unread_count": 0,
                "total_unread": 0,
            }

        # A rename over REST on one process reaches both devices.
        status, _ = await http_async(second, "PATCH", f"/api/conversations/{group.pk}/", alice, {"title": "Renamed"})
        assert status == 200
        for device in (bob_phone, bob_laptop):
            frame = await recv(device)
            assert (frame["type"], frame["conversation"]["title"]) == ("conversation", "Renamed")

        # Removed on one process: bob's chat socket on the other one closes with 4403.
        status, _ = await http_async(first, "DELETE", f"/api/conversations/{group.pk}/members/bob", alice)
        assert status == 204
        with pytest.raises(Exception) as closed:  # noqa: PT011 - websockets' ConnectionClosed family
            await recv(bob_chat)
        assert getattr(closed.value, "rcvd", None) is not None
        assert closed.value.rcvd.code == 4403
        for device in (bob_phone, bob_laptop):
            assert await recv(device) == {"type": "conversation_removed", "conversation_id": group.pk}


@needs_postgres_and_redis
async def test_a_burst_across_processes_reaches_everyone_once_in_seq_order(two_servers, group, alice, bob, carol):
    first, second = two_servers
    per_client = 100
    placement = [(alice, first), (bob, second), (carol, first)]
    sockets = [
        await connect(socket_url(server, f"/ws/chat/{group.pk}/", user), origin=ORIGIN) for user, server in placement
    ]
    try:

        async def flood(ws, user) -> None:
            for n in range(per_client):
                await ws.send(json.dumps({"type": "message", "content": f"{user.username} {n}", "client_id": f"{n}"}))

        async def collect(ws, count: int) -> tuple[list[dict], list[str]]:
            """Every message frame, and the client_ids of the acks, each after its message's frame."""
            messages, acks = [], []
            while len(messages) < count or len(acks) < per_client:
                frame = await recv(ws, 30)
                if frame["type"] == "ack":
                    assert frame["message"] in messages, frame
                    acks.append(frame["client_id"])
                    continue
                assert frame["type"] == "message", frame
                messages.append(frame["message"])
            return messages, acks

        total = per_client * len(sockets)
        collectors = [asyncio.ensure_future(collect(ws, total)) for ws in sockets]
        await asyncio.gather(*(flood(ws, user) for ws, (user, _) in zip(sockets, placement, strict=True)))
        received = await asyncio.gather(*collectors)
        for messages, acks in received:
            assert acks == [f"{n}" for n in range(per_client)]
            assert [m["seq"] for m in messages] == list(range(1, total + 1))
            for user, _ in placement:
                own = [m["content"] for m in messages if m["sender"]["id"] == user.pk]
                assert own == [f"{user.username} {n}" for n in range(per_client)]
        for ws in sockets:
            await quiet(ws)
    finally:
        for ws in sockets:
            await ws.close()


# --- a Redis that is down -----------------------------------------------------------------------


async def test_with_redis_down_a_real_server_still_saves_and_acknowledges(direct, alice, bob):
    env = live_env(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    with live_server(env, degraded_ok=True) as server:
        status, health = await http_async(server, "GET", "/healthz", alice)
        assert status == 503
        assert health == {"status": "failing", "database": "ok", "channel_layer": "failing"}

        path = f"/ws/chat/{direct.pk}/"
        async with connect(socket_url(server, path, alice), origin=ORIGIN) as alice_chat:
            await alice_chat.send(json.dumps({"type": "message", "content": "in the dark", "client_id": "d-1"}))
            own = await recv(alice_chat)
            assert (own["type"], own["message"]["client_id"], own["message"]["seq"]) == ("message", "d-1", 1)
            assert await recv(alice_chat) == {"type": "ack", "client_id": "d-1", "message": own["message"]}

            status, posted = await http_async(
                server, "POST", "/api/messages", alice, {"conversation_id": direct.pk, "content": "REST in the dark"}
            )
            assert (status, posted["seq"]) == (201, 2)

            await alice_chat.send(json.dumps({"type": "message", "content": "still"}))
            assert [(await recv(alice_chat))["message"]["seq"] for _ in range(2)] == [2, 3]

        # Bob was away; reconnecting with ?after= he gets everything, in order.
        async with connect(socket_url(server, path, bob, "after=0"), origin=ORIGIN) as bob_chat:
            assert [(await recv(bob_chat))["message"]["seq"] for _ in range(3)] == [1, 2, 3]
            await quiet(bob_chat)
        assert "channel layer unavailable" in server.log(tail=20_000)
