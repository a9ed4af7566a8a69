"""Deleted messages never count as unread: in the list, the detail, the read answer and every frame."""

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import moderation, selectors, services
from chat.models import Message
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import receive

sockets = socket_fixtures.sockets


@pytest.fixture
def group(alice, bob, carol):
    return services.conversation_create_group(creator=alice, title="team", usernames=["bob", "carol"])


def send(user, conversation, content: str) -> Message:
    return services.message_send(sender=user, conversation=conversation, content=content)[0]


async def next_read(notes) -> dict:
    """The next `read` frame; notification sockets also hear of the deletion itself, and of messages."""
    while (frame := await receive(notes))["type"] != "read":
        pass
    return frame


def unread_in(api, conversation_id: int) -> int:
    return next(c["unread_count"] for c in api.get("/api/conversations/").json() if c["id"] == conversation_id)


@pytest.mark.django_db
def test_list_detail_and_read_answer_leave_out_deleted_messages(api_for, moderator, alice, bob, carol, group):
    first = send(bob, group, "one")
    mine = send(bob, group, "deleted by bob")
    removed = send(carol, group, "removed by a moderator")
    send(carol, group, "two")
    services.message_delete(actor=bob, message=mine)
    moderation.message_remove(moderator=moderator, message=removed, reason="abuse")

    api = api_for(alice)
    assert unread_in(api, group.pk) == 2
    assert api.get(f"/api/conversations/{group.pk}/").json()["unread_count"] == 2
    read = api.post(f"/api/conversations/{group.pk}/read", {"message_id": first.pk}, format="json")
    assert read.json()["unread_count"] == 1

    # A restored message counts again; bob's own messages never count for him.
    moderation.message_restore(moderator=moderator, message=removed, reason="mistake")
    assert unread_in(api, group.pk) == 2
    assert unread_in(api_for(bob), group.pk) == 2


@pytest.mark.django_db
def test_totals_leave_out_deleted_messages_in_every_conversation(alice, bob, carol, direct, group):
    gone = send(bob, direct, "gone")
    send(bob, direct, "kept")
    services.message_delete(actor=bob, message=gone)
    send(carol, group, "hello")
    assert selectors.unread_totals([alice.pk]) == {alice.pk: 2}

    # The new message's frames: one here, 2 + 1 over all of alice's conversations.
    latest = send(carol, group, "again")
    counts = {
        user_id: (here, total) for user_id, here, total in selectors.message_recipients(group.pk, carol.pk, latest.seq)
    }
    assert counts[alice.pk] == (2, 3)


@pytest.mark.django_db
def test_the_recipients_query_stays_one_statement_with_deleted_messages(alice, bob, carol, group):
    for n in range(3):
        services.message_delete(actor=bob, message=send(bob, group, f"gone {n}"))
    latest = send(carol, group, "hello")
    with CaptureQueriesContext(connection) as queries:
        counts = selectors.message_recipients(group.pk, carol.pk, latest.seq)
    assert len(queries.captured_queries) == 1
    # 3 deleted, 1 live; the sender's own devices hear of it with their counts as they stand.
    assert sorted(counts) == sorted([(alice.pk, 1, 1), (bob.pk, 1, 1), (carol.pk, 0, 0)])


@pytest.mark.django_db(transaction=True)
async def test_new_message_frames_leave_out_deleted_messages(sockets, alice, bob, group):
    gone = await database_sync_to_async(send)(bob, group, "gone")
    await database_sync_to_async(services.message_delete)(actor=bob, message=gone)
    notes = await sockets.notifications(alice)
    await database_sync_to_async(send)(bob, group, "kept")
    frame = await receive(notes)
    assert (frame["type"], frame["unread_count"], frame["total_unread"]) == ("new_message", 1, 1)


@pytest.mark.django_db(transaction=True)
async def test_a_delete_or_removal_updates_the_badges_of_those_who_had_not_read_it(
    sockets, moderator, alice, bob, carol, group
):
    await database_sync_to_async(send)(bob, group, "one")
    gone = await database_sync_to_async(send)(bob, group, "two")
    alice_notes = await sockets.notifications(alice)
    bob_notes = await sockets.notifications(bob)
    await database_sync_to_async(services.message_delete)(actor=bob, message=gone)
    frame = await next_read(alice_notes)
    assert frame == {
        "type": "read",
        "conversation_id": group.pk,
        "last_read_message_id": None,
        "unread_count": 1,
        "total_unread": 1,
    }

    # Once alice has read it, removing a message changes nothing for her: no frame.
    participant = await database_sync_to_async(selectors.participant_get)(alice, group.pk)
    await database_sync_to_async(services.conversation_mark_read)(participant=participant)
    assert (await next_read(alice_notes))["unread_count"] == 0
    removed = await database_sync_to_async(send)(carol, group, "three")
    await database_sync_to_async(moderation.message_remove)(moderator=moderator, message=removed, reason="abuse")
    frame = await next_read(alice_notes)
    assert (frame["unread_count"], frame["total_unread"]) == (0, 0)
    frame = await next_read(bob_notes)  # bob had not read carol's message either; his own never counted
    assert (frame["unread_count"], frame["total_unread"]) == (0, 0)

    await database_sync_to_async(moderation.message_restore)(moderator=moderator, message=removed, reason="no")
    assert ((await next_read(alice_notes))["unread_count"], (await next_read(bob_notes))["unread_count"]) == (1, 1)


@pytest.mark.django_db
def test_a_deleted_message_from_a_blocked_user_is_left_out_once(api_for, alice, bob, carol, group):
    moderation.user_block(blocker=carol, blocked=bob)
    services.message_delete(actor=bob, message=send(bob, group, "hidden and deleted"))
    send(bob, group, "hidden")
    latest = send(alice, group, "seen")

    assert unread_in(api_for(carol), group.pk) == 1
    assert selectors.unread_totals([carol.pk]) == {carol.pk: 1}
    counts = {
        user_id: (here, total) for user_id, here, total in selectors.message_recipients(group.pk, alice.pk, latest.seq)
    }
    assert counts[carol.pk] == (1, 1)
    assert counts[bob.pk] == (1, 1)
