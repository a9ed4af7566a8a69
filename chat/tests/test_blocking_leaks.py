"""A block hides the blocked user from the blocker everywhere, not only in history.

alice blocks bob throughout: his group messages are not her previews, he cannot put her in groups,
his typing does not reach her and he does not see her presence.
"""

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import moderation, services
from chat.models import Conversation
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import assert_silent, receive

sockets = socket_fixtures.sockets


@pytest.fixture
def group(alice, bob, carol):
    return services.conversation_create_group(creator=carol, title="team", usernames=["alice", "bob"])


def send(user, conversation, content: str):
    return services.message_send(sender=user, conversation=conversation, content=content)[0]


def listed(api, conversation_id: int) -> dict:
    return next(c for c in api.get("/api/conversations/").json() if c["id"] == conversation_id)


@pytest.mark.django_db
def test_the_blocked_users_message_is_never_the_blockers_last_message(client, api_for, alice, bob, carol, group):
    moderation.user_block(blocker=alice, blocked=bob)
    assert listed(api_for(alice), group.pk)["last_message"] is None  # nothing she can see yet
    send(carol, group, "from carol")
    send(bob, group, "from bob")

    assert listed(api_for(alice), group.pk)["last_message"]["content"] == "from carol"
    assert api_for(alice).get(f"/api/conversations/{group.pk}/").json()["last_message"]["content"] == "from carol"
    assert listed(api_for(carol), group.pk)["last_message"]["content"] == "from bob"

    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "from carol" in page
    assert "from bob" not in page

    moderation.user_unblock(blocker=alice, blocked=bob)
    assert listed(api_for(alice), group.pk)["last_message"]["content"] == "from bob"


@pytest.mark.django_db
def test_a_blockers_list_costs_the_same_queries_for_1_and_for_20_conversations(api_for, alice, bob, carol, group):
    moderation.user_block(blocker=alice, blocked=bob)
    send(bob, group, "hidden")
    api = api_for(alice)
    with CaptureQueriesContext(connection) as one:
        api.get("/api/conversations/")
    for n in range(19):
        crew = services.conversation_create_group(creator=carol, title=f"crew {n}", usernames=["alice", "bob"])
        send(carol, crew, "seen")
        send(bob, crew, "hidden")
    with CaptureQueriesContext(connection) as twenty:
        rows = api.get("/api/conversations/").json()
    assert len(twenty.captured_queries) == len(one.captured_queries)
    assert [row["last_message"]["content"] for row in rows[:19]] == ["seen"] * 19


@pytest.mark.django_db
@pytest.mark.parametrize(("creator", "member"), [("bob", "alice"), ("alice", "bob")])
def test_nobody_creates_a_group_across_a_block(api_for, alice, bob, carol, creator, member):
    moderation.user_block(blocker=alice, blocked=bob)
    users = {"alice": alice, "bob": bob}
    answer = api_for(users[creator]).post(
        "/api/conversations/", {"title": "trap", "usernames": [member, "carol"]}, format="json"
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "blocked"
    assert not Conversation.objects.filter(title="trap").exists()


@pytest.mark.django_db
def test_nobody_adds_a_member_across_a_block(api_for, alice, bob, carol):
    bobs = services.conversation_create_group(creator=bob, title="bob's", usernames=["alice", "carol"])
    alices = services.conversation_create_group(creator=alice, title="alice's", usernames=["carol"])
    moderation.user_block(blocker=alice, blocked=bob)
    assert api_for(alice).delete(f"/api/conversations/{bobs.pk}/members/alice").status_code == 204

    again = api_for(bob).post(f"/api/conversations/{bobs.pk}/members", {"username": "alice"}, format="json")
    assert (again.status_code, again.json()["code"]) == (403, "blocked")
    theirs = api_for(alice).post(f"/api/conversations/{alices.pk}/members", {"username": "bob"}, format="json")
    assert (theirs.status_code, theirs.json()["code"]) == (403, "blocked")
    assert not bobs.participants.filter(user=alice).exists()

    moderation.user_unblock(blocker=alice, blocked=bob)
    back = api_for(bob).post(f"/api/conversations/{bobs.pk}/members", {"username": "alice"}, format="json")
    assert back.status_code == 201


@pytest.mark.django_db
def test_a_rename_by_the_blocked_user_still_renames_the_shared_group(api_for, alice, bob, carol):
    bobs = services.conversation_create_group(creator=bob, title="bob's", usernames=["alice", "carol"])
    moderation.user_block(blocker=alice, blocked=bob)
    assert api_for(bob).patch(f"/api/conversations/{bobs.pk}/", {"title": "renamed"}, format="json").status_code == 200
    assert listed(api_for(alice), bobs.pk)["title"] == "renamed"


@pytest.mark.django_db(transaction=True)
async def test_a_refused_group_sends_the_blocker_nothing(sockets, api_for, alice, bob, carol):
    await database_sync_to_async(moderation.user_block)(blocker=alice, blocked=bob)
    alice_notes = await sockets.notifications(alice)
    api = await database_sync_to_async(api_for)(bob)
    for n in range(3):
        answer = await database_sync_to_async(api.post)(
            "/api/conversations/", {"title": f"trap {n}", "usernames": ["alice"]}, format="json"
        )
        assert answer.status_code == 403
    await assert_silent(alice_notes)


@pytest.mark.django_db(transaction=True)
async def test_the_blocked_users_typing_does_not_reach_the_blocker(sockets, alice, bob, carol, group):
    await database_sync_to_async(moderation.user_block)(blocker=alice, blocked=bob)
    alice_chat = await sockets.chat(alice, group.pk)
    carol_chat = await sockets.chat(carol, group.pk)
    bob_chat = await sockets.chat(bob, group.pk)
    await bob_chat.send_json_to({"type": "typing", "is_typing": True})
    frame = await receive(carol_chat)
    assert (frame["type"], frame["user"]["username"]) == ("typing", "bob")
    await assert_silent(alice_chat)

    await carol_chat.send_json_to({"type": "typing", "is_typing": True})
    assert (await receive(alice_chat))["user"]["username"] == "carol"


async def presence_of_user(notes, username: str) -> dict:
    """The next `presence` frame about `username` (contacts come and go around it)."""
    while (frame := await receive(notes, presence=True))["user"]["username"] != username:
        pass
    return frame


@pytest.mark.django_db(transaction=True)
async def test_the_blocked_user_does_not_see_the_blockers_presence(sockets, api_for, alice, bob, carol, group):
    bob_notes = await sockets.notifications(bob)
    carol_notes = await sockets.notifications(carol)
    alice_notes = await sockets.notifications(alice)
    assert (await presence_of_user(bob_notes, "alice"))["online"] is True
    assert (await presence_of_user(carol_notes, "alice"))["online"] is True

    await database_sync_to_async(moderation.user_block)(blocker=alice, blocked=bob)
    hidden = await presence_of_user(bob_notes, "alice")
    assert (hidden["online"], hidden["last_seen_at"]) == (False, None)

    def presence_of(user) -> dict:
        return {row["user"]["username"]: row["online"] for row in api_for(user).get("/api/users/presence").json()}

    assert "alice" not in await database_sync_to_async(presence_of)(bob)
    assert (await database_sync_to_async(presence_of)(alice))["bob"] is True
    assert (await database_sync_to_async(presence_of)(carol))["alice"] is True

    await alice_notes.disconnect()
    sockets.opened.remove(alice_notes)
    assert (await presence_of_user(carol_notes, "alice"))["online"] is False
    assert await bob_notes.receive_nothing(timeout=0.3)  # not even her going offline

    await sockets.notifications(alice)
    assert (await presence_of_user(carol_notes, "alice"))["online"] is True
    await database_sync_to_async(moderation.user_unblock)(blocker=alice, blocked=bob)
    assert (await presence_of_user(bob_notes, "alice"))["online"] is True
    assert "alice" in await database_sync_to_async(presence_of)(bob)


@pytest.mark.django_db(transaction=True)
async def test_a_rename_reaches_the_blocker_with_only_what_they_can_see(sockets, api_for, alice, bob, carol):
    bobs = await database_sync_to_async(services.conversation_create_group)(
        creator=bob, title="bob's", usernames=["alice", "carol"]
    )
    await database_sync_to_async(send)(carol, bobs, "from carol")
    await database_sync_to_async(send)(bob, bobs, "from bob")
    await database_sync_to_async(moderation.user_block)(blocker=alice, blocked=bob)
    alice_notes = await sockets.notifications(alice)
    api = await database_sync_to_async(api_for)(bob)
    renamed = await database_sync_to_async(api.patch)(f"/api/conversations/{bobs.pk}/", {"title": "new"}, format="json")
    assert renamed.status_code == 200
    frame = await receive(alice_notes)
    assert frame["type"] == "conversation"
    assert (frame["conversation"]["title"], frame["conversation"]["last_message"]["content"]) == ("new", "from carol")
