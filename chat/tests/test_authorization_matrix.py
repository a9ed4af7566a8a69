"""Who may not: every REST endpoint and both sockets, against every caller who must be refused
(docs/api.md, docs/realtime.md, docs/security.md).

- anonymous: `401` with `WWW-Authenticate`, and sockets refused at the handshake;
- a banned user, with the tokens they held before the ban: the same as anonymous;
- a non-participant, and a member removed from the group, with valid tokens: `404` for anything about
  the conversation, exactly the answer for a conversation that does not exist, and the chat socket
  refused. Their notification socket is their own, but it hears nothing of the conversation.

Every refused call leaves the conversation as it was.
"""

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from chat import moderation, selectors, services
from chat.models import Conversation, Message, Participant, Report
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import assert_silent
from conftest import PASSWORD

sockets = socket_fixtures.sockets
fast_passwords = socket_fixtures.fast_passwords

MISSING = 10**9
# (method, path, body) for everything about one conversation: {c} is the conversation, {m} a message in it.
CONVERSATION_ENDPOINTS = [
    ("get", "/api/conversations/{c}/", None),
    ("patch", "/api/conversations/{c}/", {"title": "taken over"}),
    ("post", "/api/conversations/{c}/read", {}),
    ("post", "/api/conversations/{c}/members", {"username": "zed"}),
    ("delete", "/api/conversations/{c}/members/bob", None),
    ("get", "/api/messages/{c}", None),
    ("get", "/api/messages/{c}?after=0&limit=200", None),
    ("post", "/api/messages", {"conversation_id": "{c}", "content": "let me in", "client_id": "x-1"}),
    ("patch", "/api/messages/{c}/{m}", {"content": "rewritten"}),
    ("delete", "/api/messages/{c}/{m}", None),
    ("post", "/api/messages/{c}/{m}/report", {"reason": "spam"}),
]
# Everything else that needs a signed-in caller.
ACCOUNT_ENDPOINTS = [
    ("get", "/api/conversations/", None),
    ("post", "/api/conversations/", {"title": "mine", "usernames": ["alice"]}),
    ("post", "/api/conversations/direct/alice", None),
    ("get", "/api/auth/me", None),
    ("patch", "/api/auth/me", {"display_name": "someone else"}),
    ("post", "/api/auth/password", {"old_password": "x", "new_password": "a-new-long-passphrase"}),
    ("get", "/api/users/presence", None),
    ("get", "/api/users/blocked", None),
    ("post", "/api/users/alice/block", None),
    ("delete", "/api/users/alice/block", None),
]
SIGNED_OUT = ["anonymous", "banned"]
OUTSIDERS = ["non_participant", "removed"]


@pytest.fixture
def world(make_user):
    """A group (alice owns it; bob, carol and mallory are in it; dave was removed) and a direct
    conversation of alice and bob. Tokens are taken before the ban and the removal."""
    alice, bob, _carol = make_user("alice"), make_user("bob"), make_user("carol")
    dave, mallory, eve = make_user("dave"), make_user("mallory"), make_user("eve")
    make_user("zed")
    moderator = make_user("mod", is_staff=True, is_superuser=True)
    group = services.conversation_create_group(
        creator=alice, title="Brew crew", usernames=["bob", "carol", "dave", "mallory"]
    )
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    services.message_send(sender=alice, conversation=group, content="welcome")[0]
    # The removed member's and the banned user's own messages: still not theirs to edit, delete or report.
    by_dave = services.message_send(sender=dave, conversation=group, content="dave was here")[0]
    by_mallory = services.message_send(sender=mallory, conversation=group, content="buy my beans")[0]
    in_direct = services.message_send(sender=bob, conversation=direct, content="just us")[0]
    tokens = {
        "non_participant": token_pair_for(eve),
        "removed": token_pair_for(dave),
        "banned": token_pair_for(mallory),
    }
    services.conversation_remove_member(actor=selectors.participant_get(alice, group.pk), username="dave")
    moderation.user_ban(moderator=moderator, user=mallory, reason="spam")
    return {
        "group": (group.pk, {"removed": by_dave.pk, "banned": by_mallory.pk}),
        "direct": (direct.pk, {}),
        "direct_message": in_direct.pk,
        "tokens": tokens,
        "users": {"owner": alice, "non_participant": eve, "removed": dave, "banned": mallory},
    }


def client_for(world: dict, caller: str) -> APIClient:
    client = APIClient()
    if caller != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world['tokens'][caller]['access']}")
    return client


def call(client: APIClient, method: str, path: str, body: dict | None, conversation_id: int, message_id: int):
    def fill(value):
        if isinstance(value, str):
            filled = value.format(c=conversation_id, m=message_id)
            return int(filled) if value == "{c}" else filled
        return value

    data = None if body is None else {key: fill(value) for key, value in body.items()}
    return getattr(client, method)(fill(path), data, format="json")


def snapshot(conversation_id: int) -> dict:
    conversation = Conversation.objects.get(pk=conversation_id)
    return {
        "title": conversation.title,
        "last_seq": conversation.last_seq,
        "members": sorted(Participant.objects.filter(conversation=conversation).values_list("user__username", "role")),
        "messages": list(
            Message.objects.filter(conversation=conversation).order_by("pk").values_list("content", "deleted_at")
        ),
        "reports": Report.objects.filter(message__conversation=conversation).count(),
        "pointers": sorted(
            Participant.objects.filter(conversation=conversation).values_list("user_id", "last_read_message_id")
        ),
    }


def message_for(world: dict, kind: str, caller: str) -> int:
    _, own = world[kind]
    if caller in own:
        return own[caller]
    return world["direct_message"] if kind == "direct" else own["removed"]


def assert_unauthenticated(response) -> None:
    assert response.status_code == 401, (response.status_code, response.content)
    assert set(response.json()) <= {"detail", "code"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- REST ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("caller", SIGNED_OUT)
@pytest.mark.parametrize(("method", "path", "body"), CONVERSATION_ENDPOINTS + ACCOUNT_ENDPOINTS)
def test_a_caller_without_valid_credentials_gets_401_everywhere(world, caller, method, path, body):
    conversation_id, _ = world["group"]
    before = snapshot(conversation_id)

    response = call(client_for(world, caller), method, path, body, conversation_id, message_for(world, "group", caller))

    assert_unauthenticated(response)
    assert snapshot(conversation_id) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "caller"), [("group", "non_participant"), ("group", "removed"), ("direct", "non_participant")]
)
@pytest.mark.parametrize(("method", "path", "body"), CONVERSATION_ENDPOINTS)
def test_an_outsider_gets_the_404_of_a_conversation_that_does_not_exist(world, kind, caller, method, path, body):
    conversation_id, _ = world[kind]
    message_id = message_for(world, kind, caller)
    client = client_for(world, caller)
    before = snapshot(conversation_id)

    response = call(client, method, path, body, conversation_id, message_id)
    nowhere = call(client, method, path, body, MISSING, message_id)

    assert response.status_code == 404, (response.status_code, response.content)
    assert response.json() == nowhere.json() == {"detail": "Conversation not found.", "code": "not_found"}
    assert nowhere.status_code == 404
    assert snapshot(conversation_id) == before


@pytest.mark.django_db
@pytest.mark.parametrize("caller", OUTSIDERS)
def test_an_outsider_does_not_see_the_conversation_or_its_members(world, caller):
    client = client_for(world, caller)
    group_id, _ = world["group"]

    listed = client.get("/api/conversations/").json()
    contacts = {row["user"]["username"] for row in client.get("/api/users/presence").json()}

    assert group_id not in {conversation["id"] for conversation in listed}
    assert contacts.isdisjoint({"alice", "bob", "carol"})


@pytest.mark.django_db
def test_a_banned_user_can_neither_log_in_nor_refresh(world):
    tokens = world["tokens"]["banned"]

    login = APIClient().post("/api/auth/login", {"username": "mallory", "password": PASSWORD}, format="json")
    refresh = APIClient().post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")

    assert_unauthenticated(login)
    assert_unauthenticated(refresh)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/nothing-here", "/api/conversations/abc/", "/api/messages/1/2/3/4"])
def test_an_unknown_api_url_answers_the_json_404(api_for, alice, path):
    response = api_for(alice).get(path)

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.django_db
def test_an_unknown_page_keeps_the_html_404(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- Sockets ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "caller"),
    [
        ("group", "anonymous"),
        ("group", "banned"),
        ("group", "non_participant"),
        ("group", "removed"),
        ("direct", "anonymous"),
        ("direct", "non_participant"),
    ],
)
async def test_the_chat_socket_is_refused_at_the_handshake(sockets, world, kind, caller):
    conversation_id, _ = world[kind]
    token = None if caller == "anonymous" else world["tokens"][caller]["access"]

    await sockets.refused(f"/ws/chat/{conversation_id}/", token=token)
    await sockets.refused(f"/ws/chat/{MISSING}/", token=token)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("caller", SIGNED_OUT)
async def test_the_notification_socket_is_refused_without_valid_credentials(sockets, world, caller):
    token = None if caller == "anonymous" else world["tokens"][caller]["access"]

    await sockets.refused("/ws/notifications/", token=token)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("caller", OUTSIDERS)
async def test_an_outsiders_notification_socket_hears_nothing_of_the_conversation(sockets, world, caller):
    alice = world["users"]["owner"]
    outsider = await sockets.notifications(world["users"][caller])
    group_id, _ = world["group"]
    group = await Conversation.objects.aget(pk=group_id)

    await database_sync_to_async(services.message_send)(sender=alice, conversation=group, content="members only")
    await database_sync_to_async(services.conversation_rename)(
        actor=await database_sync_to_async(selectors.participant_get)(alice, group_id), title="Still secret"
    )

    await assert_silent(outsider)
