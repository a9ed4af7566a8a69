"""The two WebSockets, frame by frame, through the real ASGI application (docs/realtime.md)."""

import asyncio
import json
import logging
from urllib.parse import urlsplit

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from chat import consumers, events, selectors, services
from chat.api.serializers import MessageSerializer
from chat.consumers import CLOSE_REMOVED
from chat.models import Message, Participant
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import (
    access_token,
    assert_silent,
    closed_with,
    down_redis_url,
    receive,
    receive_messages,
    receive_messages_and_acks,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The shared socket fixtures, used by name in this module.
sockets = socket_fixtures.sockets
fast_passwords = socket_fixtures.fast_passwords


@pytest.fixture
def group(alice, bob, carol):
    return services.conversation_create_group(creator=alice, title="Brew crew", usernames=["bob", "carol"])


def public(user) -> dict:
    return {"id": user.pk, "username": user.username, "display_name": user.display_name}


@database_sync_to_async
def send(user, conversation_id: int, content: str, client_id: str | None = None) -> Message:
    conversation = selectors.participant_get(user, conversation_id).conversation
    message, _ = services.message_send(sender=user, conversation=conversation, content=content, client_id=client_id)
    return message


@database_sync_to_async
def participant(user, conversation_id: int) -> Participant:
    return Participant.objects.get(user=user, conversation_id=conversation_id)


@database_sync_to_async  # which also closes the thread's database connection afterwards
def rest_post(user, path: str, body: dict | None = None):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
    return api.post(path, body or {}, format="json")


# --- message ------------------------------------------------------------------------------------


async def test_message_goes_to_every_chat_socket_and_to_the_others_notifications(sockets, direct, alice, bob):
    alice_chat = await sockets.chat(alice, direct.pk)
    bob_chat = await sockets.chat(bob, direct.pk)
    alice_notes = await sockets.notifications(alice)
    bob_notes = await sockets.notifications(bob)

    await alice_chat.send_json_to({"type": "message", "content": "  first brew?  ", "client_id": "c-1"})

    own = await receive(alice_chat)
    assert own["type"] == "message"
    message = own["message"]
    assert message["content"] == "first brew?"
    assert message["client_id"] == "c-1"
    assert message["seq"] == 1
    assert message["conversation_id"] == direct.pk
    assert message["sender"] == public(alice)
    # Then the acknowledgement, naming the client_id and the message.
    assert await receive(alice_chat) == {"type": "ack", "client_id": "c-1", "message": message}
    assert await receive(bob_chat) == {"type": "message", "message": message}
    assert await receive(bob_notes) == {
        "type": "new_message",
        "conversation_id": direct.pk,
        "message": message,
        "unread_count": 1,
        "total_unread": 1,
    }
    # The sender's other devices hear of it too, their counts as they stand; nothing is sent twice.
    assert await receive(alice_notes) == {
        "type": "new_message",
        "conversation_id": direct.pk,
        "message": message,
        "unread_count": 0,
        "total_unread": 0,
    }
    await assert_silent(alice_chat, bob_chat, alice_notes, bob_notes)
    assert await database_sync_to_async(Message.objects.filter(conversation=direct).count)() == 1


async def test_a_message_sent_on_one_device_reaches_the_senders_other_devices(sockets, direct, alice, bob):
    await send(bob, direct.pk, "unread here")
    alice_phone = await sockets.notifications(alice)
    alice_laptop = await sockets.notifications(alice)
    bob_notes = await sockets.notifications(bob)
    alice_chat = await sockets.chat(alice, direct.pk)

    await alice_chat.send_json_to({"type": "message", "content": "from the phone", "client_id": "p-1"})

    message = (await receive(alice_chat))["message"]
    for device in (alice_phone, alice_laptop):
        frame = await receive(device)
        assert frame == {
            "type": "new_message",
            "conversation_id": direct.pk,
            "message": message,
            "unread_count": 0,  # sending read Bob's message too
            "total_unread": 0,
        }
    assert (await receive(bob_notes))["unread_count"] == 1
    await assert_silent(alice_phone, alice_laptop, bob_notes)


async def test_edits_and_deletions_reach_every_members_notification_sockets(sockets, direct, alice, bob):
    message = await send(alice, direct.pk, "helo")
    alice_notes = await sockets.notifications(alice)
    bob_notes = await sockets.notifications(bob)

    await database_sync_to_async(services.message_edit)(actor=alice, message=message, content="hello")
    edited = [await receive(alice_notes), await receive(bob_notes)]
    await database_sync_to_async(services.message_delete)(actor=alice, message=message)
    deleted = [await receive(alice_notes), await receive(bob_notes)]

    for frame in edited:
        assert (frame["type"], frame["conversation_id"]) == ("message_updated", direct.pk)
        assert (frame["message"]["id"], frame["message"]["content"]) == (message.pk, "hello")
        assert frame["message"]["edited_at"] is not None
    for frame in deleted:
        assert (frame["type"], frame["conversation_id"]) == ("message_deleted", direct.pk)
        assert (frame["message"]["id"], frame["message"]["deleted"], frame["message"]["content"]) == (
            message.pk,
            True,
            "",
        )
    # bob had not read it: its deletion also gives his devices their new counts.
    counts = await receive(bob_notes)
    assert (counts["type"], counts["unread_count"], counts["total_unread"]) == ("read", 0, 0)
    await assert_silent(alice_notes, bob_notes)


async def test_unread_counts_in_new_message_are_the_recipients_own(sockets, group, direct, alice, bob, carol):
    await send(alice, direct.pk, "one")
    await send(alice, direct.pk, "two")
    bob_notes = await sockets.notifications(bob)
    carol_notes = await sockets.notifications(carol)

    await send(alice, group.pk, "hello group")

    bob_frame, carol_frame = await receive(bob_notes), await receive(carol_frame_socket := carol_notes)
    assert (bob_frame["unread_count"], bob_frame["total_unread"]) == (1, 3)
    assert (carol_frame["unread_count"], carol_frame["total_unread"]) == (1, 1)
    await assert_silent(carol_frame_socket)


async def test_a_retried_client_id_is_acknowledged_with_the_first_message_and_not_resent(sockets, direct, alice, bob):
    alice_chat = await sockets.chat(alice, direct.pk)
    bob_chat = await sockets.chat(bob, direct.pk)

    await alice_chat.send_json_to({"type": "message", "content": "once", "client_id": "retry-me"})
    first = (await receive(alice_chat))["message"]
    assert await receive(alice_chat) == {"type": "ack", "client_id": "retry-me", "message": first}
    await receive(bob_chat)
    await send(bob, direct.pk, "meanwhile")
    assert (await receive(alice_chat))["message"]["seq"] == 2
    await receive(bob_chat)
    await alice_chat.send_json_to({"type": "message", "content": "once", "client_id": "retry-me"})

    # Only an ack: no second `message` frame, which would repeat seq 1 after seq 2.
    assert await receive(alice_chat) == {"type": "ack", "client_id": "retry-me", "message": first}
    await assert_silent(alice_chat, bob_chat)
    assert await database_sync_to_async(Message.objects.filter(conversation=direct).count)() == 2


async def test_a_retry_of_a_rest_post_is_acknowledged_on_the_socket_without_a_second_message(
    sockets, direct, alice, bob
):
    alice_chat = await sockets.chat(alice, direct.pk)
    response = await rest_post(
        alice, "/api/messages", {"conversation_id": direct.pk, "content": "hi", "client_id": "r-1"}
    )
    posted = response.json()
    assert await receive(alice_chat) == {"type": "message", "message": posted}

    await alice_chat.send_json_to({"type": "message", "content": "hi", "client_id": "r-1"})

    assert await receive(alice_chat) == {"type": "ack", "client_id": "r-1", "message": posted}
    await assert_silent(alice_chat)


async def test_a_retry_on_a_socket_opened_later_is_acknowledged_and_the_stream_stays_in_order(
    sockets, direct, alice, bob
):
    """The retry comes on a new socket (after a reconnect): ack at once, then live messages in order."""
    first = await send(alice, direct.pk, "lost answer", client_id="x-1")
    alice_chat = await sockets.chat(alice, direct.pk)

    await alice_chat.send_json_to({"type": "message", "content": "lost answer", "client_id": "x-1"})
    await alice_chat.send_json_to({"type": "message", "content": "next", "client_id": "x-2"})

    ack = await receive(alice_chat)
    assert (ack["type"], ack["client_id"], ack["message"]["id"]) == ("ack", "x-1", first.pk)
    second = await receive(alice_chat)
    assert (second["type"], second["message"]["seq"]) == ("message", 2)
    assert await receive(alice_chat) == {"type": "ack", "client_id": "x-2", "message": second["message"]}
    await assert_silent(alice_chat)


async def test_a_send_without_a_client_id_gets_its_message_frame_and_no_ack(sockets, direct, alice):
    alice_chat = await sockets.chat(alice, direct.pk)

    await alice_chat.send_json_to({"type": "message", "content": "no id"})
    await alice_chat.send_json_to({"type": "message", "content": "empty id", "client_id": ""})  # none, as over REST

    for _ in range(2):
        frame = await receive(alice_chat)
        assert (frame["type"], frame["message"]["client_id"]) == ("message", None)
    await assert_silent(alice_chat)


async def test_a_rest_post_reaches_the_sockets_exactly_like_a_socket_frame(sockets, direct, alice, bob):
    bob_chat = await sockets.chat(bob, direct.pk)
    bob_notes = await sockets.notifications(bob)
    alice_chat = await sockets.chat(alice, direct.pk)

    response = await rest_post(alice, "/api/messages", {"conversation_id": direct.pk, "content": "via REST"})
    assert response.status_code == 201, response.content
    posted = response.json()
    from_rest = [await receive(bob_chat), await receive(bob_notes), await receive(alice_chat)]
    await alice_chat.send_json_to({"type": "message", "content": "via socket"})
    from_socket = [await receive(bob_chat), await receive(bob_notes), await receive(alice_chat)]

    assert from_rest[0] == {"type": "message", "message": posted}
    assert from_rest[2] == {"type": "message", "message": posted}
    assert from_rest[1]["message"] == posted
    for rest_frame, socket_frame in zip(from_rest, from_socket, strict=True):
        assert rest_frame.keys() == socket_frame.keys()
        assert rest_frame["type"] == socket_frame["type"]
        assert rest_frame["message"].keys() == socket_frame["message"].keys()
    assert from_socket[0]["message"]["seq"] == posted["seq"] + 1
    assert from_socket[1]["unread_count"] == 2


# --- ?after= replay -----------------------------------------------------------------------------


async def test_after_replays_the_missed_messages_in_order_then_live_ones(sockets, direct, alice, bob):
    sent = [await send(alice, direct.pk, f"message {n}") for n in range(1, 6)]

    bob_chat = await sockets.chat(bob, direct.pk, query=f"after={sent[1].pk}")
    replayed = await receive_messages(bob_chat, 3)
    assert [m["id"] for m in replayed] == [m.pk for m in sent[2:]]
    assert [m["seq"] for m in replayed] == [3, 4, 5]
    await assert_silent(bob_chat)

    live = await send(alice, direct.pk, "message 6")
    assert (await receive(bob_chat))["message"]["id"] == live.pk
    await assert_silent(bob_chat)


async def test_after_zero_replays_everything_and_a_bad_after_is_an_error(sockets, direct, alice, bob):
    for n in range(3):
        await send(alice, direct.pk, f"message {n}")

    everything = await sockets.chat(bob, direct.pk, query="after=0")
    assert [m["seq"] for m in await receive_messages(everything, 3)] == [1, 2, 3]
    nonsense = await sockets.chat(bob, direct.pk, query="after=yesterday")
    assert (await receive(nonsense))["code"] == "invalid"
    await assert_silent(everything, nonsense)


async def test_replay_spans_pages(sockets, direct, alice, bob, monkeypatch):
    monkeypatch.setattr(consumers, "REPLAY_PAGE", 4)

    @database_sync_to_async
    def send_many(count: int) -> list[Message]:
        return [services.message_send(sender=alice, conversation=direct, content=f"bulk {n}")[0] for n in range(count)]

    first, *_ = await send_many(9)
    bob_chat = await sockets.chat(bob, direct.pk, query=f"after={first.pk}")
    assert [m["seq"] for m in await receive_messages(bob_chat, 8)] == list(range(2, 10))
    await assert_silent(bob_chat)


async def _unannounced(monkeypatch, sender, conversation_id: int, count: int) -> list[dict]:
    """Messages saved without their group frames, as the frames a chat socket would get for them."""
    monkeypatch.setattr(services.events, "message_created", lambda message: None)
    saved = [await send(sender, conversation_id, f"quiet {n}") for n in range(count)]
    monkeypatch.undo()
    return [MessageSerializer(message).data for message in saved]


async def _deliver(conversation_id: int, message: dict) -> None:
    frame = {"type": "frame.send", "frame": {"type": "message", "message": message}}
    await get_channel_layer().group_send(events.conversation_group(conversation_id), frame)


async def test_a_message_that_arrives_early_waits_for_the_one_before_it(sockets, direct, alice, bob, monkeypatch):
    bob_chat = await sockets.chat(bob, direct.pk)
    first, second = await _unannounced(monkeypatch, alice, direct.pk, 2)
    monkeypatch.setattr(consumers, "GAP_WAIT", 60)  # only the first message's frame can release the second

    await _deliver(direct.pk, second)
    await assert_silent(bob_chat)
    await _deliver(direct.pk, first)
    assert [m["seq"] for m in await receive_messages(bob_chat, 2)] == [1, 2]
    await _deliver(direct.pk, first)  # a late copy
    await assert_silent(bob_chat)


async def test_an_ack_follows_its_message_frame_which_waits_for_the_one_before_it(
    sockets, direct, alice, bob, monkeypatch
):
    alice_chat = await sockets.chat(alice, direct.pk)
    (late,) = await _unannounced(monkeypatch, bob, direct.pk, 1)
    monkeypatch.setattr(consumers, "GAP_WAIT", 60)  # only the late frame can release Alice's message

    await alice_chat.send_json_to({"type": "message", "content": "mine", "client_id": "m-1"})
    await assert_silent(alice_chat)
    await _deliver(direct.pk, late)

    frames = [await receive(alice_chat) for _ in range(3)]
    assert [(f["type"], f["message"]["seq"]) for f in frames] == [("message", 1), ("message", 2), ("ack", 2)]
    assert frames[2] == {"type": "ack", "client_id": "m-1", "message": frames[1]["message"]}
    await assert_silent(alice_chat)


async def test_a_message_whose_predecessor_never_arrives_is_preceded_by_it_from_the_database(
    sockets, direct, alice, bob, monkeypatch
):
    monkeypatch.setattr(consumers, "GAP_WAIT", 0.05)
    bob_chat = await sockets.chat(bob, direct.pk)
    *lost, last = await _unannounced(monkeypatch, alice, direct.pk, 3)

    await _deliver(direct.pk, last)
    assert [m["id"] for m in await receive_messages(bob_chat, 3)] == [m["id"] for m in [*lost, last]]
    await assert_silent(bob_chat)


# --- typing -------------------------------------------------------------------------------------


async def test_typing_reaches_the_others_but_none_of_the_typists_sockets(sockets, group, alice, bob, carol):
    alice_phone = await sockets.chat(alice, group.pk)
    alice_laptop = await sockets.chat(alice, group.pk)
    bob_chat = await sockets.chat(bob, group.pk)
    carol_chat = await sockets.chat(carol, group.pk)

    await alice_phone.send_json_to({"type": "typing", "is_typing": True})
    expected = {"type": "typing", "conversation_id": group.pk, "user": public(alice), "is_typing": True}
    assert await receive(bob_chat) == expected
    assert await receive(carol_chat) == expected
    await alice_phone.send_json_to({"type": "typing", "is_typing": False})
    assert (await receive(bob_chat))["is_typing"] is False
    assert (await receive(carol_chat))["is_typing"] is False
    await assert_silent(alice_phone, alice_laptop, bob_chat, carol_chat)


# --- receipts -----------------------------------------------------------------------------------


async def test_delivered_moves_forward_only_and_each_move_sends_one_receipt(sockets, direct, alice, bob):
    first = await send(alice, direct.pk, "one")
    second = await send(alice, direct.pk, "two")
    alice_chat = await sockets.chat(alice, direct.pk)
    bob_chat = await sockets.chat(bob, direct.pk)

    await bob_chat.send_json_to({"type": "delivered", "message_id": second.pk})
    receipt = {
        "type": "receipt",
        "conversation_id": direct.pk,
        "user": public(bob),
        "last_delivered_message_id": second.pk,
        "last_read_message_id": None,
    }
    assert await receive(alice_chat) == receipt
    assert await receive(bob_chat) == receipt

    await bob_chat.send_json_to({"type": "delivered", "message_id": first.pk})  # backwards: nothing moves
    await bob_chat.send_json_to({"type": "delivered", "message_id": second.pk})  # same: nothing moves
    await assert_silent(alice_chat, bob_chat)
    assert (await participant(bob, direct.pk)).last_delivered_message_id == second.pk


async def test_read_sends_a_receipt_and_syncs_every_device_of_the_reader(sockets, direct, group, alice, bob):
    first = await send(alice, direct.pk, "one")
    second = await send(alice, direct.pk, "two")
    await send(alice, group.pk, "elsewhere")
    alice_chat = await sockets.chat(alice, direct.pk)
    bob_chat = await sockets.chat(bob, direct.pk)
    bob_phone = await sockets.notifications(bob)
    bob_laptop = await sockets.notifications(bob)
    alice_notes = await sockets.notifications(alice)

    await bob_chat.send_json_to({"type": "read", "message_id": first.pk})
    receipt = await receive(alice_chat)
    assert receipt == {
        "type": "receipt",
        "conversation_id": direct.pk,
        "user": public(bob),
        "last_delivered_message_id": first.pk,
        "last_read_message_id": first.pk,
    }
    assert await receive(bob_chat) == receipt
    read = {
        "type": "read",
        "conversation_id": direct.pk,
        "last_read_message_id": first.pk,
        "unread_count": 1,
        "total_unread": 2,
    }
    assert await receive(bob_phone) == read
    assert await receive(bob_laptop) == read

    await bob_chat.send_json_to({"type": "read"})  # no message_id: up to the latest
    assert (await receive(alice_chat))["last_read_message_id"] == second.pk
    assert (await receive(bob_phone))["unread_count"] == 0
    assert (await receive(bob_laptop))["total_unread"] == 1

    await bob_chat.send_json_to({"type": "read", "message_id": first.pk})  # backwards: nothing moves
    await receive(bob_chat)  # the receipt of the read above
    await assert_silent(alice_chat, bob_chat, bob_phone, bob_laptop, alice_notes)
    assert (await participant(bob, direct.pk)).last_read_message_id == second.pk


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json at all", "bad_frame"),
        ("[1, 2, 3]", "bad_frame"),
        ('{"content": "no type"}', "unknown_type"),
        ('{"type": "shout", "content": "hi"}', "unknown_type"),
        ('{"type": "message", "content": ""}', "content_empty"),
        ('{"type": "message", "content": "   \\n  "}', "content_empty"),
        (json.dumps({"type": "message", "content": "x" * 4097}), "content_too_long"),
        ('{"type": "message", "content": 42}', "bad_frame"),
        ('{"type": "message", "content": "hi", "client_id": 7}', "bad_frame"),
        ('{"type": "typing", "is_typing": "yes"}', "bad_frame"),
        ('{"type": "read", "message_id": "7"}', "bad_frame"),
        ('{"type": "delivered"}', "bad_frame"),
        ('{"type": "delivered", "message_id": 0}', "bad_frame"),
        ('{"type": "read", "message_id": 999999}', "message_not_found"),
    ],
)
async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(sockets, direct, alice, frame, code):
    alice_chat = await sockets.chat(alice, direct.pk)

    await alice_chat.send_to(text_data=frame)
    error = await receive(alice_chat)
    assert error["type"] == "error"
    assert error["code"] == code
    assert isinstance(error["detail"], str)
    assert error["detail"]

    await alice_chat.send_json_to({"type": "message", "content": "still here"})
    assert (await receive(alice_chat))["message"]["content"] == "still here"


async def test_errors_carry_the_client_id_and_4096_characters_are_accepted(sockets, direct, alice):
    alice_chat = await sockets.chat(alice, direct.pk)

    await alice_chat.send_json_to({"type": "message", "content": "x" * 4097, "client_id": "too-long"})
    assert await receive(alice_chat) == {
        "type": "error",
        "code": "content_too_long",
        "detail": "Message content is limited to 4096 characters.",
        "client_id": "too-long",
    }
    await alice_chat.send_json_to({"type": "message", "content": "x" * 4096, "client_id": "just-right"})
    assert len((await receive(alice_chat))["message"]["content"]) == 4096


async def test_a_read_of_another_conversations_message_is_refused(sockets, direct, group, alice, bob):
    elsewhere = await send(alice, group.pk, "in the group")
    bob_chat = await sockets.chat(bob, direct.pk)

    await bob_chat.send_json_to({"type": "read", "message_id": elsewhere.pk})
    assert (await receive(bob_chat))["code"] == "message_not_found"
    await bob_chat.send_json_to({"type": "delivered", "message_id": elsewhere.pk})
    assert (await receive(bob_chat))["code"] == "message_not_found"
    assert (await participant(bob, group.pk)).last_read_message_id is None


async def test_an_oversized_frame_is_refused_unparsed(sockets, direct, alice):
    alice_chat = await sockets.chat(alice, direct.pk)

    await alice_chat.send_to(text_data=json.dumps({"type": "message", "content": "é" * 40_000}))  # 80 KB
    assert (await receive(alice_chat))["code"] == "frame_too_large"
    await alice_chat.send_to(bytes_data=b'{"type": "typing", "is_typing": true}')  # binary JSON is fine
    await assert_silent(alice_chat)


@override_settings(SOCKET_FRAME_BURST=3, SOCKET_FRAME_RATE=0.001)
async def test_a_flood_of_frames_is_rate_limited_and_the_socket_stays_open(sockets, direct, alice, bob):
    alice_chat = await sockets.chat(alice, direct.pk)
    bob_chat = await sockets.chat(bob, direct.pk)

    for n in range(4):
        await alice_chat.send_json_to({"type": "message", "content": f"spam {n}", "client_id": f"spam-{n}"})
    messages, acks = await receive_messages_and_acks(alice_chat, 3, acks=3)
    assert [m["seq"] for m in messages] == [1, 2, 3]
    assert [a["client_id"] for a in acks] == ["spam-0", "spam-1", "spam-2"]
    refusal = await receive(alice_chat)
    # One token a thousand seconds: the next frame fits in about that long.
    assert 990 < refusal.pop("retry_after") <= 1000
    assert refusal == {
        "type": "error",
        "code": "rate_limited",
        "detail": "Too many frames; slow down.",
        "client_id": "spam-3",
    }
    assert len(await receive_messages(bob_chat, 3)) == 3
    # Bob has a bucket of his own.
    await bob_chat.send_json_to({"type": "message", "content": "not spam"})
    assert (await receive(bob_chat))["message"]["content"] == "not spam"


async def test_the_notification_socket_takes_only_delivered_frames_and_stays_open(sockets, direct, alice, bob):
    bob_notes = await sockets.notifications(bob)

    await bob_notes.send_json_to({"type": "message", "content": "wrong socket"})
    assert (await receive(bob_notes))["code"] == "unknown_type"
    await bob_notes.send_json_to({"type": "read", "conversation_id": direct.pk, "message_id": 1})
    assert (await receive(bob_notes))["code"] == "unknown_type"
    await send(alice, direct.pk, "still delivered")
    assert (await receive(bob_notes))["type"] == "new_message"


async def test_delivered_on_the_notification_socket_moves_the_pointer_and_sends_one_receipt(
    sockets, direct, alice, bob
):
    first = await send(alice, direct.pk, "one")
    second = await send(alice, direct.pk, "two")
    alice_chat = await sockets.chat(alice, direct.pk)
    bob_notes = await sockets.notifications(bob)

    # Bob's device got the message on its notification socket, with no conversation open.
    await bob_notes.send_json_to({"type": "delivered", "conversation_id": direct.pk, "message_id": second.pk})
    assert await receive(alice_chat) == {
        "type": "receipt",
        "conversation_id": direct.pk,
        "user": public(bob),
        "last_delivered_message_id": second.pk,
        "last_read_message_id": None,
    }
    await bob_notes.send_json_to({"type": "delivered", "conversation_id": direct.pk, "message_id": first.pk})
    await assert_silent(alice_chat, bob_notes)  # backwards: nothing moves, no answer
    assert (await participant(bob, direct.pk)).last_delivered_message_id == second.pk


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "delivered", "message_id": 1},
        {"type": "delivered", "conversation_id": "x", "message_id": 1},
        {"type": "delivered", "conversation_id": 1},
    ],
)
async def test_a_bad_delivered_frame_on_the_notification_socket_gets_an_error(sockets, direct, bob, frame):
    bob_notes = await sockets.notifications(bob)
    await bob_notes.send_json_to(frame)
    assert (await receive(bob_notes))["code"] == "bad_frame"


async def test_delivered_on_the_notification_socket_only_for_ones_own_conversations(
    sockets, direct, group, alice, carol
):
    elsewhere = await send(alice, group.pk, "in the group")
    mine = await send(alice, direct.pk, "in the direct one")
    carol_notes = await sockets.notifications(carol)

    # Carol is not in the direct conversation; a message of another conversation is not found there.
    await carol_notes.send_json_to({"type": "delivered", "conversation_id": direct.pk, "message_id": mine.pk})
    assert (await receive(carol_notes))["code"] == "not_found"
    await carol_notes.send_json_to({"type": "delivered", "conversation_id": group.pk, "message_id": mine.pk})
    assert (await receive(carol_notes))["code"] == "message_not_found"
    await carol_notes.send_json_to({"type": "delivered", "conversation_id": group.pk, "message_id": elsewhere.pk})
    await assert_silent(carol_notes)
    assert (await participant(carol, group.pk)).last_delivered_message_id == elsewhere.pk


# --- membership ---------------------------------------------------------------------------------


async def test_non_participants_and_unknown_conversations_are_refused(sockets, direct, carol):
    await sockets.refused(f"/ws/chat/{direct.pk}/", carol)
    await sockets.refused("/ws/chat/999999/", carol)


async def test_a_removed_member_is_told_and_their_chat_sockets_close(sockets, group, alice, bob, carol):
    bob_chat = await sockets.chat(bob, group.pk)
    bob_other_tab = await sockets.chat(bob, group.pk)
    bob_notes = await sockets.notifications(bob)
    carol_chat = await sockets.chat(carol, group.pk)
    carol_notes = await sockets.notifications(carol)

    owner = await participant(alice, group.pk)
    await database_sync_to_async(services.conversation_remove_member)(actor=owner, username="bob")

    assert await closed_with(bob_chat) == CLOSE_REMOVED
    assert await closed_with(bob_other_tab) == CLOSE_REMOVED
    assert await receive(bob_notes) == {"type": "conversation_removed", "conversation_id": group.pk}
    changed = await receive(carol_notes)
    assert changed["type"] == "conversation"
    assert [p["username"] for p in changed["conversation"]["participants"]] == ["alice", "carol"]

    # The removed member hears nothing more from the group, and cannot come back in.
    await send(alice, group.pk, "after bob left")
    assert (await receive(carol_chat))["message"]["content"] == "after bob left"
    await assert_silent(bob_notes)
    await sockets.refused(f"/ws/chat/{group.pk}/", bob)


async def test_a_member_whose_removal_was_missed_is_closed_on_their_next_frame(sockets, group, alice, bob):
    bob_chat = await sockets.chat(bob, group.pk)
    # Removed behind the socket's back (as when the channel layer lost the revocation).
    await database_sync_to_async(Participant.objects.filter(user=bob, conversation=group).delete)()

    await bob_chat.send_json_to({"type": "message", "content": "anyone?", "client_id": "lost"})
    assert await receive(bob_chat) == {
        "type": "error",
        "code": "not_found",
        "detail": "Conversation not found.",
        "client_id": "lost",
    }
    assert await closed_with(bob_chat) == CLOSE_REMOVED


async def test_members_hear_of_additions_and_renames_on_every_device(sockets, group, alice, bob, make_user):
    dave = await database_sync_to_async(make_user)("dave")
    dave_notes = await sockets.notifications(dave)
    bob_phone = await sockets.notifications(bob)
    bob_laptop = await sockets.notifications(bob)
    owner = await participant(alice, group.pk)

    await database_sync_to_async(services.conversation_add_member)(actor=owner, username="dave")
    added = await receive(dave_notes)
    assert added["type"] == "conversation"
    assert added["conversation"]["id"] == group.pk
    assert "dave" in [p["username"] for p in added["conversation"]["participants"]]
    assert (await receive(bob_phone))["conversation"]["id"] == group.pk
    assert (await receive(bob_laptop))["conversation"]["id"] == group.pk

    response = await database_sync_to_async(_rename)(alice, group.pk, "Brew crew II")
    assert response.status_code == 200, response.content
    for socket in (dave_notes, bob_phone, bob_laptop):
        frame = await receive(socket)
        assert (frame["type"], frame["conversation"]["title"]) == ("conversation", "Brew crew II")
    await assert_silent(dave_notes, bob_phone, bob_laptop)

    # The new member can open the conversation now.
    await sockets.chat(dave, group.pk)


def _rename(user, conversation_id: int, title: str):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
    return api.patch(f"/api/conversations/{conversation_id}/", {"title": title}, format="json")


async def test_a_new_direct_conversation_is_announced_to_both(sockets, alice, bob):
    alice_notes = await sockets.notifications(alice)
    bob_notes = await sockets.notifications(bob)

    response = await rest_post(alice, "/api/conversations/direct/bob")
    assert response.status_code == 201, response.content
    for socket, other in ((alice_notes, "bob"), (bob_notes, "alice")):
        frame = await receive(socket)
        assert frame["type"] == "conversation"
        assert frame["conversation"]["other_user"]["username"] == other


# --- the channel layer down ---------------------------------------------------------------------


async def test_with_the_channel_layer_down_sending_still_works(sockets, direct, alice, bob, caplog):
    redis = down_redis_url()
    down = {
        "CHANNEL_LAYERS": {
            "default": {"BACKEND": "brewverse.channel_layers.RedisChannelLayer", "CONFIG": {"hosts": [redis]}}
        },
        # The cache shares Redis with the layer in production, so it is down too (REST throttles use it).
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis}},
    }
    earlier = await send(alice, direct.pk, "before the outage")
    with override_settings(**down), caplog.at_level(logging.WARNING):
        alice_chat = await sockets.chat(alice, direct.pk, query=f"after={earlier.pk - 1}")
        assert (await receive(alice_chat))["message"]["id"] == earlier.pk  # replay needs only the database

        await alice_chat.send_json_to({"type": "message", "content": "during the outage", "client_id": "out-1"})
        own = (await receive(alice_chat))["message"]
        assert (own["content"], own["client_id"], own["seq"]) == ("during the outage", "out-1", 2)
        assert await receive(alice_chat) == {"type": "ack", "client_id": "out-1", "message": own}

        response = await rest_post(alice, "/api/messages", {"conversation_id": direct.pk, "content": "REST too"})
        assert response.status_code == 201, response.content

        await alice_chat.send_json_to({"type": "typing", "is_typing": True})
        await alice_chat.send_json_to({"type": "read"})
        # The sender's next message fills in what the layer could not deliver (the REST post), in seq order.
        await alice_chat.send_json_to({"type": "message", "content": "still going"})
        assert [m["seq"] for m in await receive_messages(alice_chat, 2)] == [3, 4]
        await assert_silent(alice_chat)
        health = await database_sync_to_async(APIClient().get)("/healthz")
    assert health.status_code == 503
    assert health.json()["channel_layer"] == "failing"
    assert health.json()["database"] == "ok"
    assert await database_sync_to_async(Message.objects.filter(conversation=direct).count)() == 4
    assert "channel layer unavailable" in caplog.text

    # Once the layer is back, a reconnecting client catches up with ?after= and misses nothing.
    bob_chat = await sockets.chat(bob, direct.pk, query=f"after={earlier.pk}")
    assert [m["seq"] for m in await receive_messages(bob_chat, 3)] == [2, 3, 4]


class RedisProxy:
    """A loopback port forwarding to the run's Redis. `stop()` drops every connection and refuses new
    ones, as a Redis that goes down does; `start()` on the same port brings it back."""

    def __init__(self) -> None:
        target = urlsplit(settings.REDIS_URL)
        self.target = (target.hostname or "127.0.0.1", target.port or 6379)
        self.db = target.path.lstrip("/") or "0"
        self.port = 0
        self.connections: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.connections += [writer, upstream_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async def stop(self) -> None:
        self.server.close()
        for writer in self.connections:
            writer.close()
        self.connections = []
        await self.server.wait_closed()


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis")
async def test_a_socket_outlives_a_redis_outage_and_catches_up_when_it_ends(sockets, direct, alice, bob, caplog):
    proxy = RedisProxy()
    await proxy.start()
    layer = {"default": {"BACKEND": "brewverse.channel_layers.RedisChannelLayer", "CONFIG": {"hosts": [proxy.url]}}}
    with override_settings(CHANNEL_LAYERS=layer), caplog.at_level(logging.INFO):
        alice_chat = await sockets.chat(alice, direct.pk)
        bob_chat = await sockets.chat(bob, direct.pk)
        await alice_chat.send_json_to({"type": "message", "content": "before"})
        assert (await receive(bob_chat))["message"]["seq"] == 1
        await receive(alice_chat)

        await proxy.stop()
        await alice_chat.send_json_to({"type": "message", "content": "during", "client_id": "d"})
        own = (await receive(alice_chat))["message"]  # sent from the database
        assert own["seq"] == 2
        assert await receive(alice_chat) == {"type": "ack", "client_id": "d", "message": own}
        await assert_silent(bob_chat)

        await proxy.start()
        # Bob's socket notices the layer is back, rejoins its groups and sends what it missed.
        caught_up = await receive(bob_chat, timeout=15)
        assert (caught_up["message"]["seq"], caught_up["message"]["client_id"]) == (2, "d")
        await alice_chat.send_json_to({"type": "message", "content": "after"})
        assert (await receive(bob_chat, timeout=15))["message"]["seq"] == 3
        assert (await receive(alice_chat, timeout=15))["message"]["seq"] == 3
        await assert_silent(alice_chat, bob_chat)
    await proxy.stop()
    assert "channel layer back" in caplog.text


# --- a burst ------------------------------------------------------------------------------------


async def test_a_burst_from_three_clients_reaches_every_client_once_in_seq_order(sockets, group, alice, bob, carol):
    users = (alice, bob, carol)
    per_client = 100
    clients = [await sockets.chat(user, group.pk) for user in users]

    async def flood(index: int) -> None:
        for n in range(per_client):
            await clients[index].send_json_to(
                {"type": "message", "content": f"{users[index].username} {n}", "client_id": f"{index}-{n}"}
            )

    await asyncio.gather(*(flood(i) for i in range(len(clients))))
    total = per_client * len(clients)
    received = await asyncio.gather(
        *(receive_messages_and_acks(client, total, acks=per_client, timeout=30) for client in clients)
    )
    for index, (messages, acks) in enumerate(received):
        # Each client's every send acknowledged once, in the order sent.
        assert [a["client_id"] for a in acks] == [f"{index}-{n}" for n in range(per_client)]
        assert [m["seq"] for m in messages] == list(range(1, total + 1))
        assert len({m["id"] for m in messages}) == total
        for user in users:
            own = [m["content"] for m in messages if m["sender"]["id"] == user.pk]
            assert own == [f"{user.username} {n}" for n in range(per_client)]
    await assert_silent(*clients)
