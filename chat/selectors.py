"""Every read that is more than a get. Each costs a constant number of queries, whatever its size."""

from collections.abc import Iterable

from django.db.models import F, FilteredRelation, Prefetch, Q, QuerySet, Sum

from accounts.models import User
from chat.errors import ChatError, ConversationNotFound, ErrorCode
from chat.models import Conversation, Message, Participant


def conversation_list_for(user: User) -> QuerySet[Conversation]:
    """The user's conversations, most recently active first, ready to serialize in 3 queries.

    Each row carries the caller's own `unread_count` and `my_last_read_message_id`, its participants
    (with their users) and `latest` (a one-element list holding the newest message, if any).
    """
    return (
        Conversation.objects.annotate(me=FilteredRelation("participants", condition=Q(participants__user=user)))
        .filter(me__isnull=False)
        .annotate(
            unread_count=F("last_seq") - F("me__last_read_seq"),
            my_last_read_message_id=F("me__last_read_message_id"),
        )
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=Participant.objects.select_related("user").order_by("joined_at", "id"),
            ),
            Prefetch(
                "messages",
                queryset=Message.objects.filter(seq=F("conversation__last_seq")).select_related("sender"),
                to_attr="latest",
            ),
        )
        .order_by("-updated_at", "-id")
    )


def conversation_get_for(user: User, conversation_id: int) -> Conversation:
    """One conversation as `conversation_list_for` shapes it; not found unless the user takes part."""
    conversation = conversation_list_for(user).filter(pk=conversation_id).first()
    if conversation is None:
        raise ConversationNotFound()
    return conversation


def participant_get(user: User, conversation_id: int) -> Participant:
    """The user's membership of a conversation (with the conversation), or not found."""
    participant = (
        Participant.objects.select_related("conversation").filter(user=user, conversation_id=conversation_id).first()
    )
    if participant is None:
        raise ConversationNotFound()
    return participant


def is_participant(user_id: int, conversation_id: int) -> bool:
    return Participant.objects.filter(user_id=user_id, conversation_id=conversation_id).exists()


def message_in_conversation(conversation_id: int, message_id: int) -> Message:
    message = Message.objects.filter(pk=message_id, conversation_id=conversation_id).first()
    if message is None:
        raise ChatError(ErrorCode.MESSAGE_NOT_FOUND, "Message not found in this conversation.", field="message_id")
    return message


def message_history(
    conversation_id: int, *, limit: int = 50, before: int | None = None, after: int | None = None
) -> list[Message]:
    """A page of history in ascending id order.

    With `after`: the oldest `limit` messages after it (catching up). Otherwise the newest `limit`
    messages, before `before` when given (scrolling back).
    """
    messages = Message.objects.filter(conversation_id=conversation_id).select_related("sender")
    if after is not None:
        return list(messages.filter(id__gt=after).order_by("id")[:limit])
    if before is not None:
        messages = messages.filter(id__lt=before)
    return list(reversed(messages.order_by("-id")[:limit]))


def unread_totals(user_ids: Iterable[int]) -> dict[int, int]:
    """Each user's unread count over all their conversations, in one query."""
    rows = (
        Participant.objects.filter(user_id__in=list(user_ids))
        .values("user_id")
        .annotate(total=Sum(F("conversation__last_seq") - F("last_read_seq")))
    )
    return {row["user_id"]: row["total"] or 0 for row in rows}


def participants_of(conversation_id: int) -> list[Participant]:
    return list(Participant.objects.filter(conversation_id=conversation_id).select_related("user"))
