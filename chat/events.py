"""The one place that turns a committed change into channel-layer group sends.

Services call these through `transaction.on_commit`. Sends are best effort: if the channel layer is
down the change is already saved, the failure is logged, and clients catch up with `?after=`.
Every group message is `{"type": "frame.send", "frame": <the JSON frame a client receives>}`,
optionally with `exclude_user` (typing is not echoed to the typist).
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from accounts.models import User
from chat import selectors
from chat.api.serializers import ConversationSerializer, MessageSerializer, UserPublicSerializer
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


async def _send_all(sends: list[GroupSend]) -> None:
    layer = get_channel_layer()
    await asyncio.wait_for(
        asyncio.gather(*(layer.group_send(group, message) for group, message in sends)),
        timeout=settings.CHANNEL_SEND_TIMEOUT,
    )


def _publish(sends: list[GroupSend]) -> None:
    try:
        async_to_sync(_send_all)(sends)
    except Exception:
        logger.exception("channel layer unavailable: %d group sends dropped", len(sends))


def message_created(message: Message) -> None:
    """The message to its conversation's sockets, and a `new_message` to every other member."""
    payload = MessageSerializer(message).data
    sends: list[GroupSend] = [
        (conversation_group(message.conversation_id), _frame({"type": "message", "message": payload}))
    ]
    members = selectors.participants_of(message.conversation_id)
    recipients = [p for p in members if p.user_id != message.sender_id]
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


def receipt_moved(participant: Participant) -> None:
    _publish([_receipt(participant)])


def read_moved(participant: Participant) -> None:
    """The reader's receipt to the conversation, and the new counts to all of the reader's devices."""
    conversation = participant.conversation
    totals = selectors.unread_totals([participant.user_id])
    frame = {
        "type": "read",
        "conversation_id": conversation.pk,
        "last_read_message_id": participant.last_read_message_id,
        "unread_count": max(conversation.last_seq - participant.last_read_seq, 0),
        "total_unread": totals.get(participant.user_id, 0),
    }
    _publish([_receipt(participant), (user_group(participant.user_id), _frame(frame))])


def conversation_changed(conversation_id: int, user_ids: list[int]) -> None:
    """Each member's own view of the conversation (their unread count differs) to their devices."""
    users = User.objects.filter(pk__in=user_ids)
    sends = []
    for user in users:
        conversation = selectors.conversation_get_for(user, conversation_id)
        data = ConversationSerializer(conversation, context={"user": user}).data
        sends.append((user_group(user.pk), _frame({"type": "conversation", "conversation": data})))
    _publish(sends)


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
        await _send_all([(conversation_group(conversation_id), _frame(frame, exclude_user=user["id"]))])
    except Exception:
        logger.exception("channel layer unavailable: typing dropped")
