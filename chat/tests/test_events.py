"""chat/events.py: committed changes become group sends, and nothing else does; failures stay contained."""

import asyncio
import logging

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.test import AsyncClient, override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from chat import events, moderation, selectors, services
from chat.models import Message, Participant
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import (
    QUIET,
    access_token,
    down_redis_url,
    receive,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The shared socket fixtures, used by name in this module.
sockets = socket_fixtures.sockets
fast_passwords = socket_fixtures.fast_passwords


def redis_layer_settings(url: str) -> dict:
    return {"default": {"BACKEND": "brewverse.channel_layers.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}


@pytest.fixture
def group(alice, bob, carol):
    return services.conversation_create_group(creator=alice, title="Brew crew", usernames=["bob", "carol"])


class Listener:
    """A bare channel in some groups: sees exactly the group messages that events.py sends."""

    def __init__(self, channel: str) -> None:
        self.channel = channel

    @classmethod
    async def on(cls, *groups: str) -> "Listener":
        layer = get_channel_layer()
        listener = cls(await layer.new_channel())
        for group in groups:
            await layer.group_add(group, listener.channel)
        return listener

    async def next(self, timeout: float = 5) -> dict:
        return await asyncio.wait_for(get_channel_layer().receive(self.channel), timeout)

    async def nothing(self) -> None:
        try:
            message = await asyncio.wait_for(get_channel_layer().receive(self.channel), QUIET)
        except TimeoutError:
            return
        pytest.fail(f"unexpected group message {message}")


async def test_a_message_goes_to_its_conversation_and_to_every_members_devices(sockets, group, alice, bob, carol):
    chat = await Listener.on(events.conversation_group(group.pk))
    alice_devices, bob_devices, carol_devices = [
        await Listener.on(events.user_group(user.pk)) for user in (alice, bob, carol)
    ]

    message, created = await database_sync_to_async(services.message_send)(
        sender=alice, conversation=group, content="hello", client_id="c-1"
    )

    assert created
    frame = (await chat.next())["frame"]
    assert frame["type"] == "message"
    assert (frame["message"]["id"], frame["message"]["client_id"]) == (message.pk, "c-1")
    for devices in (bob_devices, carol_devices, alice_devices):
        sent = await devices.next()
        assert sent["type"] == "frame.send"
        assert sent["frame"]["type"] == "new_message"
        assert sent["frame"]["message"] == frame["message"]
        await devices.nothing()
    await chat.nothing()


async def test_the_senders_devices_get_their_counts_as_they_stand(sockets, group, alice, bob, carol):
    """Sending reads the conversation for the sender: their count there is 0, their total the rest."""
    direct, _ = await database_sync_to_async(services.conversation_get_or_create_direct)(user=alice, other=bob)
    for text in ("one", "two"):
        await database_sync_to_async(services.message_send)(sender=bob, conversation=direct, content=text)
    await database_sync_to_async(services.message_send)(sender=carol, conversation=group, content="unread")
    await events.flush()
    alice_devices = await Listener.on(events.user_group(alice.pk))

    await database_sync_to_async(services.message_send)(sender=alice, conversation=direct, content="mine")

    frame = (await alice_devices.next())["frame"]
    assert (frame["type"], frame["message"]["content"]) == ("new_message", "mine")
    assert (frame["unread_count"], frame["total_unread"]) == (0, 1)  # carol's message in the group
    await alice_devices.nothing()


@pytest.mark.parametrize("change", ["edit", "delete", "remove", "restore"])
async def test_a_changed_message_reaches_every_members_devices_but_those_who_blocked_its_sender(
    sockets, group, alice, bob, carol, make_user, change
):
    moderator = await database_sync_to_async(make_user)("mod", is_staff=True, is_superuser=True)
    message, _ = await database_sync_to_async(services.message_send)(sender=alice, conversation=group, content="helo")
    await database_sync_to_async(moderation.user_block)(blocker=carol, blocked=alice)
    await events.flush()
    chat = await Listener.on(events.conversation_group(group.pk))
    alice_devices, bob_devices, carol_devices = [
        await Listener.on(events.user_group(user.pk)) for user in (alice, bob, carol)
    ]

    if change == "edit":
        await database_sync_to_async(services.message_edit)(actor=alice, message=message, content="hello")
    elif change == "delete":
        await database_sync_to_async(services.message_delete)(actor=alice, message=message)
    else:
        await database_sync_to_async(moderation.message_remove)(moderator=moderator, message=message, reason="test")
        if change == "restore":
            await chat.next()
            await alice_devices.next()
            await bob_devices.next()
            await bob_devices.next()  # the removal's `read` frame with his new counts
            await database_sync_to_async(moderation.message_restore)(
                moderator=moderator, message=message, reason="test"
            )

    expected = "message_deleted" if change in ("delete", "remove") else "message_updated"
    sent = (await chat.next())["frame"]
    assert (sent["type"], sent["conversation_id"], sent["message"]["id"]) == (expected, group.pk, message.pk)
    assert (await alice_devices.next())["frame"] == sent
    bob_frames = [(await bob_devices.next())["frame"]]
    if change != "edit":
        # bob had not read the message, so its deletion (or restore) also moves his counts: a `read`
        # frame (chat/tests/test_unread_deleted.py), in whichever order the two were committed.
        bob_frames.append((await bob_devices.next())["frame"])
        counts = next(frame for frame in bob_frames if frame["type"] == "read")
        assert counts["unread_count"] == (1 if change == "restore" else 0)
    assert sent in bob_frames
    for devices in (alice_devices, bob_devices, carol_devices):
        await devices.nothing()


async def test_nothing_is_sent_for_a_change_that_is_rolled_back(sockets, group, alice):
    chat = await Listener.on(events.conversation_group(group.pk))

    @database_sync_to_async
    def send_then_fail() -> None:
        with transaction.atomic():
            services.message_send(sender=alice, conversation=group, content="never happened")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await send_then_fail()
    await chat.nothing()
    assert not await database_sync_to_async(Message.objects.exists)()

    # The seq given back by the rollback is the next one handed out: no gap.
    await database_sync_to_async(services.message_send)(sender=alice, conversation=group, content="happened")
    assert (await chat.next())["frame"]["message"]["seq"] == 1


async def test_events_wait_for_the_outermost_commit(sockets, group, alice):
    chat = await Listener.on(events.conversation_group(group.pk))

    @database_sync_to_async
    def send_in_a_longer_transaction() -> None:
        with transaction.atomic():
            services.message_send(sender=alice, conversation=group, content="first")
            services.message_send(sender=alice, conversation=group, content="second")
            # Listen from inside the transaction: nothing may have been announced yet.
            async_to_sync(chat.nothing)()

    await send_in_a_longer_transaction()
    assert [(await chat.next())["frame"]["message"]["seq"] for _ in range(2)] == [1, 2]


async def test_receipts_and_reads_go_out_only_when_a_pointer_moves(sockets, group, alice, bob):
    message, _ = await database_sync_to_async(services.message_send)(sender=alice, conversation=group, content="hi")
    await events.flush()
    chat = await Listener.on(events.conversation_group(group.pk))
    bob_devices = await Listener.on(events.user_group(bob.pk))
    bob_in_group = await database_sync_to_async(selectors.participant_get)(bob, group.pk)

    await database_sync_to_async(services.conversation_mark_delivered)(participant=bob_in_group, message_id=message.pk)
    receipt = (await chat.next())["frame"]
    assert (receipt["type"], receipt["last_delivered_message_id"], receipt["last_read_message_id"]) == (
        "receipt",
        message.pk,
        None,
    )
    await database_sync_to_async(services.conversation_mark_delivered)(participant=bob_in_group, message_id=message.pk)
    await chat.nothing()

    await database_sync_to_async(services.conversation_mark_read)(participant=bob_in_group)
    assert (await chat.next())["frame"]["last_read_message_id"] == message.pk
    read = (await bob_devices.next())["frame"]
    assert read == {
        "type": "read",
        "conversation_id": group.pk,
        "last_read_message_id": message.pk,
        "unread_count": 0,
        "total_unread": 0,
    }
    await database_sync_to_async(services.conversation_mark_read)(participant=bob_in_group)
    await chat.nothing()
    await bob_devices.nothing()


async def test_removal_revokes_the_members_chat_sockets_and_a_ban_all_their_sockets(sockets, group, alice, bob, carol):
    bob_here = await Listener.on(events.member_group(group.pk, bob.pk))
    bob_devices = await Listener.on(events.user_group(bob.pk))
    owner = await database_sync_to_async(selectors.participant_get)(alice, group.pk)

    await database_sync_to_async(services.conversation_remove_member)(actor=owner, username="bob")
    assert await bob_here.next() == {"type": "membership.revoked"}
    assert (await bob_devices.next())["frame"] == {"type": "conversation_removed", "conversation_id": group.pk}

    carol_here = await Listener.on(events.member_group(group.pk, carol.pk))
    carol_devices = await Listener.on(events.user_group(carol.pk))
    moderator = await database_sync_to_async(type(alice).objects.create_user)("mod", "mod@example.com", is_staff=True)
    await database_sync_to_async(moderation.user_ban)(moderator=moderator, user=carol, reason="spam")
    assert await carol_here.next() == {"type": "session.revoked"}
    assert await carol_devices.next() == {"type": "session.revoked"}


async def test_applying_the_notification_frames_gives_what_a_fresh_fetch_gives(sockets, group, alice, bob, carol):
    """Zulip's check: a client that starts from a fetch and applies every frame ends where a new fetch is."""
    direct, _ = await database_sync_to_async(services.conversation_get_or_create_direct)(user=alice, other=bob)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(bob)}")
    fetch = database_sync_to_async(lambda: api.get("/api/conversations/").json())
    state = {c["id"]: c for c in await fetch()}
    bob_notes = await sockets.notifications(bob)
    total_unread = None

    await database_sync_to_async(services.message_send)(sender=alice, conversation=group, content="one")
    await database_sync_to_async(services.message_send)(sender=carol, conversation=group, content="two")
    await database_sync_to_async(services.message_send)(sender=alice, conversation=direct, content="three")
    owner = await database_sync_to_async(selectors.participant_get)(alice, group.pk)
    await database_sync_to_async(services.conversation_rename)(actor=owner, title="Renamed")
    bob_in_group = await database_sync_to_async(selectors.participant_get)(bob, group.pk)
    await database_sync_to_async(services.conversation_mark_read)(participant=bob_in_group)

    for _ in range(5):
        frame = await receive(bob_notes)
        if frame["type"] == "new_message":
            conversation = state[frame["conversation_id"]]
            conversation["last_message"] = frame["message"]
            conversation["unread_count"] = frame["unread_count"]
            conversation["updated_at"] = frame["message"]["created_at"]
            total_unread = frame["total_unread"]
        elif frame["type"] == "read":
            conversation = state[frame["conversation_id"]]
            conversation["unread_count"] = frame["unread_count"]
            conversation["last_read_message_id"] = frame["last_read_message_id"]
            total_unread = frame["total_unread"]
        elif frame["type"] == "conversation":
            state[frame["conversation"]["id"]] = frame["conversation"]

    fresh = await fetch()
    fields = ("id", "title", "unread_count", "last_read_message_id")
    applied = sorted(state.values(), key=lambda c: (c["updated_at"], c["id"]), reverse=True)
    assert [{f: c[f] for f in fields} for c in applied] == [{f: c[f] for f in fields} for c in fresh]
    assert [c["last_message"]["id"] for c in applied] == [c["last_message"]["id"] for c in fresh]
    assert total_unread == sum(c["unread_count"] for c in fresh) == 1


def test_a_message_and_its_edit_cost_as_many_statements_for_two_members_as_for_twenty_one(
    alice, bob, make_user, django_assert_num_queries
):
    """The sender's own devices and the members' notification sockets add no query per recipient."""
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    members = [make_user(f"member{n}") for n in range(20)]
    crowd = services.conversation_create_group(creator=alice, title="crowd", usernames=[u.username for u in members])
    with CaptureQueriesContext(connection) as sending:
        small, _ = services.message_send(sender=alice, conversation=direct, content="hi")
    with CaptureQueriesContext(connection) as editing:
        services.message_edit(actor=alice, message=small, content="hi!")

    with django_assert_num_queries(len(sending.captured_queries)):
        large, _ = services.message_send(sender=alice, conversation=crowd, content="hi all")
    with django_assert_num_queries(len(editing.captured_queries)):
        services.message_edit(actor=alice, message=large, content="hi all!")
    if connection.vendor == "postgresql":
        assert len(sending.captured_queries) == 2  # the insert, then who to tell (docs/performance.md)


# --- failures stay contained --------------------------------------------------------------------


def test_an_event_that_fails_after_commit_is_logged_and_goes_no_further(caplog):
    @events.after_commit
    def broken(conversation_id: int) -> None:
        raise LookupError(f"conversation {conversation_id} vanished")

    with caplog.at_level(logging.ERROR):
        assert broken(7) is None
    assert "event broken failed after commit" in caplog.text
    assert "conversation 7 vanished" in caplog.text


async def test_with_the_layer_down_services_still_commit_and_the_failure_is_logged(sockets, group, alice, caplog):
    with override_settings(CHANNEL_LAYERS=redis_layer_settings(down_redis_url())), caplog.at_level(logging.ERROR):
        message, created = await database_sync_to_async(services.message_send)(
            sender=alice, conversation=group, content="saved anyway"
        )
        owner = await database_sync_to_async(selectors.participant_get)(alice, group.pk)
        await database_sync_to_async(services.conversation_rename)(actor=owner, title="Renamed anyway")
        await events.flush()

    assert created
    assert await database_sync_to_async(Message.objects.filter(pk=message.pk).exists)()
    dropped = [r.getMessage() for r in caplog.records if r.name == "chat.events"]
    # The message's 4 sends (its conversation, 3 members' devices) and the rename's 3, in one batch or two.
    counts = [int(line.split(" of ")[0].rsplit(" ", 1)[1]) for line in dropped]
    assert sum(counts) == 7
    assert dropped[0].startswith("channel layer unavailable: ")
    assert "group sends dropped (first: conversation." in dropped[0]


async def test_a_failing_group_send_does_not_stop_the_others(sockets, group, alice, bob, caplog):
    bob_devices = await Listener.on(events.user_group(bob.pk))
    bad_group = ("not a valid group name " * 10, {"type": "frame.send", "frame": {}})
    good_group = (events.user_group(bob.pk), {"type": "frame.send", "frame": {"type": "ping"}})

    with caplog.at_level(logging.ERROR):
        await database_sync_to_async(events._publish)([bad_group, good_group])
        await events.flush()

    assert (await bob_devices.next())["frame"] == {"type": "ping"}
    assert "1 of 2 group sends dropped" in caplog.text


async def test_a_message_to_a_large_group_reaches_every_member(sockets, caplog):
    """More recipients than redis-py's connection pool allows at once (100): none is dropped."""
    listeners = [await Listener.on(events.user_group(10_000 + i)) for i in range(250)]
    sends = [(events.user_group(10_000 + i), {"type": "frame.send", "frame": {"n": i}}) for i in range(250)]

    with caplog.at_level(logging.ERROR):
        await database_sync_to_async(events._publish)(sends)
        await events.flush()

    received = [(await listener.next())["frame"]["n"] for listener in listeners]
    assert received == list(range(250))
    assert "dropped" not in caplog.text


async def test_the_health_check_reports_the_layer_and_the_database():
    client = AsyncClient()
    healthy = await client.get("/healthz")
    assert (healthy.status_code, healthy.json()) == (200, {"status": "ok", "database": "ok", "channel_layer": "ok"})

    with override_settings(CHANNEL_LAYERS=redis_layer_settings(down_redis_url())):
        down = await client.get("/healthz")
    assert down.status_code == 503
    assert down.json() == {"status": "failing", "database": "ok", "channel_layer": "failing"}


async def test_participant_pointers_never_move_back(sockets, group, alice, bob):
    first, _ = await database_sync_to_async(services.message_send)(sender=alice, conversation=group, content="1")
    second, _ = await database_sync_to_async(services.message_send)(sender=alice, conversation=group, content="2")
    bob_in_group = await database_sync_to_async(selectors.participant_get)(bob, group.pk)

    await database_sync_to_async(services.conversation_mark_read)(participant=bob_in_group, message_id=second.pk)
    await database_sync_to_async(services.conversation_mark_read)(participant=bob_in_group, message_id=first.pk)
    await database_sync_to_async(services.conversation_mark_delivered)(participant=bob_in_group, message_id=first.pk)

    pointers = await database_sync_to_async(Participant.objects.get)(pk=bob_in_group.pk)
    assert (pointers.last_read_message_id, pointers.last_read_seq, pointers.last_delivered_message_id) == (
        second.pk,
        2,
        second.pk,
    )
