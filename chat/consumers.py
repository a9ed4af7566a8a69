"""The two WebSockets. A consumer parses a frame, calls a service, and forwards group frames.

Authentication happened in middleware (`scope["user"]`); membership is checked at the handshake.
Nothing a client sends and no outage of the channel layer ends a consumer: a bad frame gets an
`error` frame, and while the layer is down the socket keeps working for what it sends (its own
messages are acknowledged from the database) and catches up once the layer is back.

A chat socket delivers `message` frames in `seq` order, each once: it remembers the highest seq it
has sent (`seq_seen`), drops copies at or below it, and holds a frame that arrives early (from
another process, or behind one still on its way) until the gap closes; a gap still open after
GAP_WAIT is filled from the database, where every seq below a committed one is committed. Each
`message` frame the client sends with a `client_id` is answered with one `ack` frame, after that
message's own `message` frame (or alone, for a retry of one the socket has already delivered).
See docs/realtime.md for the frames and what a client can rely on.
"""

import asyncio
import json
import logging
import math
import time
from urllib.parse import parse_qs

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from accounts.socket_auth import credential_valid, handshake_refused, session_key_of
from brewverse.db import in_thread_pool
from chat import events, presence, ratelimit, selectors, services
from chat.api.serializers import MessageSerializer, UserPublicSerializer
from chat.errors import ChatError, ConversationNotFound, ErrorCode
from chat.models import Conversation
from chat.ratelimit import MessagePostThrottle

logger = logging.getLogger(__name__)

REPLAY_PAGE = 200
# Close codes after the handshake (a refused handshake is an HTTP 403 and has none).
CLOSE_REMOVED = 4403  # the user was removed from this conversation
# The user was banned (every socket of theirs closes), or the socket's own credential stopped working:
# a password change elsewhere, a logout of its browser (`credentials_changed`).
CLOSE_REVOKED = 4401
# The access token the socket was opened with expired, or a session socket reached
# SESSION_SOCKET_MAX_AGE: refresh (a token) and reconnect with ?after=. Not 4401, after which a client
# logs out; 4000 + the unofficial HTTP 419 "Authentication Timeout".
CLOSE_EXPIRED = 4419
# The user has SOCKETS_PER_USER sockets of this kind open already: close one before opening another.
# Accepted, then closed with this code (4000 + HTTP 429), so a client can tell it from a refused login.
CLOSE_TOO_MANY = 4429
# Backoff between attempts to reach a channel layer that is down.
LAYER_RETRY_MIN, LAYER_RETRY_MAX = 0.5, 10.0
# How long a chat socket holds an early message for the ones before it to arrive through the layer,
# before it reads them from the database instead. With the layer up a frame is late rather than lost
# (a loaded process's inbox lags; reading the database then only adds to the load), so the wait is
# generous; with the layer down nothing is coming and the gap is filled at once.
GAP_WAIT = 1.0
# Group memberships expire in the channel layer (a day by default); a socket re-joins well before.
GROUP_REFRESH_SECONDS = 3600.0


class BadFrame(ChatError):
    def __init__(self, detail: str, code: ErrorCode = ErrorCode.BAD_FRAME) -> None:
        super().__init__(code, detail)


class RateLimited(ChatError):
    """A frame over one of the user's budgets; `retry_after`: seconds until one more would fit."""

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, detail)
        self.retry_after = math.ceil(retry_after * 1000) / 1000


def _int_field(content: dict, name: str, *, required: bool) -> int | None:
    value = content.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadFrame(f"'{name}' must be a positive integer.")
    return value


def _storable(text: str) -> bool:
    """JSON can carry a NUL (`\\u0000`) or half a surrogate pair (`\\ud800`); no database stores
    either (PostgreSQL refuses NUL, and neither takes text that is not valid Unicode). The REST API
    refuses both the same way, in DRF's CharField."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _client_id(content: dict) -> str | None:
    value = content.get("client_id")
    return value if isinstance(value, str) else None


async def _stop(task: asyncio.Future) -> None:
    """Cancel `task` and wait for it to end, cancelling again as long as it goes on.

    redis-py swallows a cancellation that lands while it opens a connection, and the layer's
    receive then polls Redis on as if nothing happened: one cancel is not always enough.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("socket task ended with %r", task.exception())


class BaseConsumer(AsyncJsonWebsocketConsumer):
    """Refuses anonymous handshakes, forwards `frame.send` group messages, survives the layer.

    Limits per user, across processes (chat/ratelimit.py): SOCKETS_PER_USER sockets of each `kind`,
    one frame bucket for all their sockets, and frames of a type in `message_frames` charge the
    message budget that REST posts charge too.
    """

    kind: str
    message_frames: frozenset[str] = frozenset()

    async def __call__(self, scope, receive, send) -> None:
        """Channels' own consumer loop (`await_many_dispatch`), with two changes.

        Channels ends the consumer with an exception when `channel_layer.receive` raises, which is
        what a down Redis does; `_layer_receive` waits it out instead. And on the way out the receive
        is cancelled until it is really gone (see `_stop`), so no reader outlives its socket.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = lambda: self.channel_layer.receive(self.channel_name)
        self.base_send = send
        self.layer_down = self.outage_logged = self.closing = False
        self.layer_retry = LAYER_RETRY_MIN
        receivers = [receive, self._layer_receive]
        tasks = [asyncio.ensure_future(receiver()) for receiver in receivers]
        tasks.append(asyncio.ensure_future(self._refresh_groups()))
        try:
            while True:
                await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
                for index, receiver in enumerate(receivers):
                    if tasks[index].done():
                        message = tasks[index].result()
                        await self.dispatch(message)
                        tasks[index] = asyncio.ensure_future(receiver())
        except StopConsumer:
            pass
        finally:
            timers = [getattr(self, name, None) for name in ("gap_filler", "expiry", "session_watch")]
            for task in [*tasks, *timers]:
                if task is not None:
                    await _stop(task)

    async def dispatch(self, message: dict) -> None:
        """Every handler's failure stops here: it is logged and the socket lives on."""
        try:
            await super().dispatch(message)
        except StopConsumer:
            raise
        except Exception:
            logger.exception("socket %s: %s failed", self.channel_name, message.get("type"))
            if message["type"] == "websocket.connect":
                await self.close()
            elif message["type"] == "websocket.receive":
                await self.send_error(ChatError(ErrorCode.INTERNAL, "The server failed on this frame; try again."))
            elif message["type"] == "websocket.disconnect":
                raise StopConsumer()

    # --- the channel layer --------------------------------------------------------------------

    async def _join_groups(self) -> None:
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def join_groups(self) -> None:
        """Join `self.groups`; with the layer down, carry on without them until `_layer_receive` rejoins."""
        try:
            await self._join_groups()
        except Exception as error:
            self._layer_failed(error)

    async def leave_groups(self) -> None:
        groups, self.groups = self.groups, []
        for group in groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception as error:  # the membership expires by itself
                logger.info("channel layer unavailable: %s left in %s (%r)", self.channel_name, group, error)

    def _layer_failed(self, error: Exception) -> None:
        """Note an outage; it is logged once, however long it lasts and however often it flaps."""
        if not self.outage_logged:
            logger.warning("channel layer unavailable: %s waits for it (%r)", self.channel_name, error)
            self.outage_logged = True
        self.layer_down = True

    async def _layer_receive(self) -> dict:
        """The next group message; while the layer is down, retry with backoff instead of raising.

        When the layer answers again the groups are re-joined (a restarted Redis forgets them) and a
        `layer.recovered` message lets the consumer catch up on what it missed. The backoff only
        starts over once a message has come through, so a layer that half works is not hammered.
        """
        while True:
            try:
                if self.layer_down:
                    await self._join_groups()
                    self.layer_down = False
                    return {"type": "layer.recovered"}
                message = await self.channel_receive()
            except Exception as error:
                self._layer_failed(error)
                await asyncio.sleep(self.layer_retry)
                self.layer_retry = min(self.layer_retry * 2, LAYER_RETRY_MAX)
                continue
            if self.outage_logged:
                logger.info("channel layer back: %s receives again", self.channel_name)
                self.outage_logged = False
            self.layer_retry = LAYER_RETRY_MIN
            return message

    async def _refresh_groups(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            if not self.layer_down:
                await self.join_groups()

    async def layer_recovered(self, event: dict) -> None:
        """Nothing to catch up on by default: a notification socket's client refetches on reconnect."""

    # --- the socket ---------------------------------------------------------------------------

    async def websocket_connect(self, message: dict) -> None:
        self.user = self.scope["user"]
        if not self.user.is_authenticated:
            handshake_refused(self.scope, "no valid token or session")
            await self.close()
            return
        # The socket's presence entry is its place among the user's sockets of its kind: it is taken
        # before connect() does any work, and entries of a crashed process expire (chat/presence.py).
        prefix = f"{self.kind}:"
        self.presence = presence.SocketPresenceTracker(self.user.pk, prefix + self.channel_name)
        if not await self.presence.start(self, prefix=prefix, limit=settings.SOCKETS_PER_USER):
            logger.info(
                "socket refused: user %s has %s %s sockets open", self.user.pk, settings.SOCKETS_PER_USER, self.kind
            )
            await self.accept()
            await self.close(code=CLOSE_TOO_MANY, reason="Too many sockets open; close one first.")
            return
        # Groups are joined in connect(), not by Channels beforehand, so an outage cannot refuse the socket.
        await self.connect()
        # connect() either accepts or closes; a closed socket gives its place back at once.
        if self.closing:
            await self.presence.stop()

    async def websocket_disconnect(self, message: dict) -> None:
        await self.leave_groups()
        if getattr(self, "presence", None) is not None:
            await self.presence.stop()
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def accept(self, subprotocol: str | None = None, headers: list | None = None) -> None:
        """Accept, then close when the access token expires; a token that ran out while connect()
        read the database refuses the handshake (the middleware checked it before). A session has
        no `auth_expires_at`."""
        expires_at = self.scope.get("auth_expires_at")
        if expires_at is not None and expires_at <= time.time():
            handshake_refused(self.scope, "the token expired during the handshake")
            await self.leave_groups()
            await self.close()
            return
        await super().accept(subprotocol, headers)
        if expires_at is not None:
            self.expiry = asyncio.ensure_future(self._expire(expires_at))
        self.session_key = session_key_of(self.scope)
        if self.session_key is not None:
            self.session_watch = asyncio.ensure_future(self._watch_session())

    async def _expire(self, expires_at: float) -> None:
        while (left := expires_at - time.time()) > 0:
            await asyncio.sleep(left)
        if not self.closing:
            await self.leave_groups()
            await self.close(code=CLOSE_EXPIRED)

    async def _watch_session(self) -> None:
        """A session socket checks its session every PRESENCE_HEARTBEAT seconds, as its presence
        heartbeat beats, so that a `credentials.changed` lost with the layer still closes it; and it
        lives at most SESSION_SOCKET_MAX_AGE, then closes with 4419 for the page to reconnect."""
        ends_at = time.monotonic() + settings.SESSION_SOCKET_MAX_AGE
        while (left := ends_at - time.monotonic()) > 0 and not self.closing:
            await asyncio.sleep(min(settings.PRESENCE_HEARTBEAT, left))
            if time.monotonic() < ends_at:
                await self._check_credential()
        if not self.closing:
            await self.leave_groups()
            await self.close(code=CLOSE_EXPIRED)

    async def _check_credential(self) -> None:
        """Close with 4401 if the credential the socket was opened with no longer holds."""
        if self.closing:
            return
        try:
            while True:
                # A session key that moved during the check (`credentials_changed`) is checked again.
                session_key = self.session_key
                valid = await in_thread_pool(credential_valid)(self.scope, self.user.pk, session_key)
                if valid or session_key == self.session_key:
                    break
        except Exception as error:  # the database is down: the next check decides
            logger.warning("socket %s: credential not checked (%r)", self.channel_name, error)
            return
        if not valid and not self.closing:
            await self.leave_groups()
            await self.close(code=CLOSE_REVOKED)

    async def credentials_changed(self, event: dict) -> None:
        """The user changed their password or logged out a browser: this socket checks its own
        credential. The sockets of the browser that changed the password follow its new session key."""
        moved = event.get("moved_session")
        if moved is not None and getattr(self, "session_key", None) == moved[0]:
            self.session_key = moved[1]
        if hasattr(self, "session_key"):  # accepted
            await self._check_credential()

    async def websocket_receive(self, message: dict) -> None:
        """A socket being closed (revoked, expired) takes no more frames: a stale one cannot send."""
        if not self.closing:
            await super().websocket_receive(message)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self.closing = True
        await super().close(code=code, reason=reason)

    async def frame_send(self, event: dict) -> None:
        if self.closing or event.get("exclude_user") == self.user.pk:
            return
        await self.send_json(event["frame"])

    async def session_revoked(self, event: dict) -> None:
        """The user was banned: every socket of theirs closes, in every process."""
        await self.leave_groups()
        await self.close(code=CLOSE_REVOKED)

    async def send_error(self, error: ChatError, client_id: str | None = None) -> None:
        frame = {"type": "error", "code": error.code.value, "detail": error.detail}
        if client_id is not None:
            frame["client_id"] = client_id
        if isinstance(error, RateLimited):
            frame["retry_after"] = error.retry_after
        await self.send_json(frame)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Parse a frame; every frame, good or bad, takes a token from the user's frame bucket (one
        for all their sockets), and a message frame is charged to their message budget."""
        bucket = ratelimit.atake(f"frames:{self.user.pk}", settings.SOCKET_FRAME_BURST, settings.SOCKET_FRAME_RATE)
        frames = await ratelimit.lenient("frames", bucket)
        raw = text_data if text_data is not None else bytes_data
        size = len(raw.encode()) if isinstance(raw, str) else len(raw or b"")
        if size > settings.SOCKET_MAX_FRAME_BYTES:
            limit = settings.SOCKET_MAX_FRAME_BYTES // 1024
            await self.send_error(BadFrame(f"Frames are limited to {limit} KiB.", ErrorCode.FRAME_TOO_LARGE))
            return
        try:
            content = json.loads(raw)
        except (TypeError, ValueError, RecursionError):  # RecursionError: nested a thousand levels deep
            content = None
        if not isinstance(content, dict):
            await self.send_error(BadFrame("Frames must be JSON objects."))
            return
        if not frames.allowed:
            await self.send_error(RateLimited("Too many frames; slow down.", frames.retry_after), _client_id(content))
            return
        if isinstance(content.get("type"), str) and content["type"] in self.message_frames:
            messages = await MessagePostThrottle.charge_socket_message(self.user.pk)
            if not messages.allowed:
                error = RateLimited("Too many messages; wait before sending more.", messages.retry_after)
                await self.send_error(error, _client_id(content))
                return
        try:
            await self.receive_json(content)
        except ChatError as error:
            await self.send_error(error, _client_id(content))
        except Exception:
            logger.exception("socket %s: frame %r failed", self.channel_name, content.get("type"))
            error = ChatError(ErrorCode.INTERNAL, "The server failed on this frame; try again.")
            await self.send_error(error, _client_id(content))

    async def receive_json(self, content: dict, **kwargs) -> None:
        raise BadFrame("This socket takes no frames.", ErrorCode.UNKNOWN_TYPE)


class ChatConsumer(BaseConsumer):
    """`/ws/chat/{conversation_id}/`: messages, typing, receipts for one conversation."""

    kind = "chat"
    message_frames = frozenset({"message"})

    async def connect(self) -> None:
        self.conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        self.groups = [
            events.conversation_group(self.conversation_id),
            events.member_group(self.conversation_id, self.user.pk),
        ]
        # Join before reading where the conversation stands, so no message falls between the two.
        await self.join_groups()
        try:
            # Whether it is a group and who the other side is never change: kept for every message.
            self.conversation = await in_thread_pool(self._conversation)()
        except ConversationNotFound:
            handshake_refused(self.scope, f"user {self.user.pk} is not in conversation {self.conversation_id}")
            await self.leave_groups()
            await self.close()
            return
        self.user_frame = UserPublicSerializer(self.user).data
        self.seq_seen = self.conversation.last_seq
        # Messages that arrived before one they follow, by seq; `sending` keeps the gap filler and the
        # frames' own handling from interleaving their sends.
        self.early: dict[int, dict] = {}
        # The `ack` frames of this socket's sends, by seq, each sent once its message is delivered here.
        self.unacked: dict[int, list[dict]] = {}
        self.sending = asyncio.Lock()
        self.gap_filler: asyncio.Task | None = None
        # Senders this user blocked: their messages are skipped here as in history (seq still counts).
        self.hidden_senders = await in_thread_pool(selectors.blocked_ids_of)(self.user.pk)
        await self.accept()
        if self.closing:  # refused: the token expired during the handshake
            return
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        after = params.get("after", [None])[0]
        if after is None:
            return
        if not after.isdigit():
            await self.send_error(ChatError(ErrorCode.INVALID, "'after' must be a message id."))
            return
        await self._replay(int(after))

    def _conversation(self) -> Conversation:
        return selectors.participant_get(self.user, self.conversation_id).conversation

    async def _replay(self, after: int) -> None:
        """Send, oldest first, the messages after id `after`, up to and past where the socket started."""
        while True:
            page = await in_thread_pool(self._serialized)(
                selectors.message_history, self.conversation_id, limit=REPLAY_PAGE, after=after
            )
            for message in page:
                await self._send_message(message)
            if len(page) < REPLAY_PAGE:
                return
            after = page[-1]["id"]

    @staticmethod
    def _serialized(select, *args, **kwargs) -> list[dict]:
        return MessageSerializer(select(*args, **kwargs), many=True).data

    async def _send_message(self, message: dict) -> None:
        if not self._hidden(message):
            await self.send_json({"type": "message", "message": message})
        self.seq_seen = max(self.seq_seen, message["seq"])
        if self.unacked:
            await self._send_acks()

    async def _send_acks(self) -> None:
        """The `ack` frames of this socket's sends that are now delivered (at or below `seq_seen`)."""
        for seq in sorted(seq for seq in self.unacked if seq <= self.seq_seen):
            for frame in self.unacked.pop(seq, []):  # the gap filler may have sent them meanwhile
                await self.send_json(frame)

    async def blocks_changed(self, event: dict) -> None:
        self.hidden_senders = await in_thread_pool(selectors.blocked_ids_of)(self.user.pk)

    async def _forward(self, message: dict) -> None:
        """Send `message` in seq order: nothing at or below `seq_seen`; after the ones before it."""
        if message["seq"] <= self.seq_seen:
            return
        self.early[message["seq"]] = message
        async with self.sending:
            await self._send_in_order()
        self._watch_gap()

    def _watch_gap(self) -> None:
        if self.early and self.gap_filler is None and not self.closing:
            self.gap_filler = asyncio.ensure_future(self._fill_gap())

    async def _send_in_order(self) -> None:
        """Send what waits in `early` for as long as it follows on from `seq_seen` (under `sending`)."""
        while (message := self.early.pop(self.seq_seen + 1, None)) is not None:
            await self._send_message(message)
        for seq in [seq for seq in self.early if seq <= self.seq_seen]:
            del self.early[seq]

    async def _fill_gap(self) -> None:
        """Give the layer GAP_WAIT to close a gap, then read what is still missing from the database."""
        try:
            if not self.layer_down:
                await asyncio.sleep(GAP_WAIT)
            if self.early and not self.closing:
                await self._catch_up(before_seq=max(self.early))
        finally:
            self.gap_filler = None
        self._watch_gap()  # a gap that opened again meanwhile

    async def _catch_up(self, before_seq: int | None = None) -> None:
        """Send, from the database, every message after `seq_seen` (and before `before_seq`)."""
        async with self.sending:
            while True:
                page = await in_thread_pool(self._serialized)(
                    selectors.messages_after_seq,
                    self.conversation_id,
                    self.seq_seen,
                    before_seq=before_seq,
                    limit=REPLAY_PAGE,
                )
                for message in page:
                    self.early.setdefault(message["seq"], message)
                await self._send_in_order()
                if len(page) < REPLAY_PAGE:
                    return

    async def layer_recovered(self, event: dict) -> None:
        """Catch up on what was posted while the channel layer was down."""
        if not self.closing and hasattr(self, "seq_seen"):
            await self._catch_up()

    async def frame_send(self, event: dict) -> None:
        frame = event["frame"]
        if frame["type"] == "message" and not self.closing:
            await self._forward(frame["message"])
            return
        if frame["type"] in ("message_updated", "message_deleted") and self._hidden(frame["message"]):
            return
        if frame["type"] == "typing" and frame["user"]["id"] in self.hidden_senders:
            return
        await super().frame_send(event)

    def _hidden(self, message: dict) -> bool:
        return message["sender"]["id"] in self.hidden_senders

    async def membership_revoked(self, event: dict) -> None:
        await self.leave_groups()
        await self.close(code=CLOSE_REMOVED)

    async def receive_json(self, content: dict, **kwargs) -> None:
        kind = content.get("type")
        handler = {
            "message": self._on_message,
            "typing": self._on_typing,
            "read": self._on_read,
            "delivered": self._on_delivered,
        }.get(kind if isinstance(kind, str) else None)  # a list or an object as the type is unhashable
        if handler is None:
            raise BadFrame("Unknown frame type.", ErrorCode.UNKNOWN_TYPE)
        try:
            await handler(content)
        except ConversationNotFound as error:
            # Removed while the socket was open (the revocation may have been lost with the layer).
            await self.send_error(error, _client_id(content))
            await self.leave_groups()
            await self.close(code=CLOSE_REMOVED)

    async def _on_message(self, content: dict) -> None:
        text, client_id = content.get("content"), content.get("client_id")
        if not isinstance(text, str):
            raise BadFrame("'content' must be a string.")
        if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
            raise BadFrame("'client_id' must be a string of at most 64 characters.")
        if not _storable(text) or (client_id is not None and not _storable(client_id)):
            raise BadFrame("Text must not contain NUL or unpaired surrogate characters.")
        message = await in_thread_pool(self._post)(text, client_id)
        if client_id:  # "" is no client_id, as over REST
            # Acknowledged once the message has its place in this socket's stream: a retry of one
            # already delivered at once, a new one right after its `message` frame.
            self.unacked.setdefault(message["seq"], []).append(
                {"type": "ack", "client_id": client_id, "message": message}
            )
            await self._send_acks()
        # The sender's copy is sent from here, not left to the group, so it arrives even when the layer
        # is down; the group's copy is then dropped as already seen. A retry of a message this socket
        # has delivered is dropped here instead: each `message` frame once, in seq order.
        await self._forward(message)

    def _post(self, text: str, client_id: str | None) -> dict:
        message, _ = services.message_send(
            sender=self.user, conversation=self.conversation, content=text, client_id=client_id
        )
        return MessageSerializer(message).data

    async def _on_typing(self, content: dict) -> None:
        is_typing = content.get("is_typing")
        if not isinstance(is_typing, bool):
            raise BadFrame("'is_typing' must be true or false.")
        events.typing(self.conversation_id, self.user_frame, is_typing)

    async def _on_read(self, content: dict) -> None:
        message_id = _int_field(content, "message_id", required=False)
        await in_thread_pool(self._mark)(services.conversation_mark_read, message_id)

    async def _on_delivered(self, content: dict) -> None:
        message_id = _int_field(content, "message_id", required=True)
        await in_thread_pool(self._mark)(services.conversation_mark_delivered, message_id)

    def _mark(self, service, message_id: int | None) -> None:
        participant = selectors.participant_get(self.user, self.conversation_id)
        service(participant=participant, message_id=message_id)


class NotificationConsumer(BaseConsumer):
    """`/ws/notifications/`: one per device; every device of a user gets every event."""

    kind = "notifications"

    async def connect(self) -> None:
        self.groups = [events.user_group(self.user.pk)]
        await self.join_groups()
        await self.accept()

    async def receive_json(self, content: dict, **kwargs) -> None:
        # A device that got a `new_message` here has received it, whether or not the conversation is open.
        if content.get("type") != "delivered":
            raise BadFrame("This socket takes only 'delivered' frames.", ErrorCode.UNKNOWN_TYPE)
        conversation_id = _int_field(content, "conversation_id", required=True)
        message_id = _int_field(content, "message_id", required=True)
        await in_thread_pool(self._mark_delivered)(conversation_id, message_id)

    def _mark_delivered(self, conversation_id: int, message_id: int) -> None:
        participant = selectors.participant_get(self.user, conversation_id)
        services.conversation_mark_delivered(participant=participant, message_id=message_id)
