"""The two WebSockets. A consumer parses a frame, calls a service, and forwards group frames.

Authentication happened in middleware (`scope["user"]`); membership is checked at the handshake.
A bad frame gets an `error` frame and the socket stays open.
"""

import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from chat import events, selectors, services
from chat.api.serializers import MessageSerializer, UserPublicSerializer
from chat.errors import ChatError, ConversationNotFound, ErrorCode
from chat.ratelimit import TokenBucket

logger = logging.getLogger(__name__)

REPLAY_PAGE = 200
CLOSE_REMOVED = 4403


class BadFrame(ChatError):
    def __init__(self, detail: str, code: ErrorCode = ErrorCode.BAD_FRAME) -> None:
        super().__init__(code, detail)


def _int_field(content: dict, name: str, *, required: bool) -> int | None:
    value = content.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadFrame(f"'{name}' must be a positive integer.")
    return value


class BaseConsumer(AsyncJsonWebsocketConsumer):
    """Refuses anonymous handshakes and forwards `frame.send` group messages to the client."""

    async def websocket_connect(self, message) -> None:
        self.user = self.scope["user"]
        if not self.user.is_authenticated:
            await self.close()
            return
        await super().websocket_connect(message)

    async def frame_send(self, event: dict) -> None:
        if event.get("exclude_user") == self.user.pk:
            return
        await self.send_json(event["frame"])

    async def send_error(self, error: ChatError, client_id: str | None = None) -> None:
        frame = {"type": "error", "code": error.code.value, "detail": error.detail}
        if client_id is not None:
            frame["client_id"] = client_id
        await self.send_json(frame)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        if raw is None or len(raw) > settings.SOCKET_MAX_FRAME_BYTES:
            await self.send_error(BadFrame("Frames are limited to 64 KiB of JSON text.", ErrorCode.FRAME_TOO_LARGE))
            return
        try:
            content = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            await self.send_error(BadFrame("Frames must be JSON objects."))
            return
        if not isinstance(content, dict):
            await self.send_error(BadFrame("Frames must be JSON objects."))
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:
        await self.send_error(BadFrame("This socket takes no frames.", ErrorCode.UNKNOWN_TYPE))


class ChatConsumer(BaseConsumer):
    """`/ws/chat/{conversation_id}/`: messages, typing, receipts for one conversation."""

    async def connect(self) -> None:
        self.conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        if not await database_sync_to_async(selectors.is_participant)(self.user.pk, self.conversation_id):
            await self.close()
            return
        self.user_frame = UserPublicSerializer(self.user).data
        self.bucket = TokenBucket()
        # Ids this socket was sent directly (acks of its own sends), skipped when the group copy comes.
        self.acked_ids: set[int] = set()
        self.groups = [
            events.conversation_group(self.conversation_id),
            events.member_group(self.conversation_id, self.user.pk),
        ]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        after = self._after_param()
        if after is not None:
            await self._replay(after)

    def _after_param(self) -> int | None:
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        value = params.get("after", [None])[0]
        return int(value) if value is not None and value.isdigit() else None

    async def _replay(self, after: int) -> None:
        """Send what was missed, oldest first; live frames for these ids are skipped afterwards.

        The groups were joined first, so nothing posted during the replay falls between the two.
        """
        while True:
            page = await database_sync_to_async(selectors.message_history)(
                self.conversation_id, limit=REPLAY_PAGE, after=after
            )
            for message in page:
                await self.send_json({"type": "message", "message": MessageSerializer(message).data})
                after = message.pk
            self.replayed_up_to = after
            if len(page) < REPLAY_PAGE:
                return

    async def frame_send(self, event: dict) -> None:
        frame = event["frame"]
        if frame["type"] == "message":
            message_id = frame["message"]["id"]
            if message_id in self.acked_ids:
                self.acked_ids.discard(message_id)
                return
            if message_id <= getattr(self, "replayed_up_to", 0):
                return
        await super().frame_send(event)

    async def membership_revoked(self, event: dict) -> None:
        await self.close(code=CLOSE_REMOVED)

    async def receive_json(self, content: dict, **kwargs) -> None:
        client_id = content.get("client_id") if isinstance(content.get("client_id"), str) else None
        handler = {
            "message": self._on_message,
            "typing": self._on_typing,
            "read": self._on_read,
            "delivered": self._on_delivered,
        }.get(content.get("type"))
        try:
            if handler is None:
                raise BadFrame("Unknown frame type.", ErrorCode.UNKNOWN_TYPE)
            if not self.bucket.take():
                raise BadFrame("Too many frames; slow down.", ErrorCode.RATE_LIMITED)
            await handler(content)
        except ConversationNotFound as error:
            await self.send_error(error, client_id)
            await self.close(code=CLOSE_REMOVED)
        except ChatError as error:
            await self.send_error(error, client_id)

    @database_sync_to_async
    def _participant(self):
        return selectors.participant_get(self.user, self.conversation_id)

    async def _on_message(self, content: dict) -> None:
        text, client_id = content.get("content"), content.get("client_id")
        if not isinstance(text, str):
            raise BadFrame("'content' must be a string.")
        if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
            raise BadFrame("'client_id' must be a string of at most 64 characters.")
        message, created = await database_sync_to_async(self._send_message)(text, client_id)
        if created:
            self.acked_ids.add(message["id"])
        # Acknowledge directly, so the sender hears back even when the channel layer is down.
        await self.send_json({"type": "message", "message": message})

    def _send_message(self, text: str, client_id: str | None) -> tuple[dict, bool]:
        participant = selectors.participant_get(self.user, self.conversation_id)
        message, created = services.message_send(
            sender=self.user, conversation=participant.conversation, content=text, client_id=client_id
        )
        return MessageSerializer(message).data, created

    async def _on_typing(self, content: dict) -> None:
        is_typing = content.get("is_typing")
        if not isinstance(is_typing, bool):
            raise BadFrame("'is_typing' must be true or false.")
        await events.typing(self.conversation_id, self.user_frame, is_typing)

    async def _on_read(self, content: dict) -> None:
        message_id = _int_field(content, "message_id", required=False)
        participant = await self._participant()
        await database_sync_to_async(services.conversation_mark_read)(participant=participant, message_id=message_id)

    async def _on_delivered(self, content: dict) -> None:
        message_id = _int_field(content, "message_id", required=True)
        participant = await self._participant()
        await database_sync_to_async(services.conversation_mark_delivered)(
            participant=participant, message_id=message_id
        )


class NotificationConsumer(BaseConsumer):
    """`/ws/notifications/`: one per device; every device of a user gets every event."""

    async def connect(self) -> None:
        self.groups = [events.user_group(self.user.pk)]
        await self.channel_layer.group_add(self.groups[0], self.channel_name)
        await self.accept()
