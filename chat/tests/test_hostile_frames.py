"""Hostile frames on both sockets, made by Hypothesis (docs/security.md).

Whatever a client sends (any JSON value, every field of the wrong type, text a database cannot store,
nesting deeper than Python's parser goes, raw bytes, frames over the size limit), it gets the answer
docs/realtime.md documents, computed here independently of the consumer, and its socket stays open:
the valid frame that follows each hostile one still works. One socket serves every example.
"""

import json
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chat import consumers, services
from chat.models import Message
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import receive

pytestmark = pytest.mark.django_db(transaction=True)

sockets = socket_fixtures.sockets
fast_passwords = socket_fixtures.fast_passwords

EXAMPLES = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAX_LENGTH = 4096
CHAT_TYPES = ["message", "typing", "read", "delivered"]

# Text as hostile as JSON can carry: anything printable or not, NUL, and halves of surrogate pairs.
CHARACTERS = st.characters() | st.just("\x00") | st.characters(categories=["Cs"])
TEXT = st.text(CHARACTERS, max_size=40) | st.sampled_from(
    ["", "   ", "\n\t ", "\x00", "a\x00b", "\ud800", "ok\udfff", "x" * MAX_LENGTH, "x" * (MAX_LENGTH + 1), " " * 9000]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
# Stands for the id of a message of the conversation (or of another one), filled in by the test.
OWN_MESSAGE, OTHER_MESSAGE = object(), object()
MESSAGE_IDS = st.integers() | st.integers(min_value=-2, max_value=3) | st.sampled_from([OWN_MESSAGE, OTHER_MESSAGE])
FIELDS = {"content": TEXT | JSON, "client_id": TEXT | JSON, "is_typing": JSON, "message_id": MESSAGE_IDS | JSON}
# A frame of a known type with each field missing, right or wrong.
TYPED_FRAMES = st.fixed_dictionaries(
    {"type": st.sampled_from(CHAT_TYPES) | JSON},
    optional={name: values for name, values in FIELDS.items()},
)
# And the frames a well-behaved client sends, so that the hostile ones are mixed with real work.
VALID_FRAMES = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("message"), "content": st.text(min_size=1, max_size=80)},
        optional={"client_id": st.none() | st.text(max_size=64)},
    ),
    st.fixed_dictionaries({"type": st.just("typing"), "is_typing": st.booleans()}),
    st.fixed_dictionaries({"type": st.just("read")}, optional={"message_id": st.just(OWN_MESSAGE)}),
    st.fixed_dictionaries({"type": st.just("delivered"), "message_id": st.just(OWN_MESSAGE)}),
)
# Messages whose text is the hostile part.
TEXT_MESSAGES = st.fixed_dictionaries(
    {"type": st.just("message"), "content": TEXT},
    optional={"client_id": st.none() | TEXT.filter(lambda t: len(t) <= 64)},
)
FRAMES = st.one_of(
    VALID_FRAMES.map(lambda frame: ("json", frame)),
    TEXT_MESSAGES.map(lambda frame: ("json", frame)),
    TYPED_FRAMES.map(lambda frame: ("json", frame)),
    JSON.map(lambda value: ("json", value)),
    st.text(max_size=60).map(lambda text: ("text", text)),
    st.binary(max_size=60).map(lambda data: ("bytes", data)),
    st.integers(min_value=1000, max_value=20_000).map(lambda depth: ("text", "[" * depth + "]" * depth)),
)

# Stands for the id of the conversation, filled in by the test.
THIS_CONVERSATION = object()
# The one frame a notification socket takes, with each field missing, right or wrong.
DELIVERED_FRAMES = st.fixed_dictionaries(
    {"type": st.just("delivered")},
    optional={
        "conversation_id": st.integers(min_value=-2, max_value=3) | st.just(THIS_CONVERSATION) | JSON,
        "message_id": MESSAGE_IDS | JSON,
    },
)
NOTIFICATION_FRAMES = FRAMES | DELIVERED_FRAMES.map(lambda frame: ("json", frame))


def storable(text: str) -> bool:
    return "\x00" not in text and text == text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def chat_answer(frame, own_ids: set[int], used_client_ids: dict) -> tuple[str, object]:
    """What docs/realtime.md says a chat socket answers: ("error", code), ("message", expected content),
    ("ack", the first message's content) for a retry, or ("quiet", None)."""
    if not isinstance(frame, dict):
        return "error", "bad_frame"
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in CHAT_TYPES:
        return "error", "unknown_type"
    if kind == "message":
        content, client_id = frame.get("content"), frame.get("client_id")
        if not isinstance(content, str):
            return "error", "bad_frame"
        if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
            return "error", "bad_frame"
        if not storable(content) or (client_id is not None and not storable(client_id)):
            return "error", "bad_frame"
        if not content.strip():
            return "error", "content_empty"
        if len(content.strip()) > MAX_LENGTH:
            return "error", "content_too_long"
        # A client_id used before is answered with an ack naming the first message, and no message frame.
        if client_id and client_id in used_client_ids:
            return "ack", used_client_ids[client_id]
        return "message", content.strip()
    if kind == "typing":
        return ("quiet", None) if isinstance(frame.get("is_typing"), bool) else ("error", "bad_frame")
    message_id = frame.get("message_id")
    if message_id is None and kind == "read":
        return "quiet", None
    if not positive_int(message_id):
        return "error", "bad_frame"
    return ("quiet", None) if message_id in own_ids else ("error", "message_not_found")


def notification_answer(frame, conversation_id: int, message_ids: set[int]) -> str | None:
    """The error code docs/realtime.md says a notification socket answers, or None: a `delivered`
    frame it takes, quietly (the receipt goes to the conversation's chat sockets)."""
    if not isinstance(frame, dict):
        return "bad_frame"
    if frame.get("type") != "delivered":
        return "unknown_type"
    if not positive_int(frame.get("conversation_id")) or not positive_int(frame.get("message_id")):
        return "bad_frame"
    if frame["conversation_id"] != conversation_id:
        return "not_found"  # alice is in no other conversation
    return None if frame["message_id"] in message_ids else "message_not_found"


def encode(form: str, value, ids: dict) -> tuple[str | None, bytes | None, object]:
    """The frame as sent (text or bytes), and the value the server will parse from it."""
    if form == "bytes":
        return None, value, _parsed(value)
    if form == "text":
        return value, None, _parsed(value)
    if isinstance(value, dict) and value.get("message_id") in (OWN_MESSAGE, OTHER_MESSAGE):
        value = {**value, "message_id": ids[value["message_id"]]}
    text = json.dumps(value)
    return text, None, json.loads(text)


def _parsed(raw: str | bytes):
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


async def send(communicator, text: str | None, data: bytes | None) -> None:
    # Whatever an earlier, failed example left unread would be taken for this one's answer.
    while not await communicator.receive_nothing(timeout=0.01):
        await communicator.receive_output()
    # Straight to the application: `send_to` refuses the empty frames a real client can send.
    if text is not None:
        await communicator.send_input({"type": "websocket.receive", "text": text})
    else:
        await communicator.send_input({"type": "websocket.receive", "bytes": data})


async def frames_until_probe(communicator, probe: str) -> tuple[list[dict], dict]:
    """Sends a valid message; returns the frames before its ack (but its own message frame, which
    must come before the ack), and the message the ack names."""
    await communicator.send_json_to({"type": "message", "content": probe, "client_id": probe})
    before = []
    while True:
        frame = await receive(communicator)
        if frame["type"] == "ack" and frame["client_id"] == probe:
            own = {"type": "message", "message": frame["message"]}
            assert own in before, (frame, before)
            return [f for f in before if f != own], frame["message"]
        before.append(frame)


@pytest.fixture
def no_frame_limit(settings):
    """Every frame counts against the socket's rate limit; the examples send hundreds."""
    settings.SOCKET_FRAME_BURST = 1e9


@pytest.fixture
def chat_state(direct, alice, bob, carol):
    own = services.message_send(sender=bob, conversation=direct, content="hello")[0]
    group = services.conversation_create_group(creator=carol, title="Elsewhere", usernames=["alice"])
    other = services.message_send(sender=carol, conversation=group, content="elsewhere")[0]
    return SimpleNamespace(
        ids={OWN_MESSAGE: own.pk, OTHER_MESSAGE: other.pk}, own_ids={own.pk}, used_client_ids={}, probes=0
    )


@pytest.fixture
async def alice_chat(no_frame_limit, sockets, direct, alice, chat_state):
    return await sockets.chat(alice, direct.pk)


@pytest.fixture
async def alice_notifications(no_frame_limit, sockets, direct, alice):
    return await sockets.notifications(alice)


@EXAMPLES
@given(sent=FRAMES)
async def test_the_chat_socket_answers_every_frame_as_documented_and_stays_open(alice_chat, chat_state, sent):
    form, value = sent
    text, data, parsed = encode(form, value, chat_state.ids)
    expected, detail = chat_answer(parsed, chat_state.own_ids, chat_state.used_client_ids)
    event(f"{expected} {detail if expected == 'error' else ''}".strip())  # --hypothesis-show-statistics

    await send(alice_chat, text, data)
    chat_state.probes += 1
    before, probe = await frames_until_probe(alice_chat, f"probe-{chat_state.probes}")

    chat_state.own_ids.add(probe["id"])
    errors = [frame for frame in before if frame["type"] == "error"]
    messages = [frame["message"] for frame in before if frame["type"] == "message"]
    acks = [frame for frame in before if frame["type"] == "ack"]
    assert len(errors) + len(messages) + len(acks) == len(before), before
    if expected == "error":
        assert [error["code"] for error in errors] == [detail], (parsed, before)
        assert isinstance(errors[0]["detail"], str)
        assert errors[0]["detail"]
        client_id = parsed.get("client_id") if isinstance(parsed, dict) else None
        assert errors[0].get("client_id") == (client_id if isinstance(client_id, str) else None)
        assert messages == acks == []
    elif expected == "message":
        assert errors == [], (parsed, errors)
        assert [message["content"] for message in messages] == [detail]
        client_id = parsed.get("client_id") or None
        assert messages[0]["client_id"] == client_id
        # An ack after the message frame when the send named a client_id, none otherwise.
        assert acks == ([{"type": "ack", "client_id": client_id, "message": messages[0]}] if client_id else [])
        chat_state.own_ids.add(messages[0]["id"])
        if client_id is not None:
            chat_state.used_client_ids[client_id] = detail
    elif expected == "ack":
        assert errors == messages == [], (parsed, before)
        assert [(ack["client_id"], ack["message"]["content"]) for ack in acks] == [(parsed["client_id"], detail)]
    else:
        assert errors == [], (parsed, errors)
        assert messages == acks == []


@EXAMPLES
@given(sent=NOTIFICATION_FRAMES)
async def test_the_notification_socket_takes_only_delivered_frames_and_stays_open(
    alice_notifications, direct, bob, sent
):
    form, value = sent
    if isinstance(value, dict) and value.get("conversation_id") is THIS_CONVERSATION:
        value = {**value, "conversation_id": direct.pk}
    text, data, parsed = encode(form, value, {OWN_MESSAGE: 1, OTHER_MESSAGE: 2})
    message_ids = await database_sync_to_async(
        lambda: set(Message.objects.filter(conversation=direct).values_list("pk", flat=True))
    )()
    expected = notification_answer(parsed, direct.pk, message_ids)
    event(f"notification {expected or 'quiet'}")

    await send(alice_notifications, text, data)
    if expected is not None:
        error = await receive(alice_notifications)
        assert error["type"] == "error"
        assert error["code"] == expected, (parsed, error)

    # Still open, and still told about the conversation.
    await database_sync_to_async(services.message_send)(sender=bob, conversation=direct, content="still there?")
    frame = await receive(alice_notifications)
    assert frame["type"] == "new_message"
    assert frame["message"]["content"] == "still there?"


@EXAMPLES
@given(
    size=st.integers(min_value=django_settings.SOCKET_MAX_FRAME_BYTES - 64, max_value=4 * 1024 * 1024),
    character=st.sampled_from(["x", "é", "☕", "\U0001f375"]),
)
async def test_a_frame_over_the_limit_is_refused_unparsed_and_the_socket_stays_open(
    alice_chat, chat_state, monkeypatch, size, character
):
    content = character * (size // len(character.encode()))
    text = json.dumps({"type": "message", "content": content, "client_id": "huge"}, ensure_ascii=False)
    too_large = len(text.encode()) > django_settings.SOCKET_MAX_FRAME_BYTES
    parsed = []
    monkeypatch.setattr(consumers, "json", SimpleNamespace(loads=lambda raw: parsed.append(raw) or json.loads(raw)))
    messages_before = await database_sync_to_async(Message.objects.count)()

    await send(alice_chat, text, None)
    error = await receive(alice_chat)

    assert error["type"] == "error"
    if too_large:
        # Refused on its size alone: never parsed, so not even its client_id is known.
        assert error == {"type": "error", "code": "frame_too_large", "detail": "Frames are limited to 64 KiB."}
        assert parsed == []
    else:
        assert error["code"] == "content_too_long"
    assert await database_sync_to_async(Message.objects.count)() == messages_before
    chat_state.probes += 1
    before, _ = await frames_until_probe(alice_chat, f"probe-{chat_state.probes}")
    assert before == []
