"""The shared budgets (chat/ratelimit.py) and the limits the sockets put on a user with them: one
message budget for REST and socket, one frame bucket for all of a user's sockets, and a cap on their
sockets of each kind. On the embedded defaults and, in the PostgreSQL + Redis run, on Redis."""

import asyncio
import logging
import threading

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from chat import presence, ratelimit
from chat.consumers import CLOSE_TOO_MANY
from chat.models import Message
from chat.ratelimit import MessagePostThrottle
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import assert_silent, closed_with, down_redis_url, receive, receive_messages
from chat.tests.test_consumers import rest_post

pytestmark = pytest.mark.django_db(transaction=True)

sockets = socket_fixtures.sockets
fast_passwords = socket_fixtures.fast_passwords


# --- the counters -----------------------------------------------------------------------------------


def test_parallel_charges_never_spend_more_than_the_budget():
    allowed = []
    start = threading.Barrier(40)

    def spend() -> None:
        start.wait()
        allowed.append(ratelimit.charge("test:parallel", 7, 60).allowed)

    threads = [threading.Thread(target=spend) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert allowed.count(True) == 7


def test_a_refund_gives_one_charge_back_and_a_refusal_costs_nothing():
    spent = [ratelimit.charge("test:refund", 2, 60) for _ in range(2)]
    refused = ratelimit.charge("test:refund", 2, 60)
    assert [c.allowed for c in spent] == [True, True]
    assert not refused.allowed
    assert 0 < refused.retry_after <= 120

    ratelimit.refund(spent[0])
    ratelimit.refund(refused)  # counted nothing, gives nothing back

    assert ratelimit.charge("test:refund", 2, 60).allowed
    assert not ratelimit.charge("test:refund", 2, 60).allowed


def test_a_window_slides_so_its_edge_is_no_second_budget(monkeypatch):
    now = 1_000_000 * 60 + 59.0  # the last second of a minute
    monkeypatch.setattr(ratelimit.time, "time", lambda: now)
    assert all(ratelimit.charge("test:edge", 5, 60).allowed for _ in range(3))
    now += 10
    assert all(ratelimit.charge("test:edge", 5, 60).allowed for _ in range(2))

    now += 49  # a new minute, and then some: the five are still within the last 60 seconds
    refused = ratelimit.charge("test:edge", 5, 60)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(1)  # when the oldest is a minute old

    now += 1.01
    assert [ratelimit.charge("test:edge", 5, 60).allowed for _ in range(4)] == [True, True, True, False]


async def test_a_bucket_allows_a_burst_then_its_rate():
    takes = [await ratelimit.atake("test:bucket", 3, 10) for _ in range(4)]
    assert [t.allowed for t in takes] == [True, True, True, False]
    assert 0 < takes[-1].retry_after <= 0.1
    await asyncio.sleep(0.15)
    assert (await ratelimit.atake("test:bucket", 3, 10)).allowed


# --- one message budget for REST and sockets ----------------------------------------------------------


def saved(conversation) -> int:
    return Message.objects.filter(conversation=conversation).count()


@pytest.fixture
def three_messages_a_minute(monkeypatch):
    monkeypatch.setattr(MessagePostThrottle, "rate", "3/min", raising=False)


async def test_while_rest_posts_are_refused_the_same_users_socket_messages_are_too(
    sockets, direct, alice, bob, three_messages_a_minute
):
    alice_chat = await sockets.chat(alice, direct.pk)
    for n in range(3):
        response = await rest_post(alice, "/api/messages", {"conversation_id": direct.pk, "content": f"rest {n}"})
        assert response.status_code == 201
    assert (await rest_post(alice, "/api/messages", {"conversation_id": direct.pk, "content": "no"})).status_code == 429
    await receive_messages(alice_chat, 3)

    await alice_chat.send_json_to({"type": "message", "content": "by socket", "client_id": "s-1"})
    refusal = await receive(alice_chat)
    assert 0 < refusal.pop("retry_after") <= 60
    assert refusal == {
        "type": "error",
        "code": "rate_limited",
        "detail": "Too many messages; wait before sending more.",
        "client_id": "s-1",
    }
    assert await database_sync_to_async(saved)(direct) == 3
    # Other frames are not messages: they go on.
    await alice_chat.send_json_to({"type": "read"})
    await assert_silent(alice_chat)
    # Bob's budget is his own.
    bob_chat = await sockets.chat(bob, direct.pk)
    await bob_chat.send_json_to({"type": "message", "content": "bob's"})
    assert (await receive(bob_chat))["message"]["content"] == "bob's"


async def test_socket_messages_spend_the_budget_that_rest_posts_spend(sockets, direct, alice, three_messages_a_minute):
    alice_chat = await sockets.chat(alice, direct.pk)
    for n in range(3):
        await alice_chat.send_json_to({"type": "message", "content": f"socket {n}"})
    await receive_messages(alice_chat, 3)

    response = await rest_post(alice, "/api/messages", {"conversation_id": direct.pk, "content": "over REST"})

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert await database_sync_to_async(saved)(direct) == 3


# --- one frame bucket per user ---------------------------------------------------------------------


@override_settings(SOCKET_FRAME_BURST=3, SOCKET_FRAME_RATE=0.001)
async def test_a_users_sockets_share_one_frame_bucket(sockets, direct, alice, bob):
    first = await sockets.chat(alice, direct.pk)
    second = await sockets.chat(alice, direct.pk)
    notes = await sockets.notifications(alice)

    await first.send_json_to({"type": "typing", "is_typing": True})
    await second.send_json_to({"type": "typing", "is_typing": False})
    await notes.send_json_to({"type": "anything"})  # a frame the notification socket refuses still costs
    assert (await receive(notes))["code"] == "unknown_type"

    await second.send_json_to({"type": "typing", "is_typing": True, "client_id": "t-1"})
    refusal = await receive(second)
    assert (refusal["code"], refusal["client_id"]) == ("rate_limited", "t-1")
    assert refusal["retry_after"] > 900
    await first.send_json_to({"type": "read"})
    assert (await receive(first))["code"] == "rate_limited"


# --- sockets per user ----------------------------------------------------------------------------


@pytest.fixture
def two_sockets_per_user(settings, clean_presence):
    settings.SOCKETS_PER_USER = 2


async def assert_too_many(sockets, path: str, user) -> None:
    communicator, connected, _ = await sockets.connect(path, user)
    assert connected  # accepted, so that the close code reaches the client
    assert await closed_with(communicator) == CLOSE_TOO_MANY
    sockets.opened.remove(communicator)


async def test_a_user_has_at_most_sockets_per_user_of_each_kind(sockets, direct, alice, bob, two_sockets_per_user):
    notes = [await sockets.notifications(alice) for _ in range(2)]
    await assert_too_many(sockets, "/ws/notifications/", alice)

    # Chat sockets are a kind of their own, and bob has places of his own.
    chats = [await sockets.chat(alice, direct.pk) for _ in range(2)]
    await assert_too_many(sockets, f"/ws/chat/{direct.pk}/", alice)
    await sockets.notifications(bob)

    # A closed socket gives its place back.
    await notes[0].disconnect()
    sockets.opened.remove(notes[0])
    await sockets.notifications(alice)
    # The sockets that were let in work; the refused ones were never counted.
    await chats[0].send_json_to({"type": "message", "content": "still here"})
    assert (await receive(chats[0]))["message"]["content"] == "still here"


async def test_sockets_opening_at_once_never_take_more_places_than_there_are(sockets, alice, two_sockets_per_user):
    opened = await asyncio.gather(*(sockets.connect("/ws/notifications/", alice) for _ in range(8)))
    open_ones, refused = 0, 0
    for communicator, connected, _ in opened:
        assert connected
        if await communicator.receive_nothing(timeout=0.3):
            open_ones += 1
        else:
            assert await closed_with(communicator) == CLOSE_TOO_MANY
            sockets.opened.remove(communicator)
            refused += 1

    assert (open_ones, refused) == (2, 6)


async def test_the_sockets_of_a_crashed_process_stop_taking_places(sockets, alice, settings, two_sockets_per_user):
    settings.PRESENCE_TTL = 0.3
    for n in range(2):  # sockets whose process died: nobody closes them
        socket_id = f"notifications:crashed-{n}"
        assert await presence.socket_opened_within(alice.pk, socket_id, prefix="", limit=9) is not None
    await assert_too_many(sockets, "/ws/notifications/", alice)
    settings.PRESENCE_TTL = 60

    await asyncio.sleep(0.4)

    await sockets.notifications(alice)
    await sockets.notifications(alice)
    await assert_too_many(sockets, "/ws/notifications/", alice)


async def test_while_the_budgets_store_is_down_frames_go_through_and_it_is_logged_once(
    sockets, direct, alice, caplog, monkeypatch
):
    down = down_redis_url()
    monkeypatch.setattr(ratelimit, "_outage_logged", False)
    cache = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": down}}
    with override_settings(REDIS_URL=down, CACHES=cache), caplog.at_level(logging.INFO):
        alice_chat = await sockets.chat(alice, direct.pk)
        for n in range(3):
            await alice_chat.send_json_to({"type": "message", "content": f"during the outage {n}"})
        assert len(await receive_messages(alice_chat, 3)) == 3

        assert caplog.text.count("budgets unavailable") == 1
