"""Moderation reaches open sockets: removals, edits, bans and blocks act within the second."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from chat import moderation, selectors, services
from chat.consumers import CLOSE_REVOKED
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import assert_silent, closed_with, receive, receive_messages

pytestmark = pytest.mark.django_db(transaction=True)

sockets = socket_fixtures.sockets
fast_passwords = socket_fixtures.fast_passwords


@pytest.fixture
def group(alice, bob, carol):
    return services.conversation_create_group(creator=alice, title="team", usernames=["bob", "carol"])


send = database_sync_to_async(
    lambda user, conversation, text: services.message_send(sender=user, conversation=conversation, content=text)[0]
)


async def test_a_removed_message_disappears_from_every_open_window(sockets, direct, moderator, alice, bob):
    alice_socket = await sockets.chat(alice, direct.pk)
    bob_socket = await sockets.chat(bob, direct.pk)
    message = await send(bob, direct, "offensive")
    await receive_messages(alice_socket, 1)
    await receive_messages(bob_socket, 1)

    await database_sync_to_async(moderation.message_remove)(moderator=moderator, message=message, reason="abuse")
    for socket in (alice_socket, bob_socket):
        frame = await receive(socket)
        assert frame["type"] == "message_deleted"
        assert frame["message"]["id"] == message.pk
        assert frame["message"]["deleted"] is True
        assert frame["message"]["content"] == ""


async def test_an_edit_reaches_the_other_window(sockets, direct, alice, bob):
    bob_socket = await sockets.chat(bob, direct.pk)
    message = await send(alice, direct, "helo")
    await receive_messages(bob_socket, 1)
    await database_sync_to_async(services.message_edit)(actor=alice, message=message, content="hello")
    frame = await receive(bob_socket)
    assert frame["type"] == "message_updated"
    assert frame["message"]["content"] == "hello"
    assert frame["message"]["edited_at"] is not None


async def test_a_ban_closes_every_socket_of_the_user(sockets, direct, group, moderator, bob):
    chat_socket = await sockets.chat(bob, direct.pk)
    group_socket = await sockets.chat(bob, group.pk)
    notifications = await sockets.notifications(bob)
    await database_sync_to_async(moderation.user_ban)(moderator=moderator, user=bob, reason="spam")
    for socket in (chat_socket, group_socket, notifications):
        assert await closed_with(socket) == CLOSE_REVOKED
    await sockets.refused("/ws/notifications/", bob)


async def test_a_blocked_direct_conversation_refuses_socket_sends(sockets, direct, alice, bob):
    bob_socket = await sockets.chat(bob, direct.pk)
    await database_sync_to_async(moderation.user_block)(blocker=alice, blocked=bob)
    await bob_socket.send_json_to({"type": "message", "content": "hi?", "client_id": "c1"})
    frame = await receive(bob_socket)
    assert frame == {"type": "error", "code": "blocked", "detail": frame["detail"], "client_id": "c1"}


async def test_group_messages_of_a_blocked_user_are_hidden_from_the_blocker_only(sockets, group, alice, bob, carol):
    alice_socket = await sockets.chat(alice, group.pk)
    carol_socket = await sockets.chat(carol, group.pk)
    alice_notes = await sockets.notifications(alice)
    await database_sync_to_async(moderation.user_block)(blocker=alice, blocked=bob)
    # Give the block's event time to reach alice's open socket before bob writes.
    await assert_silent(alice_socket)

    await send(bob, group, "from bob")
    await send(carol, group, "from carol")
    assert [m["content"] for m in await receive_messages(carol_socket, 2)] == ["from bob", "from carol"]
    assert [m["content"] for m in await receive_messages(alice_socket, 1)] == ["from carol"]
    note = await receive(alice_notes)
    assert note["type"] == "new_message"
    assert note["message"]["content"] == "from carol"
    await assert_silent(alice_socket, alice_notes)


async def test_admin_actions_reach_open_sockets(sockets, direct, moderator, alice, bob):
    """The admin's own pages, posted as a moderator would, close a banned user's sockets and drop a
    removed message from every open window."""
    admin = Client()
    await database_sync_to_async(admin.force_login)(moderator)
    alice_socket = await sockets.chat(alice, direct.pk)
    bob_socket = await sockets.chat(bob, direct.pk)
    message = await send(bob, direct, "abuse")
    await receive_messages(alice_socket, 1)

    def act(url: str, action: str, pk: int) -> int:
        data = {"action": action, ACTION_CHECKBOX_NAME: [str(pk)], "confirm": "1", "reason": "abuse"}
        return admin.post(url, data).status_code

    assert await database_sync_to_async(act)("/admin/chat/message/", "remove_messages", message.pk) == 302
    frame = await receive(alice_socket)
    assert (frame["type"], frame["message"]["id"], frame["message"]["content"]) == ("message_deleted", message.pk, "")

    assert await database_sync_to_async(act)("/admin/accounts/user/", "ban_users", bob.pk) == 302
    assert await closed_with(bob_socket) == CLOSE_REVOKED


async def test_hidden_group_messages_never_count_in_the_blockers_badges(sockets, group, alice, bob, carol):
    """bob's messages, from before and after carol blocked him, count for alice but not for carol."""
    await send(bob, group, "before the block")
    await database_sync_to_async(moderation.user_block)(blocker=carol, blocked=bob)
    carol_notes = await sockets.notifications(carol)
    alice_notes = await sockets.notifications(alice)
    await send(bob, group, "after the block")
    assert (await receive(alice_notes))["unread_count"] == 2
    await send(alice, group, "from alice")

    note = await receive(carol_notes)
    assert (note["type"], note["message"]["content"]) == ("new_message", "from alice")
    assert (note["unread_count"], note["total_unread"]) == (1, 1)
    await assert_silent(carol_notes)

    # Unblocked, bob's messages show again and count again.
    await database_sync_to_async(moderation.user_unblock)(blocker=carol, blocked=bob)
    await send(alice, group, "again")
    note = await receive(carol_notes)
    assert (note["unread_count"], note["total_unread"]) == (4, 4)

    participant = await database_sync_to_async(selectors.participant_get)(carol, group.pk)
    await database_sync_to_async(services.conversation_mark_read)(participant=participant)
    read = await receive(carol_notes)
    assert (read["type"], read["unread_count"], read["total_unread"]) == ("read", 0, 0)


async def test_a_read_frame_leaves_out_hidden_messages_still_unread(sockets, group, alice, bob, carol):
    first = await send(alice, group, "one")
    await send(bob, group, "hidden")
    await send(alice, group, "two")
    await database_sync_to_async(moderation.user_block)(blocker=carol, blocked=bob)
    carol_notes = await sockets.notifications(carol)
    participant = await database_sync_to_async(selectors.participant_get)(carol, group.pk)
    await database_sync_to_async(services.conversation_mark_read)(participant=participant, message_id=first.pk)
    read = await receive(carol_notes)
    assert (read["type"], read["unread_count"], read["total_unread"]) == ("read", 1, 1)
