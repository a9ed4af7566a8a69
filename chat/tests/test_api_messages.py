"""The messages API: history pages and posting, with client_id idempotency and bad input."""

import pytest
from rest_framework.test import APIClient

from chat import services
from chat.models import Conversation, Message, Participant
from chat.ratelimit import MessagePostThrottle

pytestmark = pytest.mark.django_db

MESSAGE_FIELDS = {"id", "conversation_id", "seq", "sender", "content", "created_at", "client_id"}


@pytest.fixture
def chat(alice, bob) -> Conversation:
    return services.conversation_get_or_create_direct(user=alice, other=bob)[0]


def fill(conversation: Conversation, sender, count: int) -> list[Message]:
    messages = []
    for n in range(count):
        conversation.refresh_from_db()
        messages.append(services.message_send(sender=sender, conversation=conversation, content=f"m{n + 1}")[0])
    return messages


def post(api: APIClient, conversation_id, content="hello", **extra):
    return api.post("/api/messages", {"conversation_id": conversation_id, "content": content, **extra}, format="json")


def ids(response) -> list[int]:
    return [m["id"] for m in response.json()]


# --- history ------------------------------------------------------------------------------------


def test_history_of_a_new_conversation_is_empty(api_for, alice, chat):
    response = api_for(alice).get(f"/api/messages/{chat.pk}")

    assert response.status_code == 200
    assert response.json() == []


def test_history_returns_messages_in_ascending_order_with_their_full_shape(api_for, alice, bob, chat):
    services.message_send(sender=alice, conversation=chat, content="hi", client_id="c-1")
    chat.refresh_from_db()
    services.message_send(sender=bob, conversation=chat, content="<b>hey</b> & you")

    body = api_for(alice).get(f"/api/messages/{chat.pk}").json()

    assert [m["seq"] for m in body] == [1, 2]
    first, second = body
    assert set(first) >= MESSAGE_FIELDS
    assert first["conversation_id"] == chat.pk
    assert first["sender"] == {"id": alice.pk, "username": "alice", "display_name": "alice"}
    assert first["client_id"] == "c-1"
    assert first["created_at"].endswith("Z")
    assert second["content"] == "<b>hey</b> & you"
    assert second["client_id"] is None


def test_history_defaults_to_the_newest_50(api_for, alice, chat):
    messages = fill(chat, alice, 55)

    assert ids(api_for(alice).get(f"/api/messages/{chat.pk}")) == [m.pk for m in messages[5:]]


def test_history_limit_before_and_after_page_through(api_for, alice, chat):
    messages = fill(chat, alice, 10)
    api = api_for(alice)
    pk = [m.pk for m in messages]

    assert ids(api.get(f"/api/messages/{chat.pk}?limit=3")) == pk[7:]
    assert ids(api.get(f"/api/messages/{chat.pk}?limit=3&before={pk[7]}")) == pk[4:7]
    assert ids(api.get(f"/api/messages/{chat.pk}?before={pk[2]}")) == pk[:2]
    assert ids(api.get(f"/api/messages/{chat.pk}?limit=3&after={pk[2]}")) == pk[3:6]
    assert ids(api.get(f"/api/messages/{chat.pk}?after=0&limit=2")) == pk[:2]
    assert ids(api.get(f"/api/messages/{chat.pk}?after={pk[-1]}")) == []
    assert ids(api.get(f"/api/messages/{chat.pk}?limit=200")) == pk


def test_history_pages_stay_inside_their_conversation(api_for, alice, bob, carol, chat):
    other = services.conversation_get_or_create_direct(user=alice, other=carol)[0]
    mine = fill(chat, bob, 2)
    fill(other, carol, 2)

    assert ids(api_for(alice).get(f"/api/messages/{chat.pk}?after=0")) == [m.pk for m in mine]


@pytest.mark.parametrize(
    "query",
    [
        "limit=-1",
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=1.5",
        "before=abc",
        "before=0",
        "after=-1",
        "after=x",
        "before=5&after=1",
    ],
)
def test_history_with_bad_parameters_is_a_400(api_for, alice, chat, query):
    response = api_for(alice).get(f"/api/messages/{chat.pk}?{query}")

    assert response.status_code == 400
    assert isinstance(response.json(), dict)


def test_history_with_ids_beyond_any_message_is_empty_not_an_error(api_for, alice, chat):
    fill(chat, alice, 2)
    api = api_for(alice)

    assert api.get(f"/api/messages/{chat.pk}?after={10**30}").json() == []
    assert len(api.get(f"/api/messages/{chat.pk}?before={10**30}").json()) == 2


def test_history_of_an_unknown_conversation_is_a_404(api_for, alice):
    for conversation_id in (999999, 10**30):
        response = api_for(alice).get(f"/api/messages/{conversation_id}")

        assert response.status_code == 404
        assert response.json()["detail"]


def test_history_needs_credentials(chat):
    assert APIClient().get(f"/api/messages/{chat.pk}").status_code == 401


# --- post ---------------------------------------------------------------------------------------


def test_post_saves_and_returns_the_message(api_for, alice, chat):
    response = post(api_for(alice), chat.pk, "  Hello, Bob!\n")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= MESSAGE_FIELDS
    assert body["content"] == "Hello, Bob!"
    assert body["seq"] == 1
    assert body["conversation_id"] == chat.pk
    assert body["sender"]["username"] == "alice"
    assert body["client_id"] is None
    assert Message.objects.get(pk=body["id"]).content == "Hello, Bob!"


def test_post_numbers_messages_1_2_3_across_senders(api_for, alice, bob, chat):
    seqs = [post(api_for(sender), chat.pk).json()["seq"] for sender in (alice, bob, alice)]

    assert seqs == [1, 2, 3]


def test_post_moves_the_conversation_up_and_counts_as_read_for_the_sender_only(api_for, alice, bob, carol, chat):
    other = services.conversation_get_or_create_direct(user=alice, other=carol)[0]
    before = api_for(alice).get(f"/api/conversations/{chat.pk}/").json()["updated_at"]
    assert [c["id"] for c in api_for(alice).get("/api/conversations/").json()] == [other.pk, chat.pk]

    sent = post(api_for(bob), chat.pk, "fresh").json()

    listing = api_for(alice).get("/api/conversations/").json()
    assert [c["id"] for c in listing] == [chat.pk, other.pk]
    assert listing[0]["updated_at"] > before
    assert listing[0]["unread_count"] == 1
    assert listing[0]["last_message"]["id"] == sent["id"]
    mine = api_for(bob).get(f"/api/conversations/{chat.pk}/").json()
    assert mine["unread_count"] == 0
    assert mine["last_read_message_id"] == sent["id"]


def test_a_retried_client_id_returns_the_first_message_and_never_duplicates(api_for, alice, chat):
    api = api_for(alice)

    first = post(api, chat.pk, "once", client_id="7f1c")
    retry = post(api, chat.pk, "once", client_id="7f1c")

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert first.json()["client_id"] == "7f1c"
    assert Message.objects.count() == 1
    chat.refresh_from_db()
    assert chat.last_seq == 1
    assert post(api, chat.pk, "twice", client_id="8a2d").json()["seq"] == 2


def test_a_client_id_binds_one_sender_in_one_conversation(api_for, alice, bob, carol, chat):
    other = services.conversation_get_or_create_direct(user=alice, other=carol)[0]

    answers = [
        post(api_for(alice), chat.pk, client_id="same"),
        post(api_for(bob), chat.pk, client_id="same"),
        post(api_for(alice), other.pk, client_id="same"),
    ]

    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["id"] for a in answers}) == 3


@pytest.mark.parametrize("client_id", [None, ""])
def test_posts_without_a_client_id_are_all_kept(api_for, alice, chat, client_id):
    api = api_for(alice)

    answers = [post(api, chat.pk, "same words", client_id=client_id) for _ in range(2)]

    assert [a.status_code for a in answers] == [201, 201]
    assert [a.json()["client_id"] for a in answers] == [None, None]
    assert Message.objects.count() == 2


def test_content_of_4096_characters_is_accepted_after_trimming(api_for, alice, chat):
    response = post(api_for(alice), chat.pk, "  " + "é" * 4096 + "\n\t")

    assert response.status_code == 201
    assert len(response.json()["content"]) == 4096


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("x" * 4097, "content_too_long"),
        ("", "content_empty"),
        ("   \n\t  ", "content_empty"),
        ("\u3000", "content_empty"),
    ],
)
def test_content_too_long_or_blank_is_a_400_with_its_code(api_for, alice, chat, content, code):
    response = post(api_for(alice), chat.pk, content)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["content"]
    assert not Message.objects.exists()
    chat.refresh_from_db()
    assert chat.last_seq == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "hi"}, "conversation_id"),
        ({"conversation_id": "{id}"}, "content"),
        ({"conversation_id": "abc", "content": "hi"}, "conversation_id"),
        ({"conversation_id": None, "content": "hi"}, "conversation_id"),
        ({"conversation_id": 0, "content": "hi"}, "conversation_id"),
        ({"conversation_id": -4, "content": "hi"}, "conversation_id"),
        ({"conversation_id": 1.5, "content": "hi"}, "conversation_id"),
        ({"conversation_id": ["{id}"], "content": "hi"}, "conversation_id"),
        ({"conversation_id": "{id}", "content": None}, "content"),
        ({"conversation_id": "{id}", "content": ["hi"]}, "content"),
        ({"conversation_id": "{id}", "content": {"text": "hi"}}, "content"),
        ({"conversation_id": "{id}", "content": True}, "content"),
        ({"conversation_id": "{id}", "content": "x" * 20000}, "content"),
        ({"conversation_id": "{id}", "content": "hi", "client_id": "c" * 65}, "client_id"),
        ({"conversation_id": "{id}", "content": "hi", "client_id": ["c1"]}, "client_id"),
    ],
)
def test_post_with_missing_or_mistyped_fields_is_a_400_naming_the_field(api_for, alice, chat, body, field):
    body = {key: chat.pk if value == "{id}" else value for key, value in body.items()}
    body = {key: [chat.pk] if value == ["{id}"] else value for key, value in body.items()}

    response = api_for(alice).post("/api/messages", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Message.objects.exists()


@pytest.mark.parametrize("conversation_id", [999999, 10**30])
def test_post_to_an_unknown_conversation_is_a_404(api_for, alice, conversation_id):
    response = post(api_for(alice), conversation_id)

    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"conversation_id": 1, "content": ', "application/json"),
        ("{'conversation_id': 1}", "application/json"),
        ("", "application/json"),
        ("null", "application/json"),
        ("[]", "application/json"),
        ('[{"conversation_id": 1, "content": "hi"}]', "application/json"),
        ('"hi"', "application/json"),
        ("17", "application/json"),
        ("conversation_id=1&content=hi", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_post_with_a_body_that_is_not_a_json_object_is_a_4xx_with_a_json_body(api_for, alice, chat, body, content_type):
    response = api_for(alice).generic("POST", "/api/messages", body, content_type=content_type)

    assert 400 <= response.status_code < 500
    assert isinstance(response.json(), dict)
    assert not Message.objects.exists()


def test_post_needs_credentials(chat):
    response = post(APIClient(), chat.pk)

    assert response.status_code == 401
    assert not Message.objects.exists()


def test_posting_too_fast_is_a_429_with_retry_after(api_for, alice, bob, chat, monkeypatch):
    monkeypatch.setattr(MessagePostThrottle, "rate", "3/min", raising=False)
    api = api_for(alice)
    for _ in range(3):
        assert post(api, chat.pk).status_code == 201

    response = post(api, chat.pk)

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "detail" in response.json()
    assert Message.objects.count() == 3
    # The budget is per sender.
    assert post(api_for(bob), chat.pk).status_code == 201


def test_the_senders_read_pointer_follows_their_own_posts(api_for, alice, bob, chat):
    post(api_for(bob), chat.pk, "one")
    mine = post(api_for(alice), chat.pk, "two").json()

    participant = Participant.objects.get(conversation=chat, user=alice)
    assert participant.last_read_message_id == mine["id"]
    assert participant.last_delivered_message_id == mine["id"]


@pytest.mark.parametrize("client_id", [5, 5.5, True, ["a"], {"a": 1}, "x" * 65])
def test_a_client_id_that_is_not_a_short_string_is_a_400_as_on_the_socket(api_for, alice, chat, client_id):
    response = post(api_for(alice), chat.pk, client_id=client_id)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    # The socket's wording (chat/consumers.py), for the same rule.
    assert response.json()["client_id"] == ["'client_id' must be a string of at most 64 characters."]
    assert not Message.objects.exists()
