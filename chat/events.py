"""The one place that turns a committed change into channel-layer group sends.

Services call these through `transaction.on_commit`. Sends are best effort: if the channel layer is
down the change is already saved, the failure is logged, and clients catch up with `?after=`.
Every group message is `{"type": "frame.send", "frame": <the JSON frame a client receives>}`,
optionally with `exclude_user` (typing is not echoed to the typist).

The callbacks run in the thread that committed, usually a worker thread of the server's event loop
(`database_sync_to_async`, or a Django view). That thread does not wait for Redis: it hands the sends
to an outbox on the event loop and goes back to the database. The outbox sends whatever has piled up
in one batch (`group_send_many`: a couple of Redis round trips however many groups), one batch at a
time, so one process's frames leave in the order their changes were committed. Without a server loop
(a management command, a plain test) the sends go out before the callback returns.
"""

import asyncio
import functools
import logging
import os
import weakref
from collections import deque

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from rest_framework.fields import DateTimeField

from accounts.models import User
from chat import selectors
from chat.api.serializers import ConversationSerializer, MessageSerializer, UserPublicSerializer
from chat.errors import ConversationNotFound
from chat.models import Message, Participant

logger = logging.getLogger(__name__)

GroupSend = tuple[str, dict]

# The most group sends one batch carries: a pipeline stays a reasonable size when the layer was slow.
BATCH_MAX = 2000


def conversation_group(conversation_id: int) -> str:
    """Every chat socket open on one conversation."""
    return f"conversation.{conversation_id}"


def user_group(user_id: int) -> str:
    """Every notification socket of one user (one per device)."""
    return f"user.{user_id}"


def member_group(conversation_id: int, user_id: int) -> str:
    """One user's chat sockets on one conversation: closed together when they leave it."""
    return f"member.{conversation_id}.{user_id}"


def _frame(frame: dict, **extra) -> dict:
    return {"type": "frame.send", "frame": frame, **extra}


def _valid(layer: BaseChannelLayer, group: str) -> bool:
    try:
        return layer.require_valid_group_name(group)
    except TypeError:
        return False


async def _group_send_many(layer: BaseChannelLayer, sends: list[GroupSend]) -> None:
    """The layer's batch send (brewverse.channel_layers); one by one on a layer without it."""
    if hasattr(layer, "group_send_many"):
        await layer.group_send_many(sends)
        return
    for group, message in sends:
        await layer.group_send(group, message)


async def _send_batch(layer: BaseChannelLayer, sends: list[GroupSend]) -> None:
    """Send in one batch; what fails is logged with what it dropped, never raised."""
    valid, dropped, error = [], [], TypeError("invalid group name")
    for group, message in sends:
        if _valid(layer, group):
            valid.append((group, message))
        else:
            dropped.append(group)
    try:
        await asyncio.wait_for(_group_send_many(layer, valid), timeout=settings.CHANNEL_SEND_TIMEOUT)
    except Exception as batch_error:  # the timeout, or Redis down
        dropped, error = [group for group, _ in sends], batch_error
    if dropped:
        logger.error(
            "channel layer unavailable: %d of %d group sends dropped (first: %s: %r)",
            len(dropped),
            len(sends),
            dropped[0],
            error,
        )


class _Outbox:
    """One event loop's group sends not yet sent, in commit order; drained one batch at a time."""

    def __init__(self) -> None:
        self.pending: deque[tuple[BaseChannelLayer, list[GroupSend]]] = deque()
        self.draining: asyncio.Task | None = None

    def add(self, layer: BaseChannelLayer, sends: list[GroupSend]) -> None:
        self.pending.append((layer, sends))
        if self.draining is None:
            self.draining = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self.pending:
                layer, batch = self.pending.popleft()
                while self.pending and self.pending[0][0] is layer and len(batch) < BATCH_MAX:
                    batch = batch + self.pending.popleft()[1]
                await _send_batch(layer, batch)
        finally:
            self.draining = None


_outboxes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox]" = weakref.WeakKeyDictionary()


def _outbox(loop: asyncio.AbstractEventLoop) -> _Outbox:
    if loop not in _outboxes:
        _outboxes[loop] = _Outbox()
    return _outboxes[loop]


def _queue(loop: asyncio.AbstractEventLoop, layer: BaseChannelLayer, sends: list[GroupSend]) -> None:
    _outbox(loop).add(layer, sends)


def _worker_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop whose `sync_to_async` worker this thread is (asgiref notes it there)."""
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    if loop is None or getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop if loop.is_running() else None


def _publish(sends: list[GroupSend]) -> None:
    if not sends:
        return
    layer = get_channel_layer()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a worker thread, or no server at all
        loop = None
    if loop is not None:
        _queue(loop, layer, sends)
    elif (server_loop := _worker_loop()) is not None:
        server_loop.call_soon_threadsafe(_queue, server_loop, layer, sends)
    else:
        async_to_sync(_send_batch)(layer, sends)


async def flush() -> None:
    """Wait until every send queued on this event loop has gone (or failed): for tests and the bench."""
    outbox = _outbox(asyncio.get_running_loop())
    while outbox.draining is not None:
        await outbox.draining


def after_commit(event):
    """Marks an event that services run through `transaction.on_commit`.

    The change is committed by then; an exception escaping here would still reach the service's
    caller and turn a saved message into a 500 or an error frame, and the retry into a duplicate
    attempt. So a failure (a query, a serializer) is logged and goes no further.
    """

    @functools.wraps(event)
    def run(*args, **kwargs) -> None:
        try:
            event(*args, **kwargs)
        except Exception:
            logger.exception("event %s failed after commit; its frames are lost", event.__name__)

    return run


@after_commit
def message_created(message: Message) -> None:
    """The message to its conversation's sockets, and a `new_message` to every member's devices.

    The sender's own devices hear of it too (sent from one, it shows on the others), with their
    counts as they stand. Whoever blocked the sender is not told about their messages (direct ones
    are refused outright).
    """
    payload = MessageSerializer(message).data
    sends: list[GroupSend] = [
        (conversation_group(message.conversation_id), _frame({"type": "message", "message": payload}))
    ]
    recipients = selectors.message_recipients(message.conversation_id, message.sender_id, message.seq)
    for user_id, unread_count, total_unread in recipients:
        frame = {
            "type": "new_message",
            "conversation_id": message.conversation_id,
            "message": payload,
            "unread_count": unread_count,
            "total_unread": total_unread,
        }
        sends.append((user_group(user_id), _frame(frame)))
    _publish(sends)


def _receipt(participant: Participant) -> GroupSend:
    frame = {
        "type": "receipt",
        "conversation_id": participant.conversation_id,
        "user": UserPublicSerializer(participant.user).data,
        "last_delivered_message_id": participant.last_delivered_message_id,
        "last_read_message_id": participant.last_read_message_id,
    }
    return conversation_group(participant.conversation_id), _frame(frame)


@after_commit
def receipt_moved(participant: Participant) -> None:
    _publish([_receipt(participant)])


@after_commit
def read_moved(participant: Participant) -> None:
    """The reader's receipt to the conversation, and the new counts to all of the reader's devices."""
    # Messages may have arrived since the service loaded the conversation: counted as they are now.
    unread_count = selectors.participant_unread(participant.pk)
    totals = selectors.unread_totals([participant.user_id])
    frame = {
        "type": "read",
        "conversation_id": participant.conversation_id,
        "last_read_message_id": participant.last_read_message_id,
        "unread_count": unread_count,
        "total_unread": totals.get(participant.user_id, 0),
    }
    _publish([_receipt(participant), (user_group(participant.user_id), _frame(frame))])


@after_commit
def unread_changed(message: Message) -> None:
    """A message was deleted or restored: the badges of the members who had not read it follow.

    Each gets a `read` frame (their pointer as it was, their counts as they are now) on their
    notification sockets, the frame their devices already update badges from.
    """
    participants = selectors.unread_counts_behind(message)
    if not participants:
        return
    totals = selectors.unread_totals([p.user_id for p in participants])
    sends = []
    for participant in participants:
        frame = {
            "type": "read",
            "conversation_id": participant.conversation_id,
            "last_read_message_id": participant.last_read_message_id,
            "unread_count": max(participant.unread, 0),
            "total_unread": totals.get(participant.user_id, 0),
        }
        sends.append((user_group(participant.user_id), _frame(frame)))
    _publish(sends)


@after_commit
def conversation_changed(conversation_id: int, user_ids: list[int]) -> None:
    """Each member's own view of the conversation (their unread count differs) to their devices."""
    users = User.objects.filter(pk__in=user_ids)
    sends = []
    for user in users:
        try:
            conversation = selectors.conversation_get_for(user, conversation_id)
        except ConversationNotFound:  # left again before this ran
            continue
        data = ConversationSerializer(conversation, context={"user": user}).data
        sends.append((user_group(user.pk), _frame({"type": "conversation", "conversation": data})))
    _publish(sends)


@after_commit
def member_removed(conversation_id: int, user_id: int, remaining_user_ids: list[int]) -> None:
    """Tell the removed user's devices, close their chat sockets there, and update the others."""
    gone = {"type": "conversation_removed", "conversation_id": conversation_id}
    _publish(
        [
            (user_group(user_id), _frame(gone)),
            (member_group(conversation_id, user_id), {"type": "membership.revoked"}),
        ]
    )
    conversation_changed(conversation_id, remaining_user_ids)


def typing(conversation_id: int, user: dict, is_typing: bool) -> None:
    """Typing is not stored; it goes to the conversation's sockets except the typist's own."""
    frame = {"type": "typing", "conversation_id": conversation_id, "user": user, "is_typing": is_typing}
    _publish([(conversation_group(conversation_id), _frame(frame, exclude_user=user["id"]))])


def _message_changed(frame_type: str, message: Message) -> None:
    """One frame to the conversation's sockets and to the devices of every member who sees the
    sender's messages, the sender included: a sidebar's preview of the message changes with it."""
    payload = MessageSerializer(message).data
    frame = _frame({"type": frame_type, "conversation_id": message.conversation_id, "message": payload})
    audience = selectors.message_audience(message.conversation_id, message.sender_id)
    _publish([(conversation_group(message.conversation_id), frame)] + [(user_group(pk), frame) for pk in audience])


@after_commit
def message_updated(message: Message) -> None:
    """An edit or a moderator's restore: open windows replace the message in place."""
    _message_changed("message_updated", message)


@after_commit
def message_deleted(message: Message) -> None:
    """A deletion: open windows show "message deleted" in its place (no content is sent)."""
    _message_changed("message_deleted", message)


@after_commit
def sockets_revoked(user_id: int, conversation_ids: list[int]) -> None:
    """A banned user's sockets close, in every process: notifications and every chat socket."""
    revoked = {"type": "session.revoked"}
    _publish([(user_group(user_id), revoked)] + [(member_group(cid, user_id), revoked) for cid in conversation_ids])


def _presence_frame(user: User, online: bool, last_seen_at) -> dict:
    return {
        "type": "presence",
        "user": UserPublicSerializer(user).data,
        "online": online,
        "last_seen_at": DateTimeField().to_representation(last_seen_at) if last_seen_at else None,
    }


@after_commit
def presence_changed(user_id: int, online: bool, last_seen_at) -> None:
    """A user came online or went offline: a `presence` frame to everyone sharing a conversation with
    them, except those they blocked."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    frame = _presence_frame(user, online, last_seen_at)
    audience = selectors.presence_audience(user_id).values_list("pk", flat=True)
    sends = [(user_group(pk), _frame(frame)) for pk in audience]
    if sends:
        _publish(sends)


@after_commit
def presence_shown(user: User, viewer_id: int, online: bool | None) -> None:
    """A block hid `user`'s presence from `viewer_id` (`online` None: they look offline, never seen),
    or an unblock shows it again: one `presence` frame to the viewer's devices."""
    frame = _presence_frame(user, bool(online), None if online is None else user.last_seen_at)
    _publish([(user_group(viewer_id), _frame(frame))])


def blocks_changed(user_id: int, conversation_ids: list[int]) -> None:
    """The user blocked or unblocked someone: their open chat sockets reload whom to hide."""
    changed = {"type": "blocks.changed"}
    _publish([(member_group(cid, user_id), changed) for cid in conversation_ids])


@after_commit
def credentials_changed(user_id: int, moved_session: tuple[str, str] | None = None) -> None:
    """The user's password changed, or a browser of theirs logged out: each of their sockets, in every
    process, checks its own credential again and closes if it no longer holds (chat/consumers.py).

    `moved_session` (old key, new key): the browser that changed the password keeps its session under
    a new key, and its sockets follow it instead of closing.
    """
    changed: dict = {"type": "credentials.changed"}
    if moved_session is not None:
        changed["moved_session"] = list(moved_session)
    conversation_ids = Participant.objects.filter(user_id=user_id).values_list("conversation_id", flat=True)
    _publish([(user_group(user_id), changed)] + [(member_group(cid, user_id), changed) for cid in conversation_ids])
