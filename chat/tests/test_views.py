"""The server-rendered chat pages: the app, an open conversation, a new conversation, group settings."""

import json

import pytest
from django.test import Client

from chat import moderation, services
from chat.models import Block, Conversation, Message, Participant

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def direct(alice, bob) -> Conversation:
    conversation, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    return conversation


@pytest.fixture
def group(alice, bob, carol) -> Conversation:
    return services.conversation_create_group(creator=alice, title="Team", usernames=["bob", "carol"])


@pytest.fixture
def client_for():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def send(sender, conversation, content: str) -> Message:
    return services.message_send(sender=sender, conversation=conversation, content=content)[0]


def boot(response) -> dict:
    return response.context["boot"]


@pytest.mark.parametrize("path", ["/", "/c/1/", "/c/1/settings", "/new", "/c/1/block"])
def test_every_page_sends_a_logged_out_visitor_to_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.url == f"/login?next={path}"


def test_app_page_lists_conversations_most_recent_first_with_previews_and_badges(
    client_for, alice, bob, carol, direct, group
):
    send(bob, direct, "older from bob")
    send(carol, group, "newer from carol")
    send(carol, group, "newest from carol")

    response = client_for(alice).get("/")

    assert response.status_code == 200
    items = response.context["conversations"]
    assert [item["id"] for item in items] == [group.pk, direct.pk]
    assert [item["name"] for item in items] == ["Team", "bob"]
    assert [item["preview"] for item in items] == ["carol: newest from carol", "older from bob"]
    assert [item["unread_count"] for item in items] == [2, 1]
    html = response.content.decode()
    assert html.index("newest from carol") < html.index("older from bob")
    assert "<title>(3) Brewverse</title>" in html
    assert boot(response)["conversation"] is None


def test_app_page_prefixes_the_users_own_last_message(client_for, alice, direct):
    send(alice, direct, "my own words")

    items = client_for(alice).get("/").context["conversations"]

    assert items[0]["preview"] == "You: my own words"
    assert items[0]["unread_count"] == 0


def test_app_page_with_no_conversations_invites_to_start_one(client_for, alice):
    response = client_for(alice).get("/")

    assert response.status_code == 200
    assert b"No conversations yet." in response.content
    assert b'href="/new"' in response.content


def test_app_page_costs_a_constant_number_of_queries(client_for, alice, make_user, django_assert_max_num_queries):
    client = client_for(alice)
    for _ in range(2):
        services.conversation_get_or_create_direct(user=alice, other=make_user())
    with django_assert_max_num_queries(8) as few:
        client.get("/")
    for _ in range(60):
        other = make_user()
        conversation, _ = services.conversation_get_or_create_direct(user=alice, other=other)
        send(other, conversation, "hi")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/")
    assert len(response.context["conversations"]) == 50


def many_conversations(alice, make_user, n: int) -> list[Conversation]:
    """alice's n direct conversations, each with one unread message, newest first."""
    conversations = []
    for _ in range(n):
        other = make_user()
        conversation, _ = services.conversation_get_or_create_direct(user=alice, other=other)
        send(other, conversation, f"hi from {other.username}")
        conversations.append(conversation)
    return conversations[::-1]


def test_app_page_renders_the_first_page_and_links_the_next(client_for, alice, make_user):
    newest_first = many_conversations(alice, make_user, 60)
    client = client_for(alice)

    response = client.get("/")

    assert [item["id"] for item in response.context["conversations"]] == [c.pk for c in newest_first[:50]]
    listing = boot(response)["conversations"]
    assert listing["next"].startswith("/api/conversations/?cursor=")
    assert boot(response)["urls"]["conversations"] == "/api/conversations/"
    # The 10 not rendered hold one unread message each; the title counts them too.
    assert listing["unlisted_unread"] == 10
    assert "<title>(60) Brewverse</title>" in response.content.decode()
    assert 'id="conversation-more" class="list-more" hidden' in response.content.decode()
    rest = client.get(listing["next"])  # the scripts follow it with the session
    assert [c["id"] for c in rest.json()] == [c.pk for c in newest_first[50:]]
    assert "Link" in rest.headers  # back to the first page


def test_app_page_with_one_page_has_no_next(client_for, alice, direct, group):
    response = client_for(alice).get("/")

    assert len(response.context["conversations"]) == 2
    assert boot(response)["conversations"] == {"next": None, "unlisted_unread": 0}


def test_a_conversation_beyond_the_first_page_opens_and_is_listed_last(client_for, alice, bob, make_user):
    newest_first = many_conversations(alice, make_user, 55)
    oldest = newest_first[-1]

    response = client_for(alice).get(f"/c/{oldest.pk}/")

    assert response.status_code == 200
    items = response.context["conversations"]
    assert [item["id"] for item in items] == [c.pk for c in newest_first[:50]] + [oldest.pk]
    assert response.context["open"]["id"] == oldest.pk
    assert [m["content"] for m in response.context["history"]] == [Message.objects.get(conversation=oldest).content]
    # Its own unread message does not count while it is open; the 4 others below the page do.
    assert boot(response)["conversations"]["unlisted_unread"] == 4
    assert "<title>(54) Brewverse</title>" in response.content.decode()
    assert 'class="conv active"' in response.content.decode()


def test_conversation_page_shows_the_history_and_the_send_box(client_for, alice, bob, direct):
    sent = [send(bob if n % 2 else alice, direct, f"message {n}") for n in range(3)]

    response = client_for(alice).get(f"/c/{direct.pk}/")

    assert response.status_code == 200
    assert [m["content"] for m in response.context["history"]] == ["message 0", "message 1", "message 2"]
    assert [m["mine"] for m in response.context["history"]] == [True, False, True]
    assert response.context["has_more"] is False
    assert b'id="composer-input"' in response.content
    data = boot(response)
    assert data["conversation"]["id"] == direct.pk
    # Bob's pointers (the ticks of alice's messages) are at his own message: he has seen up to there.
    assert data["receipts"] == [
        {
            "user_id": bob.pk,
            "display_name": "bob",
            "last_delivered_message_id": sent[1].pk,
            "last_read_message_id": sent[1].pk,
        }
    ]
    assert data["max_length"] == 4096


def test_conversation_page_shows_the_newest_page_and_offers_older_ones(client_for, alice, bob, direct):
    for n in range(55):
        send(bob, direct, f"m{n}")
    services.conversation_mark_read(participant=Participant.objects.get(user=alice, conversation=direct))

    response = client_for(alice).get(f"/c/{direct.pk}/")

    history = response.context["history"]
    assert len(history) == 50
    assert history[0]["content"] == "m5"
    assert history[-1]["content"] == "m54"
    assert response.context["has_more"] is True
    assert boot(response)["has_more"] is True
    assert boot(response)["has_newer"] is False


def test_conversation_page_opens_at_the_first_unread_with_a_few_read_ones_above(client_for, alice, bob, direct):
    sent = [send(bob, direct, f"m{n}") for n in range(100)]
    reader = Participant.objects.get(user=alice, conversation=direct)
    services.conversation_mark_read(participant=reader, message_id=sent[39].pk)  # 60 unread

    response = client_for(alice).get(f"/c/{direct.pk}/")

    history = [m["content"] for m in response.context["history"]]
    assert history == [f"m{n}" for n in range(30, 90)]  # 10 read, then the first 50 unread
    assert response.context["has_more"] is True
    data = boot(response)
    assert data["has_more"] is True
    assert data["has_newer"] is True  # m90..m99 come with the socket's replay
    assert data["conversation"]["last_read_message_id"] == sent[39].pk
    assert data["conversation"]["unread_count"] == 60


def test_conversation_page_never_read_opens_at_the_start(client_for, alice, bob, direct):
    for n in range(3):
        send(bob, direct, f"m{n}")

    response = client_for(alice).get(f"/c/{direct.pk}/")

    assert [m["content"] for m in response.context["history"]] == ["m0", "m1", "m2"]
    assert response.context["has_more"] is False
    assert boot(response)["has_newer"] is False


def test_conversation_page_at_the_first_unread_costs_a_constant_number_of_queries(
    client_for, alice, bob, direct, django_assert_max_num_queries
):
    client = client_for(alice)
    reader = Participant.objects.get(user=alice, conversation=direct)
    services.conversation_mark_read(participant=reader, message_id=send(bob, direct, "read").pk)
    send(bob, direct, "unread")
    with django_assert_max_num_queries(30) as few:
        client.get(f"/c/{direct.pk}/")
    for n in range(120):
        send(bob, direct, f"m{n}")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"/c/{direct.pk}/")
    assert len(response.context["history"]) == 51


def test_conversation_page_does_not_count_the_open_conversation_as_unread(client_for, alice, bob, direct, group):
    send(bob, direct, "one")
    send(bob, group, "two")

    response = client_for(alice).get(f"/c/{direct.pk}/")

    assert "<title>(1) Brewverse</title>" in response.content.decode()


def test_user_content_is_escaped_everywhere(client_for, alice, bob, make_user):
    mallory = make_user("mallory", display_name='<b onmouseover="x()">mal</b>')
    conversation = services.conversation_create_group(
        creator=mallory, title=f"<script>t()</script>{XSS}", usernames=["alice"]
    )
    send(mallory, conversation, XSS)

    response = client_for(alice).get(f"/c/{conversation.pk}/")
    html = response.content.decode()

    assert XSS not in html
    assert "<script>t()</script>" not in html
    assert "<b onmouseover" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;t()&lt;/script&gt;" in html
    # The boot data is JSON in a non-executable script element, with < escaped.
    start = html.index('<script id="boot" type="application/json">')
    assert "<img" not in html[start : html.index("</script>", start)]
    boot_json = html[start + len('<script id="boot" type="application/json">') : html.index("</script>", start)]
    assert json.loads(boot_json)["conversation"]["name"].startswith("<script>")


def test_conversation_page_is_not_found_for_an_outsider(client_for, carol, direct):
    assert client_for(carol).get(f"/c/{direct.pk}/").status_code == 404
    assert client_for(carol).get("/c/999999/").status_code == 404
    assert client_for(carol).post(f"/c/{direct.pk}/", {"content": "hi"}).status_code == 404


def test_sending_without_javascript_posts_and_returns_to_the_conversation(client_for, alice, direct):
    response = client_for(alice).post(f"/c/{direct.pk}/", {"content": "  no script needed  ", "client_id": "c1"})

    assert response.status_code == 302
    assert response.url == f"/c/{direct.pk}/"
    message = Message.objects.get(conversation=direct)
    assert (message.content, message.client_id, message.sender) == ("no script needed", "c1", alice)


@pytest.mark.parametrize(
    ("content", "error"),
    [("   ", "Message content cannot be empty."), ("x" * 4097, "Message content is limited to 4096 characters.")],
)
def test_sending_bad_content_without_javascript_shows_the_error(client_for, alice, direct, content, error):
    response = client_for(alice).post(f"/c/{direct.pk}/", {"content": content})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Message.objects.exists()


def test_new_conversation_page_has_both_forms(client_for, alice):
    response = client_for(alice).get("/new")

    assert response.status_code == 200
    assert b'name="direct-username"' in response.content
    assert b'name="group-title"' in response.content
    assert b'name="group-usernames"' in response.content


def test_new_direct_conversation_by_username_opens_it_and_reuses_it(client_for, alice, bob):
    client = client_for(alice)

    first = client.post("/new", {"kind": "direct", "direct-username": "@Bob"})
    second = client.post("/new", {"kind": "direct", "direct-username": "bob"})

    conversation = Conversation.objects.get(is_group=False)
    assert first.url == second.url == f"/c/{conversation.pk}/"


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("nobody", "No one is called nobody."),
        ("alice", "You cannot start a direct conversation with yourself."),
        ("", "This field is required."),
    ],
)
def test_new_direct_conversation_with_bad_input_shows_the_error(client_for, alice, username, error):
    response = client_for(alice).post("/new", {"kind": "direct", "direct-username": username})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Conversation.objects.exists()


def test_new_group_makes_the_creator_owner(client_for, alice, bob, carol):
    response = client_for(alice).post(
        "/new", {"kind": "group", "group-title": " Book club ", "group-usernames": "bob, @carol"}
    )

    group = Conversation.objects.get(is_group=True)
    assert response.url == f"/c/{group.pk}/"
    assert group.title == "Book club"
    roles = dict(group.participants.values_list("user__username", "role"))
    assert roles == {"alice": "owner", "bob": "member", "carol": "member"}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"group-title": "", "group-usernames": "bob"}, "This field is required."),
        ({"group-title": "   ", "group-usernames": "bob"}, "This field is required."),
        ({"group-title": "Club", "group-usernames": "bob ghost phantom"}, "Unknown users: ghost, phantom."),
    ],
)
def test_new_group_with_bad_input_shows_the_error(client_for, alice, bob, data, error):
    response = client_for(alice).post("/new", {"kind": "group", **data})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Conversation.objects.exists()


def test_group_page_shows_members_and_management_to_the_owner(client_for, alice, group):
    response = client_for(alice).get(f"/c/{group.pk}/settings")

    assert response.status_code == 200
    assert [m.user.username for m in response.context["members"]] == ["alice", "bob", "carol"]
    assert b'id="rename-form"' in response.content
    assert b'id="add-form"' in response.content
    assert response.content.count(b'value="remove"') == 2
    assert b'id="leave-form"' in response.content


def test_group_page_offers_a_member_only_the_list_and_leaving(client_for, bob, group):
    response = client_for(bob).get(f"/c/{group.pk}/settings")

    assert response.status_code == 200
    assert b'id="rename-form"' not in response.content
    assert b'value="remove"' not in response.content
    assert b'id="leave-form"' in response.content


def test_group_page_is_not_found_for_outsiders_and_direct_conversations(client_for, alice, make_user, group, direct):
    assert client_for(make_user()).get(f"/c/{group.pk}/settings").status_code == 404
    assert client_for(alice).get(f"/c/{direct.pk}/settings").status_code == 404


def test_owner_renames_adds_and_removes(client_for, alice, make_user, group):
    make_user("dave")
    client = client_for(alice)
    url = f"/c/{group.pk}/settings"

    assert client.post(url, {"action": "rename", "rename-title": "Dream team"}).url == url
    assert client.post(url, {"action": "add", "add-username": "dave"}).url == url
    assert client.post(url, {"action": "remove", "username": "bob"}).url == url

    group.refresh_from_db()
    assert group.title == "Dream team"
    assert set(group.participants.values_list("user__username", flat=True)) == {"alice", "carol", "dave"}
    assert "bob was removed." in client.get(url).content.decode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"action": "rename", "rename-title": ""}, "This field is required."),
        ({"action": "add", "add-username": "ghost"}, "Unknown users: ghost."),
        ({"action": "add", "add-username": "bob"}, "bob is already a member."),
        ({"action": "remove", "username": "ghost"}, "ghost is not a member."),
        ({"action": "explode"}, "Unknown action."),
    ],
)
def test_group_page_with_bad_input_shows_the_error(client_for, alice, group, data, error):
    response = client_for(alice).post(f"/c/{group.pk}/settings", data)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert group.participants.count() == 3


def test_a_member_cannot_manage_and_sees_why(client_for, bob, group):
    response = client_for(bob).post(f"/c/{group.pk}/settings", {"action": "remove", "username": "carol"})

    assert response.status_code == 200
    assert "Only the group&#x27;s owner or an admin can do this." in response.content.decode()
    assert group.participants.count() == 3


def test_leaving_returns_to_the_app_and_hands_over_ownership(client_for, alice, bob, group):
    response = client_for(alice).post(f"/c/{group.pk}/settings", {"action": "leave"})

    assert response.url == "/"
    assert not group.participants.filter(user=alice).exists()
    assert Participant.objects.get(conversation=group, user=bob).role == Participant.Role.OWNER


def test_pages_enforce_csrf(alice, direct):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(f"/c/{direct.pk}/", {"content": "hi"}).status_code == 403
    assert client.post("/new", {"kind": "direct", "direct-username": "bob"}).status_code == 403


# --- safety: deleted and edited messages, blocking ------------------------------------------------


def test_deleted_and_edited_messages_render_as_such(client_for, alice, bob, direct):
    kept = send(bob, direct, "first words")
    services.message_edit(actor=bob, message=kept, content="better words")
    gone = send(bob, direct, "regrettable")
    services.message_delete(actor=bob, message=gone)

    response = client_for(alice).get(f"/c/{direct.pk}/")

    html = response.content.decode()
    assert "regrettable" not in html
    edited, deleted = response.context["history"]
    assert (edited["content"], edited["deleted"]) == ("better words", False)
    assert (deleted["content"], deleted["deleted"]) == ("", True)
    assert f'class="msg deleted" data-id="{gone.pk}"' in html
    assert html.count('<span class="edited" data-field="edited">edited</span>') == 1
    assert "Message deleted</p>" in html
    # The sidebar's preview of a deleted last message.
    assert response.context["conversations"][0]["preview"] == "Message deleted"


def test_blocking_from_a_direct_conversation_shows_the_notice_to_both(client_for, alice, bob, direct):
    send(bob, direct, "hello there")
    alice_client = client_for(alice)

    response = alice_client.post(f"/c/{direct.pk}/block", {"action": "block"})

    assert response.status_code == 302
    assert response.url == f"/c/{direct.pk}/"
    assert Block.objects.filter(blocker=alice, blocked=bob).exists()
    page = alice_client.get(f"/c/{direct.pk}/")
    html = page.content.decode()
    assert page.context["block_state"] == "by_me"
    assert "You blocked bob." in html
    assert "You blocked bob. Neither of you can send messages here." in html
    assert 'value="unblock"' in html
    assert f'id="composer" class="composer" method="post" action="/c/{direct.pk}/" hidden' in html
    # Bob's messages are hidden from alice, as in the API's history, a placeholder where they were;
    # the boot data says where it ends.
    assert [(row.get("hidden"), row["name"], row["count"]) for row in page.context["history"]] == [(True, "bob", 1)]
    assert "Message hidden: you blocked bob" in html
    assert boot(page)["blocked"] == [bob.pk]
    assert boot(page)["conversation"]["last_message"]["seq"] == 1

    bob_page = client_for(bob).get(f"/c/{direct.pk}/")
    assert bob_page.context["block_state"] == "by_them"
    assert "You can't message alice." in bob_page.content.decode()
    assert 'value="unblock"' not in bob_page.content.decode()

    alice_client.post(f"/c/{direct.pk}/block", {"action": "unblock"})
    assert not Block.objects.exists()
    assert alice_client.get(f"/c/{direct.pk}/").context["block_state"] is None


def test_sending_without_javascript_across_a_block_shows_why(client_for, alice, bob, direct):
    moderation.user_block(blocker=bob, blocked=alice)

    response = client_for(alice).post(f"/c/{direct.pk}/", {"content": "anyone?"})

    assert response.status_code == 200
    assert "You cannot message this user." in response.content.decode()
    assert not Message.objects.exists()


def test_blocking_needs_a_direct_conversation_of_ones_own_and_a_post(client_for, alice, carol, direct, group):
    assert client_for(alice).get(f"/c/{direct.pk}/block").status_code == 405
    assert client_for(alice).post(f"/c/{group.pk}/block", {"action": "block"}).status_code == 404
    assert client_for(carol).post(f"/c/{direct.pk}/block", {"action": "block"}).status_code == 404
    assert not Block.objects.exists()


def test_group_page_blocks_and_unblocks_members(client_for, alice, bob, group):
    client = client_for(alice)
    html = client.get(f"/c/{group.pk}/settings").content.decode()
    assert 'aria-label="Block bob"' in html
    assert 'aria-label="Block alice"' not in html  # not oneself

    response = client.post(f"/c/{group.pk}/settings", {"action": "block", "username": "bob"})

    assert response.status_code == 302
    assert Block.objects.filter(blocker=alice, blocked=bob).exists()
    html = client.get(f"/c/{group.pk}/settings").content.decode()
    assert "You blocked bob." in html
    assert 'aria-label="Unblock bob"' in html

    client.post(f"/c/{group.pk}/settings", {"action": "unblock", "username": "bob"})
    assert not Block.objects.exists()


def test_group_page_refuses_to_block_a_stranger(client_for, alice, make_user, group):
    make_user("dave")

    response = client_for(alice).post(f"/c/{group.pk}/settings", {"action": "block", "username": "dave"})

    assert response.status_code == 200
    assert "dave is not a member of this group." in response.content.decode()
    assert not Block.objects.exists()


def test_group_history_leaves_out_people_one_blocked(client_for, alice, bob, carol, group):
    send(bob, group, "from bob")
    send(carol, group, "from carol")
    moderation.user_block(blocker=alice, blocked=bob)

    response = client_for(alice).get(f"/c/{group.pk}/")

    messages = [m for m in response.context["history"] if not m.get("hidden") and not m.get("event")]
    assert [m["content"] for m in messages] == ["from carol"]
    assert response.context["block_state"] is None  # blocks only stop direct conversations
    assert 'id="blocked-notice" class="blocked-notice" role="status" hidden' in response.content.decode()


def test_sidebar_and_header_carry_the_presence_hooks(client_for, alice, bob, direct, group):
    response = client_for(alice).get(f"/c/{direct.pk}/")

    html = response.content.decode()
    assert html.count(f'data-presence="{bob.pk}"') == 2  # the sidebar's avatar and the header's
    assert f'data-presence-text="{bob.pk}"' in html
    assert boot(response)["conversation"]["other_user"]["username"] == "bob"


def test_hidden_messages_leave_one_placeholder_per_run_in_constant_queries(
    client_for, alice, make_user, django_assert_max_num_queries
):
    bob = make_user("bob", display_name="Bob")
    carol = make_user("carol", display_name="Carol")
    group = services.conversation_create_group(creator=alice, title="Hops", usernames=["bob", "carol"])
    moderation.user_block(blocker=alice, blocked=bob)
    moderation.user_block(blocker=alice, blocked=carol)
    client = client_for(alice)

    def page_rows():
        return [
            ("hidden", row["name"], row["count"]) if row.get("hidden") else row["content"]
            for row in client.get(f"/c/{group.pk}/").context["history"]
            if not row.get("event")
        ]

    send(alice, group, "hello")
    send(bob, group, "one")
    with django_assert_max_num_queries(20) as few:
        assert page_rows() == ["hello", ("hidden", "Bob", 1)]
    for content in ("two", "three"):
        send(bob, group, content)
    send(carol, group, "four")
    send(alice, group, "bye")

    with django_assert_max_num_queries(len(few.captured_queries)):
        rows = page_rows()
    assert rows == ["hello", ("hidden", "Bob", 3), ("hidden", "Carol", 1), "bye"]
    assert "3 messages hidden: you blocked Bob" in client.get(f"/c/{group.pk}/").content.decode()
