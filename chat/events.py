"""The one place that turns a committed change into channel-layer group sends.

Services call these through `transaction.on_commit`. Sends are best effort: if the channel layer is
down the change is already saved, the failure is logged, and clients catch up with `?after=`.
Every group message is `{"type": "frame.send", "frame": <the JSON frame a client receives>}`,
optionally with `exclude_user` (typing is not echoed to the typist).

The callbacks run in the thread that committed. For a socket that is a `database_sync_to_async`
worker, and `async_to_sync` hands the sends to the server's event loop; for a management command it
runs them on an event loop of its own. Either way the committing thread waits for the sends (at most
CHANNEL_SEND_TIMEOUT), which keeps one process's frames for a conversation in commit order.
"""

import asyncio
import functools
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from rest_framework.fields import DateTimeField

from accounts.models import User
from chat import selectors
from chat.api.serializers import ConversationSerializer, MessageSerializer, UserPublicSerializer
from chat.errors import ConversationNotFound
from chat.models import Message, Participant

logger = logging.getLogger(__name__)

GroupSend = tuple[str, dict]


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


# Group sends in flight at once. redis-py's pool refuses a connection past its limit (100) rather than
# wait, so a message to a large group sent all at once would lose the sends past it.
SEND_CONCURRENCY = 50


async def _send_all(sends: list[GroupSend]) -> list[tuple[str, BaseException]]:
    """Send all, a bounded number at a time; returns the sends that failed, so one bad group does not
    hide the others."""
    layer = get_channel_layer()
    slots = asyncio.Semaphore(SEND_CONCURRENCY)

    async def send(group: str, message: dict) -> None:
        async with slots:
            await layer.group_send(group, message)

    results = await asyncio.wait_for(
        asyncio.gather(*(send(group, message) for group, message in sends), return_exceptions=True),
        timeout=settings.CHANNEL_SEND_TIMEOUT,
    )
    outcomes = zip(sends, results, strict=True)
    return [(group, result) for (group, _), result in outcomes if isinstance(result, BaseException)]


def _publish(sends: list[GroupSend]) -> None:
    try:
        failed = async_to_sync(_send_all)(sends)
    except Exception as error:  # the timeout, or no event loop to run the sends on
        logger.error("channel layer unavailable: %d group sends dropped: %r", len(sends), error)
        return
    if failed:
        group, error = failed[0]
        logger.error(
            "channel layer unavailable: %d of %d group sends dropped (first: %s: %r)",
            len(failed),
            len(sends),
            group,
            error,
        )


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
    """The message to its conversation's sockets, and a `new_message` to every other member."""
    payload = MessageSerializer(message).data
    sends: list[GroupSend] = [
        (conversation_group(message.conversation_id), _frame({"type": "message", "message": payload}))
    ]
    members = selectors.participants_of(message.conversation_id)
    recipients = [p for p in members if p.user_id != message.sender_id]
    if message.conversation.is_group:
        # Whoever blocked the sender is not told about their messages (direct ones are refused outright).
        blockers = selectors.blockers_of(message.sender_id, [p.user_id for p in recipients])
        recipients = [p for p in recipients if p.user_id not in blockers]
    totals = selectors.unread_totals(p.user_id for p in recipients)
    last_seq = message.seq
    for participant in recipients:
        frame = {
            "type": "new_message",
            "conversation_id": message.conversation_id,
            "message": payload,
            "unread_count": max(last_seq - participant.last_read_seq, 0),
            "total_unread": totals.get(participant.user_id, 0),
        }
        sends.append((user_group(participant.user_id), _frame(frame)))
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
    conversation = participant.conversation
    # Messages may have arrived since the service loaded the conversation; count against the newest.
    conversation.refresh_from_db(fields=["last_seq"])
    totals = selectors.unread_totals([participant.user_id])
    frame = {
        "type": "read",
        "conversation_id": conversation.pk,
        "last_read_message_id": participant.last_read_message_id,
        "unread_count": max(conversation.last_seq - participant.last_read_seq, 0),
        "total_unread": totals.get(participant.user_id, 0),
    }
    _publish([_receipt(participant), (user_group(participant.user_id), _frame(frame))])


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


async def typing(conversation_id: int, user: dict, is_typing: bool) -> None:
    """Typing is not stored; it goes to the conversation's sockets except the typist's own."""
    frame = {"type": "typing", "conversation_id": conversation_id, "user": user, "is_typing": is_typing}
    try:
        failed = await _send_all([(conversation_group(conversation_id), _frame(frame, exclude_user=user["id"]))])
    except Exception as error:
        failed = [(conversation_group(conversation_id), error)]
    if failed:
        logger.warning("channel layer unavailable: typing dropped (%r)", failed[0][1])


def _message_frame(frame_type: str, message: Message) -> GroupSend:
    payload = MessageSerializer(message).data
    return conversation_group(message.conversation_id), _frame({"type": frame_type, "message": payload})


@after_commit
def message_updated(message: Message) -> None:
    """An edit or a moderator's restore: open windows replace the message in place."""
    _publish([_message_frame("message_updated", message)])


@after_commit
def message_deleted(message: Message) -> None:
    """A deletion: open windows show "message deleted" in its place (no content is sent)."""
    _publish([_message_frame("message_deleted", message)])


@after_commit
def sockets_revoked(user_id: int, conversation_ids: list[int]) -> None:
    """A banned user's sockets close, in every process: notifications and every chat socket."""
    revoked = {"type": "session.revoked"}
    _publish([(user_group(user_id), revoked)] + [(member_group(cid, user_id), revoked) for cid in conversation_ids])


@after_commit
def presence_changed(user_id: int, online: bool, last_seen_at) -> None:
    """A user came online or went offline: a `presence` frame to everyone sharing a conversation with them."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    frame = {
        "type": "presence",
        "user": UserPublicSerializer(user).data,
        "online": online,
        "last_seen_at": DateTimeField().to_representation(last_seen_at) if last_seen_at else None,
    }
    sends = [(user_group(pk), _frame(frame)) for pk in selectors.contacts_of(user_id).values_list("pk", flat=True)]
    if sends:
        _publish(sends)


def blocks_changed(user_id: int, conversation_ids: list[int]) -> None:
    """The user blocked or unblocked someone: their open chat sockets reload whom to hide."""
    changed = {"type": "blocks.changed"}
    _publish([(member_group(cid, user_id), changed) for cid in conversation_ids])
