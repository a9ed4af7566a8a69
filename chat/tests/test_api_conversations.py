"""The conversations API: list (and its pages), detail, direct, group create, read, rename and members."""

import base64
import re
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from chat import services
from chat.models import Conversation, Message, Participant

pytestmark = pytest.mark.django_db

CONVERSATION_FIELDS = {
    "id",
    "is_group",
    "title",
    "participants",
    "other_user",
    "last_message",
    "unread_count",
    "last_read_message_id",
    "created_at",
    "updated_at",
}


def group_of(owner, *members, title: str = "Brew crew") -> Conversation:
    return services.conversation_create_group(creator=owner, title=title, usernames=[m.username for m in members])


def direct_of(user, other) -> Conversation:
    return services.conversation_get_or_create_direct(user=user, other=other)[0]


def send(sender, conversation: Conversation, content: str = "hello") -> Message:
    conversation.refresh_from_db()
    return services.message_send(sender=sender, conversation=conversation, content=content)[0]


def roles(body: dict) -> dict[str, str]:
    return {p["username"]: p["role"] for p in body["participants"]}


def add_member(conversation: Conversation, owner, user) -> None:
    actor = Participant.objects.get(conversation=conversation, user=owner)
    services.conversation_add_member(actor=actor, username=user.username)


def make_admin(conversation: Conversation, user) -> None:
    Participant.objects.filter(conversation=conversation, user=user).update(role=Participant.Role.ADMIN)


# --- list ---------------------------------------------------------------------------------------


def test_list_without_credentials_is_a_401():
    response = APIClient().get("/api/conversations/")

    assert response.status_code == 401
    assert "detail" in response.json()


def test_list_is_empty_for_a_newcomer(api_for, alice):
    response = api_for(alice).get("/api/conversations/")

    assert response.status_code == 200
    assert response.json() == []


def test_list_holds_only_the_callers_conversations_most_recently_active_first(api_for, alice, bob, carol):
    first = direct_of(alice, bob)
    second = group_of(alice, carol)
    third = direct_of(alice, carol)
    direct_of(bob, carol)  # not alice's

    assert [c["id"] for c in api_for(alice).get("/api/conversations/").json()] == [third.pk, second.pk, first.pk]

    send(bob, first)

    assert [c["id"] for c in api_for(alice).get("/api/conversations/").json()] == [first.pk, third.pk, second.pk]


def test_list_breaks_ties_in_activity_by_the_newest_id(api_for, alice, bob, carol):
    older, newer = direct_of(alice, bob), direct_of(alice, carol)
    Conversation.objects.update(updated_at=timezone.now())

    assert [c["id"] for c in api_for(alice).get("/api/conversations/").json()] == [newer.pk, older.pk]


def test_list_shapes_each_conversation_as_the_caller_sees_it(api_for, alice, bob, carol):
    chat = direct_of(alice, bob)
    crew = group_of(alice, bob, carol)
    send(alice, chat, "first")
    last = send(bob, chat, "second")

    listing = api_for(alice).get("/api/conversations/").json()

    assert [c["id"] for c in listing] == [chat.pk, crew.pk]
    direct, group = listing
    assert set(direct) >= CONVERSATION_FIELDS
    assert direct["is_group"] is False
    assert direct["title"] == ""
    assert direct["other_user"] == {"id": bob.pk, "username": "bob", "display_name": "bob"}
    assert roles(direct) == {"alice": "member", "bob": "member"}
    assert direct["last_message"]["id"] == last.pk
    assert direct["last_message"]["content"] == "second"
    assert direct["last_message"]["sender"]["username"] == "bob"
    assert direct["unread_count"] == 1
    assert direct["created_at"].endswith("Z")
    assert direct["updated_at"].endswith("Z")
    assert group["is_group"] is True
    assert group["title"] == "Brew crew"
    assert group["other_user"] is None
    assert group["last_message"] is None
    assert group["unread_count"] == 0
    assert group["last_read_message_id"] is None
    assert roles(group) == {"alice": "owner", "bob": "member", "carol": "member"}
    assert set(group["participants"][0]) == {"id", "username", "display_name", "role"}


def test_list_costs_the_same_queries_for_1_and_for_60_conversations_on_every_page(
    api_for, alice, bob, carol, django_assert_num_queries
):
    api = api_for(alice)
    send(bob, direct_of(alice, bob))
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/api/conversations/").json()) == 1

    send(carol, direct_of(alice, carol))
    for n in range(58):
        crew = group_of(alice, bob, carol, title=f"crew {n}")
        send(bob, crew)
        send(carol, crew)

    with django_assert_num_queries(len(one.captured_queries)):
        first = api.get("/api/conversations/")
    with django_assert_num_queries(len(one.captured_queries)):
        second = api.get(links(first)["next"])
    with django_assert_num_queries(len(one.captured_queries)):
        everything = api.get("/api/conversations/?limit=200")
    assert [len(r.json()) for r in (first, second, everything)] == [50, 10, 60]
    assert all(c["unread_count"] >= 1 and c["last_message"] is not None for c in everything.json())
    assert len(one.captured_queries) <= 5


# --- list pages ---------------------------------------------------------------------------------


def links(response) -> dict[str, str]:
    """The RFC 8288 Link header as {rel: url}."""
    return dict((rel, url) for url, rel in re.findall(r'<([^>]*)>; rel="([^"]*)"', response.headers.get("Link", "")))


def walk(api, url: str) -> list[list[int]]:
    """Every page from `url` on, following rel="next", as lists of conversation ids."""
    pages = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        pages.append([c["id"] for c in response.json()])
        url = links(response).get("next")
        assert len(pages) < 100
    return pages


@pytest.fixture
def many(alice, make_user):
    """`many(n)`: alice gets n direct conversations, one a minute; returns their ids, newest first."""

    def make(n: int) -> list[int]:
        start = timezone.now() - timedelta(days=1)
        ids = []
        for i in range(n):
            conversation = direct_of(alice, make_user())
            Conversation.objects.filter(pk=conversation.pk).update(updated_at=start + timedelta(minutes=i))
            ids.append(conversation.pk)
        return ids[::-1]

    return make


def test_list_pages_follow_the_link_header_newest_first(api_for, alice, many):
    newest_first = many(7)
    api = api_for(alice)

    first = api.get("/api/conversations/?limit=3")

    assert first.status_code == 200
    assert [c["id"] for c in first.json()] == newest_first[:3]
    assert set(links(first)) == {"next"}  # no "prev" on the first page
    assert "limit=3" in links(first)["next"]
    assert walk(api, "/api/conversations/?limit=3") == [newest_first[:3], newest_first[3:6], newest_first[6:]]
    last = api.get(links(api.get(links(first)["next"]))["next"])
    assert set(links(last)) == {"prev"}  # no "next" on the last page
    back = api.get(links(last)["prev"])
    assert [c["id"] for c in back.json()] == newest_first[3:6]


def test_a_single_page_has_no_link_header(api_for, alice, many):
    many(3)

    response = api_for(alice).get("/api/conversations/")

    assert len(response.json()) == 3
    assert "Link" not in response.headers


def test_list_pages_hold_50_by_default_and_up_to_200(api_for, alice, many):
    newest_first = many(60)
    api = api_for(alice)

    default = api.get("/api/conversations/")
    assert [c["id"] for c in default.json()] == newest_first[:50]
    assert [c["id"] for c in api.get(links(default)["next"]).json()] == newest_first[50:]
    assert [c["id"] for c in api.get("/api/conversations/?limit=200").json()] == newest_first
    assert [len(page) for page in walk(api, "/api/conversations/?limit=1")] == [1] * 60
    assert [c["id"] for c in api.get("/api/conversations/?limit=").json()] == newest_first[:50]


@pytest.mark.parametrize("limit", ["0", "-1", "201", "abc", "1.5", "1e3", str(10**30)])
def test_a_limit_out_of_bounds_is_a_400_naming_it(api_for, alice, many, limit):
    many(2)

    response = api_for(alice).get(f"/api/conversations/?limit={limit}")

    assert response.status_code == 400
    assert set(response.json()) == {"limit", "code", "detail"}


def cursor_of(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "%FF%FE",
        "not base64 at all",
        cursor_of("o=-1"),
        cursor_of("o=x"),
        cursor_of("r=maybe"),
        cursor_of("p=yesterday"),
        cursor_of("p=2026-11-25 10:00:00"),  # no time zone
        cursor_of("p=2026-13-01 10:00:00+00:00"),
        cursor_of("p=0001-01-01 00:00:00+05:00"),  # before year 1 in UTC
        cursor_of("p=9999-12-31 23:00:00-05:00"),  # after 9999 in UTC
    ],
)
def test_a_cursor_the_server_did_not_make_is_a_400(api_for, alice, many, cursor):
    many(2)

    response = api_for(alice).get(f"/api/conversations/?cursor={cursor}")

    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid cursor: start again from the first page.", "code": "invalid_cursor"}


def test_conversations_active_at_the_same_moment_are_paged_by_id_once_each(api_for, alice, many):
    newest_first = many(9)
    moment = Conversation.objects.get(pk=newest_first[5]).updated_at
    Conversation.objects.filter(pk__in=newest_first[2:8]).update(updated_at=moment)
    by_activity_then_id = newest_first[:2] + sorted(newest_first[2:8], reverse=True) + newest_first[8:]

    pages = walk(api_for(alice), "/api/conversations/?limit=2")

    assert [cid for page in pages for cid in page] == by_activity_then_id


def test_a_conversation_that_moves_to_the_top_between_pages_is_not_repeated(api_for, alice, bob, many):
    """A walk through the pages is a snapshot of where each conversation stood: a conversation that
    becomes active meanwhile moves above the pages already read and is not in the later ones. Clients
    learn of it from the `new_message` and `conversation` frames of /ws/notifications/ (or a fresh first
    page), as the web app does."""
    c5, c4, c3, c2, c1 = many(5)
    api = api_for(alice)
    first = api.get("/api/conversations/?limit=2")
    assert [c["id"] for c in first.json()] == [c5, c4]

    send(alice, Conversation.objects.get(pk=c1), "back from page three")
    send(alice, Conversation.objects.get(pk=c4), "again on page one")

    rest = walk(api, links(first)["next"])
    assert rest == [[c3, c2]]  # c4 is not repeated; c1 moved above the pages already read
    assert [c["id"] for c in api.get("/api/conversations/?limit=2").json()] == [c4, c1]


def test_unread_counts_stay_right_after_reads_from_two_devices(api_for, alice, bob):
    chat = direct_of(alice, bob)
    m1, m2, m3 = (send(bob, chat, f"m{n}") for n in (1, 2, 3))
    phone, laptop = api_for(alice), api_for(alice)

    def mine() -> dict:
        (conversation,) = laptop.get("/api/conversations/").json()
        return {k: conversation[k] for k in ("unread_count", "last_read_message_id")}

    assert mine() == {"unread_count": 3, "last_read_message_id": None}

    read = phone.post(f"/api/conversations/{chat.pk}/read", {"message_id": m2.pk}, format="json").json()
    assert read == {"conversation_id": chat.pk, "last_read_message_id": m2.pk, "unread_count": 1}
    assert mine() == {"unread_count": 1, "last_read_message_id": m2.pk}

    # The laptop had only seen m1: its late read must not move the pointer back.
    late = laptop.post(f"/api/conversations/{chat.pk}/read", {"message_id": m1.pk}, format="json").json()
    assert late == {"conversation_id": chat.pk, "last_read_message_id": m2.pk, "unread_count": 1}

    laptop.post(f"/api/conversations/{chat.pk}/read", {}, format="json")
    (from_phone,) = phone.get("/api/conversations/").json()
    assert from_phone["unread_count"] == 0
    assert from_phone["last_read_message_id"] == m3.pk
    # Bob's own messages never count as unread for him.
    assert api_for(bob).get("/api/conversations/").json()[0]["unread_count"] == 0


# --- detail -------------------------------------------------------------------------------------


def test_detail_is_the_conversation_as_listed(api_for, alice, bob):
    chat = direct_of(alice, bob)
    send(bob, chat)
    api = api_for(alice)

    response = api.get(f"/api/conversations/{chat.pk}/")

    assert response.status_code == 200
    assert response.json() == api.get("/api/conversations/").json()[0]


def test_detail_of_an_unknown_conversation_is_a_404(api_for, alice):
    response = api_for(alice).get("/api/conversations/999999/")

    assert response.status_code == 404
    assert "detail" in response.json()


# --- direct -------------------------------------------------------------------------------------


def test_direct_is_created_once_then_returned(api_for, alice, bob):
    created = api_for(alice).post("/api/conversations/direct/bob")

    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) >= CONVERSATION_FIELDS
    assert body["is_group"] is False
    assert body["title"] == ""
    assert body["other_user"]["username"] == "bob"
    assert roles(body) == {"alice": "member", "bob": "member"}
    assert body["unread_count"] == 0
    assert body["last_message"] is None

    again = api_for(alice).post("/api/conversations/direct/BOB")
    from_bob = api_for(bob).post("/api/conversations/direct/alice")

    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert from_bob.status_code == 200
    assert from_bob.json()["id"] == body["id"]
    assert from_bob.json()["other_user"]["username"] == "alice"
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize("username", ["nobody", "banned"])
def test_direct_with_an_unknown_or_deactivated_user_is_a_404(api_for, alice, make_user, username):
    make_user("banned", is_active=False)

    response = api_for(alice).post(f"/api/conversations/direct/{username}")

    assert response.status_code == 404
    assert "detail" in response.json()
    assert not Conversation.objects.exists()


def test_direct_with_yourself_is_a_400(api_for, alice):
    response = api_for(alice).post("/api/conversations/direct/Alice")

    assert response.status_code == 400
    assert response.json()["code"] == "direct_with_self"
    assert "detail" in response.json()
    assert not Conversation.objects.exists()


def test_direct_needs_credentials(bob):
    assert APIClient().post("/api/conversations/direct/bob").status_code == 401


# --- group create -------------------------------------------------------------------------------


def test_group_create_makes_the_creator_owner_and_the_others_members(api_for, alice, bob, carol):
    response = api_for(alice).post(
        "/api/conversations/", {"title": "  Brew crew ", "usernames": ["bob", "CAROL", "bob", "alice"]}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= CONVERSATION_FIELDS
    assert body["is_group"] is True
    assert body["title"] == "Brew crew"
    assert body["other_user"] is None
    assert roles(body) == {"alice": "owner", "bob": "member", "carol": "member"}
    assert [c["id"] for c in api_for(carol).get("/api/conversations/").json()] == [body["id"]]


def test_group_create_alone_is_allowed(api_for, alice):
    response = api_for(alice).post("/api/conversations/", {"title": "Notes"}, format="json")

    assert response.status_code == 201
    assert roles(response.json()) == {"alice": "owner"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "usernames": ["bob"]}, "title"),
        ({"title": "   ", "usernames": ["bob"]}, "title"),
        ({"usernames": ["bob"]}, "title"),
        ({"title": None, "usernames": ["bob"]}, "title"),
        ({"title": "x" * 121, "usernames": ["bob"]}, "title"),
        ({"title": ["crew"], "usernames": ["bob"]}, "title"),
        ({"title": "crew", "usernames": "bob"}, "usernames"),
        ({"title": "crew", "usernames": [""]}, "usernames"),
        ({"title": "crew", "usernames": [{"name": "bob"}]}, "usernames"),
    ],
)
def test_group_create_with_a_bad_field_is_a_400(api_for, alice, bob, body, field):
    response = api_for(alice).post("/api/conversations/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Conversation.objects.exists()


def test_group_create_lists_the_unknown_usernames(api_for, alice, bob, make_user):
    make_user("banned", is_active=False)

    response = api_for(alice).post(
        "/api/conversations/", {"title": "crew", "usernames": ["bob", "ghost", "banned"]}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "user_not_found"
    (message,) = body["usernames"]
    assert "ghost" in message
    assert "banned" in message
    assert "bob" not in message
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("body", [[], ["crew"], "crew", 42])
def test_group_create_with_a_body_that_is_not_an_object_is_a_400(api_for, alice, body):
    response = api_for(alice).post("/api/conversations/", body, format="json")

    assert response.status_code == 400
    assert isinstance(response.json(), dict)


# --- read ---------------------------------------------------------------------------------------


def test_read_without_a_message_id_reads_up_to_the_latest(api_for, alice, bob):
    chat = direct_of(alice, bob)
    send(bob, chat)
    latest = send(bob, chat)

    response = api_for(alice).post(f"/api/conversations/{chat.pk}/read")

    assert response.status_code == 200
    assert response.json() == {"conversation_id": chat.pk, "last_read_message_id": latest.pk, "unread_count": 0}


def test_read_of_an_empty_conversation_changes_nothing(api_for, alice, bob):
    chat = direct_of(alice, bob)

    response = api_for(alice).post(f"/api/conversations/{chat.pk}/read", {}, format="json")

    assert response.status_code == 200
    assert response.json() == {"conversation_id": chat.pk, "last_read_message_id": None, "unread_count": 0}


def test_read_never_moves_backwards(api_for, alice, bob):
    chat = direct_of(alice, bob)
    first, second, _ = (send(bob, chat) for _ in range(3))
    api = api_for(alice)

    api.post(f"/api/conversations/{chat.pk}/read", {"message_id": second.pk}, format="json")
    response = api.post(f"/api/conversations/{chat.pk}/read", {"message_id": first.pk}, format="json")

    assert response.status_code == 200
    assert response.json() == {"conversation_id": chat.pk, "last_read_message_id": second.pk, "unread_count": 1}
    assert Participant.objects.get(conversation=chat, user=alice).last_read_message_id == second.pk


def test_read_of_a_message_of_another_conversation_is_a_400(api_for, alice, bob, carol):
    chat = direct_of(alice, bob)
    send(bob, chat)
    elsewhere = send(carol, direct_of(alice, carol))

    response = api_for(alice).post(f"/api/conversations/{chat.pk}/read", {"message_id": elsewhere.pk}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "message_not_found"
    assert "message_id" in response.json()
    assert Participant.objects.get(conversation=chat, user=alice).last_read_message_id is None


@pytest.mark.parametrize("message_id", [999999, 0, -1, "abc", 1.5, [1], None, 10**30])
def test_read_of_an_unknown_or_malformed_message_id_is_a_400(api_for, alice, bob, message_id):
    chat = direct_of(alice, bob)
    send(bob, chat)

    response = api_for(alice).post(f"/api/conversations/{chat.pk}/read", {"message_id": message_id}, format="json")

    assert response.status_code == 400
    assert "message_id" in response.json()


# --- rename -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_the_owner_or_an_admin_renames_a_group(api_for, alice, bob, role):
    crew = group_of(alice, bob)
    actor = alice if role == "owner" else bob
    make_admin(crew, bob)

    response = api_for(actor).patch(f"/api/conversations/{crew.pk}/", {"title": " New name "}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "New name"
    assert api_for(alice).get(f"/api/conversations/{crew.pk}/").json()["title"] == "New name"


def test_a_member_cannot_rename_a_group(api_for, alice, bob):
    crew = group_of(alice, bob)

    response = api_for(bob).patch(f"/api/conversations/{crew.pk}/", {"title": "Mine now"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    crew.refresh_from_db()
    assert crew.title == "Brew crew"


def test_a_direct_conversation_cannot_be_renamed(api_for, alice, bob):
    chat = direct_of(alice, bob)

    response = api_for(alice).patch(f"/api/conversations/{chat.pk}/", {"title": "Us"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "not_a_group"


@pytest.mark.parametrize("body", [{}, {"title": ""}, {"title": "  "}, {"title": "x" * 121}, {"title": None}])
def test_rename_to_a_bad_title_is_a_400(api_for, alice, bob, body):
    crew = group_of(alice, bob)

    response = api_for(alice).patch(f"/api/conversations/{crew.pk}/", body, format="json")

    assert response.status_code == 400
    assert "title" in response.json()


# --- add members --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_the_owner_or_an_admin_adds_a_member(api_for, alice, bob, carol, role):
    crew = group_of(alice, bob)
    make_admin(crew, bob)
    actor = alice if role == "owner" else bob

    response = api_for(actor).post(f"/api/conversations/{crew.pk}/members", {"username": "Carol"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["id"] == crew.pk
    assert roles(response.json()) == {"alice": "owner", "bob": "admin", "carol": "member"}


def test_an_added_member_starts_with_the_history_read(api_for, alice, bob, carol):
    crew = group_of(alice, bob)
    send(bob, crew)
    latest = send(alice, crew)

    api_for(alice).post(f"/api/conversations/{crew.pk}/members", {"username": "carol"}, format="json")

    seen_by_carol = api_for(carol).get(f"/api/conversations/{crew.pk}/").json()
    assert seen_by_carol["unread_count"] == 0
    assert seen_by_carol["last_read_message_id"] == latest.pk
    assert [m["id"] for m in api_for(carol).get(f"/api/messages/{crew.pk}").json()][-1] == latest.pk
    send(bob, crew)
    assert api_for(carol).get(f"/api/conversations/{crew.pk}/").json()["unread_count"] == 1


def test_a_member_cannot_add_members(api_for, alice, bob, carol):
    crew = group_of(alice, bob)

    response = api_for(bob).post(f"/api/conversations/{crew.pk}/members", {"username": "carol"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not Participant.objects.filter(conversation=crew, user=carol).exists()


@pytest.mark.parametrize(
    ("username", "code"),
    [("bob", "already_member"), ("alice", "already_member"), ("ghost", "user_not_found"), ("banned", "user_not_found")],
)
def test_adding_a_member_or_an_unknown_user_is_a_400(api_for, alice, bob, make_user, username, code):
    make_user("banned", is_active=False)
    crew = group_of(alice, bob)

    response = api_for(alice).post(f"/api/conversations/{crew.pk}/members", {"username": username}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert "username" in response.json()
    assert Participant.objects.filter(conversation=crew).count() == 2


@pytest.mark.parametrize("body", [{}, {"username": ""}, {"username": None}, {"username": ["carol"]}, ["carol"]])
def test_adding_a_member_with_a_bad_body_is_a_400(api_for, alice, bob, body):
    crew = group_of(alice, bob)

    response = api_for(alice).post(f"/api/conversations/{crew.pk}/members", body, format="json")

    assert response.status_code == 400
    assert isinstance(response.json(), dict)


def test_a_direct_conversation_takes_no_third_member(api_for, alice, bob, carol):
    chat = direct_of(alice, bob)

    response = api_for(alice).post(f"/api/conversations/{chat.pk}/members", {"username": "carol"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "not_a_group"
    assert Participant.objects.filter(conversation=chat).count() == 2


# --- remove members and leave ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_the_owner_or_an_admin_removes_a_member_who_then_loses_access(api_for, alice, bob, carol, role):
    crew = group_of(alice, bob, carol)
    make_admin(crew, bob)
    actor = alice if role == "owner" else bob

    response = api_for(actor).delete(f"/api/conversations/{crew.pk}/members/carol")

    assert response.status_code == 204
    assert api_for(carol).get(f"/api/conversations/{crew.pk}/").status_code == 404
    assert api_for(carol).get("/api/conversations/").json() == []
    assert roles(api_for(alice).get(f"/api/conversations/{crew.pk}/").json()) == {"alice": "owner", "bob": "admin"}


def test_a_member_cannot_remove_another(api_for, alice, bob, carol):
    crew = group_of(alice, bob, carol)

    response = api_for(bob).delete(f"/api/conversations/{crew.pk}/members/carol")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert Participant.objects.filter(conversation=crew, user=carol).exists()


def test_an_admin_cannot_remove_the_owner(api_for, alice, bob):
    crew = group_of(alice, bob)
    make_admin(crew, bob)

    response = api_for(bob).delete(f"/api/conversations/{crew.pk}/members/alice")

    assert response.status_code == 403
    assert Participant.objects.filter(conversation=crew, user=alice, role="owner").exists()


def test_any_member_can_leave(api_for, alice, bob, carol):
    crew = group_of(alice, bob, carol)

    response = api_for(carol).delete(f"/api/conversations/{crew.pk}/members/Carol")

    assert response.status_code == 204
    assert api_for(carol).get(f"/api/conversations/{crew.pk}/").status_code == 404
    assert roles(api_for(alice).get(f"/api/conversations/{crew.pk}/").json()) == {"alice": "owner", "bob": "member"}


def test_an_owner_who_leaves_hands_the_group_to_the_oldest_admin(api_for, alice, bob, carol, make_user):
    crew = group_of(alice, bob)
    for user in (carol, make_user("dave")):
        services.conversation_add_member(
            actor=Participant.objects.get(conversation=crew, user=alice), username=user.username
        )
    make_admin(crew, carol)

    assert api_for(alice).delete(f"/api/conversations/{crew.pk}/members/alice").status_code == 204

    assert roles(api_for(bob).get(f"/api/conversations/{crew.pk}/").json()) == {
        "bob": "member",
        "carol": "owner",
        "dave": "member",
    }


def test_an_owner_who_leaves_a_group_without_admins_hands_it_to_the_oldest_member(api_for, alice, bob, carol):
    crew = group_of(alice, bob)
    add_member(crew, alice, carol)

    api_for(alice).delete(f"/api/conversations/{crew.pk}/members/alice")

    assert roles(api_for(bob).get(f"/api/conversations/{crew.pk}/").json()) == {"bob": "owner", "carol": "member"}


@pytest.mark.parametrize("target", ["alice", "bob"])
def test_nobody_leaves_or_is_removed_from_a_direct_conversation(api_for, alice, bob, target):
    chat = direct_of(alice, bob)

    response = api_for(alice).delete(f"/api/conversations/{chat.pk}/members/{target}")

    assert response.status_code == 400
    assert response.json()["code"] == "not_a_group"
    assert Participant.objects.filter(conversation=chat).count() == 2


@pytest.mark.parametrize("username", ["carol", "ghost"])
def test_removing_someone_who_is_not_a_member_is_a_400(api_for, alice, bob, carol, username):
    crew = group_of(alice, bob)

    response = api_for(alice).delete(f"/api/conversations/{crew.pk}/members/{username}")

    assert response.status_code == 400
    assert response.json()["code"] == "not_a_member"


# --- outsiders ----------------------------------------------------------------------------------

CALLS_NAMING_A_CONVERSATION = [
    ("get", "/api/conversations/{id}/", None),
    ("patch", "/api/conversations/{id}/", {"title": "Taken over"}),
    ("post", "/api/conversations/{id}/read", {}),
    ("post", "/api/conversations/{id}/read", {"message_id": "{message_id}"}),
    ("post", "/api/conversations/{id}/members", {"username": "outsider"}),
    ("delete", "/api/conversations/{id}/members/bob", None),
    ("delete", "/api/conversations/{id}/members/outsider", None),
    ("get", "/api/messages/{id}", None),
    ("get", "/api/messages/{id}?after=0&limit=5", None),
    ("post", "/api/messages", {"conversation_id": "{id}", "content": "let me in"}),
    ("post", "/api/messages", {"conversation_id": "{id}", "content": "let me in", "client_id": "c1"}),
]


def _fill(template, conversation_id: int, message_id: int):
    if isinstance(template, dict):
        return {key: _fill(value, conversation_id, message_id) for key, value in template.items()}
    if template == "{id}":
        return conversation_id
    if template == "{message_id}":
        return message_id
    return template


@pytest.mark.parametrize("kind", ["group", "direct"])
@pytest.mark.parametrize(("method", "path", "body"), CALLS_NAMING_A_CONVERSATION)
def test_an_outsider_gets_the_same_404_as_for_a_conversation_that_does_not_exist(
    api_for, alice, bob, make_user, kind, method, path, body
):
    conversation = group_of(alice, bob) if kind == "group" else direct_of(alice, bob)
    message = send(bob, conversation, "secret")
    outsider = api_for(make_user("outsider"))
    missing = Conversation.objects.order_by("-pk").first().pk + 1000

    def call(conversation_id: int):
        url = path.format(id=conversation_id)
        return getattr(outsider, method)(url, _fill(body, conversation_id, message.pk), format="json")

    response, control = call(conversation.pk), call(missing)

    assert response.status_code == 404, response.content
    assert response.json() == control.json()
    assert "secret" not in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.title == ("Brew crew" if kind == "group" else "")
    assert list(Message.objects.values_list("content", flat=True)) == ["secret"]
    assert sorted(Participant.objects.filter(conversation=conversation).values_list("user__username", flat=True)) == [
        "alice",
        "bob",
    ]


def test_a_removed_member_gets_404_for_reading_and_writing(api_for, alice, bob, carol):
    crew = group_of(alice, bob, carol)
    api_for(alice).delete(f"/api/conversations/{crew.pk}/members/carol")
    api = api_for(carol)

    assert api.get(f"/api/messages/{crew.pk}").status_code == 404
    assert api.post("/api/messages", {"conversation_id": crew.pk, "content": "hi"}, format="json").status_code == 404
    assert api.post(f"/api/conversations/{crew.pk}/read", {}, format="json").status_code == 404


# --- session and CSRF ---------------------------------------------------------------------------


def test_a_session_caller_needs_the_csrf_token_on_unsafe_methods(alice, bob):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(alice)

    assert browser.get("/api/conversations/").status_code == 200
    refused = browser.post("/api/conversations/direct/bob")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not Conversation.objects.exists()

    browser.cookies["csrftoken"] = "a" * 32
    accepted = browser.post("/api/conversations/direct/bob", HTTP_X_CSRFTOKEN="a" * 32)
    assert accepted.status_code == 201


def test_creating_a_group_twice_with_one_client_id_returns_the_first(api_for, alice, bob, carol):
    api = api_for(alice)
    body = {"title": "Brew crew", "usernames": ["bob"], "client_id": "group-1"}

    first = api.post("/api/conversations/", body, format="json")
    retry = api.post("/api/conversations", {**body, "title": "Other", "usernames": ["carol"]}, format="json")

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json()
    assert Conversation.objects.filter(is_group=True).count() == 1


def test_a_group_client_id_binds_one_creator(api_for, alice, bob):
    body = {"title": "Brew crew", "client_id": "group-1"}

    answers = [api_for(user).post("/api/conversations/", body, format="json") for user in (alice, bob)]
    without = [api_for(alice).post("/api/conversations/", {"title": "No id"}, format="json") for _ in range(2)]

    assert [a.status_code for a in answers + without] == [201] * 4
    assert Conversation.objects.filter(is_group=True).count() == 4


def test_the_database_keeps_one_group_per_creator_and_client_id(alice):
    """Two racing creations both pass the lookup; the unique constraint refuses the second insert,
    and the retry path returns the first group."""
    first = services.conversation_create_group(creator=alice, title="A", usernames=[], client_id="race")

    with pytest.raises(IntegrityError), transaction.atomic():
        services.conversation_create_group(creator=alice, title="B", usernames=[], client_id="race")
    assert services.conversation_get_or_create_group(creator=alice, title="B", usernames=[], client_id="race") == (
        first,
        False,
    )
