"""Every read that is more than a get. Each costs a constant number of queries, whatever its size."""

from collections.abc import Iterable

from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import Coalesce

from accounts.models import User
from chat.errors import ChatError, ConversationNotFound, ErrorCode
from chat.models import Block, Conversation, ConversationEvent, Message, Participant


def _count(messages: QuerySet[Message]) -> Coalesce:
    """How many of `messages` (a subquery with OuterRefs), 0 for none."""
    counted = messages.order_by().values("conversation_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), 0)


def _hidden_unread(*, participant: str, conversation: str) -> Case:
    """How many messages past a participant's read pointer they cannot see: deleted ones, and ones
    from users they blocked.

    History shows neither, so no unread count may include them. `participant` and `conversation`
    are the paths from the outer query to the Participant and Conversation rows ("" for the model
    queried). Counted at read time, so a delete, a restore, a block and an unblock all change every
    count fetched after them. Neither count runs where nothing is unread; deleted messages are found
    through their own partial index, and most users block nobody: for them a probe of
    chat_block(blocker_id) settles it.
    """
    blocker = OuterRef(f"{participant}user_id")
    unread = Message.objects.filter(
        conversation_id=OuterRef(f"{participant}conversation_id"), seq__gt=OuterRef(f"{participant}last_read_seq")
    )
    blocked = Block.objects.filter(blocker_id=OuterRef(blocker)).values("blocked_id")
    deleted = _count(unread.filter(deleted_at__isnull=False))
    hidden = _count(unread.filter(deleted_at__isnull=True, sender_id__in=blocked))
    blocks_someone = Exists(Block.objects.filter(blocker_id=blocker))
    return Case(
        When(
            Q(**{f"{conversation}last_seq__gt": F(f"{participant}last_read_seq")}),
            then=deleted + Case(When(blocks_someone, then=hidden), default=0),
        ),
        default=0,
    )


def _unread(*, participant: str, conversation: str):
    """A participant's unread count: messages past their read pointer that they can see."""
    return (
        F(f"{conversation}last_seq")
        - F(f"{participant}last_read_seq")
        - _hidden_unread(participant=participant, conversation=conversation)
    )


def _latest_messages(user: User) -> QuerySet[Message]:
    """The newest message of each conversation that the user can see: the last one, unless they
    blocked its sender (their messages are hidden from the user, previews included)."""
    blocked = blocked_ids_of(user.pk)
    if not blocked:
        return Message.objects.filter(seq=F("conversation__last_seq"))
    visible = (
        Message.objects.filter(conversation_id=OuterRef("conversation_id"))
        .exclude(sender_id__in=blocked)
        .order_by("-seq")
        .values("pk")[:1]
    )
    return Message.objects.filter(pk__in=Participant.objects.filter(user=user).values(latest=Subquery(visible)))


def conversation_list_for(user: User) -> QuerySet[Conversation]:
    """The user's conversations, most recently active first, ready to serialize in 4 queries.

    Each row carries the caller's own `unread_count` (leaving out what they cannot see) and
    `my_last_read_message_id`, its participants (with their users) and `latest` (a one-element list
    holding the newest message they can see, if any).
    """
    return (
        Conversation.objects.annotate(me=FilteredRelation("participants", condition=Q(participants__user=user)))
        .filter(me__isnull=False)
        .annotate(
            unread_count=_unread(participant="me__", conversation=""),
            my_last_read_message_id=F("me__last_read_message_id"),
        )
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=Participant.objects.select_related("user").order_by("joined_at", "id"),
            ),
            Prefetch("messages", queryset=_latest_messages(user).select_related("sender"), to_attr="latest"),
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
    # `conversation__pk`, not `conversation_id`: Django checks the range of a pk lookup, so an id
    # too large for the column finds nothing instead of crashing SQLite with an OverflowError.
    participant = (
        Participant.objects.select_related("conversation").filter(user=user, conversation__pk=conversation_id).first()
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
    conversation_id: int,
    *,
    limit: int = 50,
    before: int | None = None,
    after: int | None = None,
    viewer_id: int | None = None,
) -> list[Message]:
    """A page of history in ascending id order.

    With `after`: the oldest `limit` messages after it (catching up). Otherwise the newest `limit`
    messages, before `before` when given (scrolling back). With `viewer_id`, messages from users the
    viewer blocked are left out.
    """
    messages = Message.objects.filter(conversation_id=conversation_id).select_related("sender")
    if viewer_id is not None:
        messages = messages.exclude(sender__in=Block.objects.filter(blocker_id=viewer_id).values("blocked_id"))
    if after is not None:
        return list(messages.filter(id__gt=after).order_by("id")[:limit])
    if before is not None:
        messages = messages.filter(id__lt=before)
    return list(reversed(messages.order_by("-id")[:limit]))


def message_window_from(
    conversation_id: int, *, after: int, viewer_id: int, context: int = 10, limit: int = 50
) -> tuple[list[Message], bool, bool]:
    """The page a reader opens at: up to `context` messages up to id `after` (their last read), then
    up to `limit` after it, in ascending id order, in two queries. Also whether there are older ones
    before the page and newer ones after it."""
    newer = message_history(conversation_id, after=after, limit=limit + 1, viewer_id=viewer_id)
    older = message_history(conversation_id, before=after + 1, limit=context + 1, viewer_id=viewer_id)
    return older[-context:] + newer[:limit], len(older) > context, len(newer) > limit


def hidden_message_runs(
    conversation_id: int, *, viewer_id: int, blocked_ids: set[int], after_seq: int, upto_seq: int | None = None
) -> list[dict]:
    """Where `message_history` left out the messages of people the viewer blocked, after `after_seq`
    (and up to `upto_seq`, for a page that stops short of the newest message):
    one run per stretch of consecutive seqs from one sender, oldest first, each with the sender's
    display name, its first and last seq, the last message's id and the first one's time. One query
    (none when the viewer blocks nobody)."""
    if not blocked_ids:
        return []
    hidden = Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq, sender_id__in=blocked_ids)
    if upto_seq is not None:
        hidden = hidden.filter(seq__lte=upto_seq)
    rows = hidden.order_by("seq").values_list("id", "seq", "created_at", "sender_id", "sender__display_name")
    runs: list[dict] = []
    for message_id, seq, created_at, sender_id, name in rows:
        run = runs[-1] if runs else None
        if run and run["sender_id"] == sender_id and run["to_seq"] == seq - 1:
            run.update(to_seq=seq, id=message_id, count=run["count"] + 1)
        else:
            runs.append(
                {
                    "hidden": True,
                    "sender_id": sender_id,
                    "name": name,
                    "from_seq": seq,
                    "to_seq": seq,
                    "id": message_id,
                    "created_at": created_at,
                    "count": 1,
                }
            )
    return runs


def conversation_events(conversation_id: int, *, since=None, until=None) -> list[ConversationEvent]:
    """A group's events (created, renamed, added, removed, left), oldest first, from `since` and up to
    `until` (datetimes) when given, with their actor and subject: one query."""
    events = ConversationEvent.objects.filter(conversation_id=conversation_id).select_related("actor", "subject")
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lte=until)
    return list(events.order_by("created_at", "id"))


def newest_message_ref(conversation_id: int) -> dict | None:
    """The `id` and `seq` of a conversation's newest message, whoever sent it, or None."""
    return (
        Message.objects.filter(conversation_id=conversation_id, seq=F("conversation__last_seq"))
        .values("id", "seq")
        .first()
    )


def messages_after_seq(
    conversation_id: int, after_seq: int, *, before_seq: int | None = None, limit: int = 200
) -> list[Message]:
    """The oldest `limit` messages with `after_seq < seq < before_seq`, in seq order: what a socket missed."""
    messages = Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).select_related("sender")
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    return list(messages.order_by("seq")[:limit])


def participant_unread(participant_id: int) -> int:
    """One participant's unread count in their conversation, as it stands now, in one query."""
    unread = (
        Participant.objects.filter(pk=participant_id)
        .annotate(unread=_unread(participant="", conversation="conversation__"))
        .values_list("unread", flat=True)
        .first()
    )
    return max(unread or 0, 0)


def unread_counts_behind(message: Message) -> list[Participant]:
    """The members whose unread count a deletion or restore of `message` changes, in one query: those
    who have not read up to it, but not its sender nor those who blocked the sender (their counts
    never held it). Each carries `unread`, their count in the conversation as it stands now."""
    return list(
        Participant.objects.filter(conversation_id=message.conversation_id, last_read_seq__lt=message.seq)
        .exclude(user_id=message.sender_id)
        .exclude(user__blocks_made__blocked_id=message.sender_id)
        .annotate(unread=_unread(participant="", conversation="conversation__"))
    )


def unread_totals(user_ids: Iterable[int]) -> dict[int, int]:
    """Each user's unread count over all their conversations, in one query."""
    rows = (
        Participant.objects.filter(user_id__in=list(user_ids))
        .values("user_id")
        .annotate(total=Sum(_unread(participant="", conversation="conversation__")))
    )
    return {row["user_id"]: row["total"] or 0 for row in rows}


# A join, not a subquery per recipient: PostgreSQL plans it well even before it has statistics of
# fresh tables (a correlated subquery was planned as a scan of every conversation per recipient).
# Deleted messages past a read pointer are counted from their partial index, and only in conversations
# with something unread. Whether the recipient blocks anyone is one index probe; what they hid is
# counted only for those who do.
_DELETED_AFTER = f"""
    (SELECT COUNT(*) FROM {Message._meta.db_table} d
     WHERE d.conversation_id = {{conversation}} AND d.seq > {{pointer}} {{upto}} AND d.deleted_at IS NOT NULL)"""
_DELETED_UNREAD_THERE = _DELETED_AFTER.format(
    conversation="mine.conversation_id", pointer="mine.last_read_seq", upto=""
)
_DELETED_UNREAD_HERE = _DELETED_AFTER.format(
    conversation="p.conversation_id", pointer="p.last_read_seq", upto="AND d.seq <= %(seq)s"
)
_MESSAGE_RECIPIENTS = f"""
    SELECT p.user_id, p.last_read_seq,
           SUM(CASE WHEN c.last_seq > mine.last_read_seq
                    THEN c.last_seq - mine.last_read_seq
                         - {_DELETED_UNREAD_THERE}
                    ELSE 0 END) AS total_unread,
           {_DELETED_UNREAD_HERE} AS deleted_here,
           EXISTS (SELECT 1 FROM {Block._meta.db_table} WHERE blocker_id = p.user_id) AS blocks_someone
    FROM {Participant._meta.db_table} p
    JOIN {Participant._meta.db_table} mine ON mine.user_id = p.user_id
    JOIN {Conversation._meta.db_table} c ON c.id = mine.conversation_id
    WHERE p.conversation_id = %(conversation)s
      AND NOT EXISTS (SELECT 1 FROM {Block._meta.db_table} b
                      WHERE b.blocker_id = p.user_id AND b.blocked_id = %(sender)s)
    GROUP BY p.id, p.user_id, p.last_read_seq, p.conversation_id"""

# `_hidden_unread`'s blocked part in SQL, for the few recipients who block someone: per blocker, the
# live messages from those they blocked past their read pointers (deleted ones are counted above), in
# this conversation up to the new message, and in all their conversations. Plain SQL like the query
# above (see `message_recipients`), so it cannot reuse the ORM expression.
_HIDDEN_UNREAD = f"""
    SELECT b.blocker_id,
           SUM(CASE WHEN r.conversation_id = %(conversation)s AND m.seq <= %(seq)s THEN 1 ELSE 0 END),
           COUNT(*)
    FROM {Block._meta.db_table} b
    JOIN {Participant._meta.db_table} r ON r.user_id = b.blocker_id
    JOIN {Message._meta.db_table} m ON m.conversation_id = r.conversation_id
     AND m.sender_id = b.blocked_id AND m.seq > r.last_read_seq AND m.deleted_at IS NULL
    WHERE b.blocker_id IN ({{blockers}})
    GROUP BY b.blocker_id"""


def message_recipients(conversation_id: int, sender_id: int, seq: int) -> list[tuple[int, int, int]]:
    """Who hears of a new message: every member who has not blocked the sender, the sender too (for
    their other devices), as (user_id, unread count here up to message `seq`, unread total over all
    their conversations), both leaving out deleted messages and messages from users they blocked. The
    sender has read their own message, so their counts come out as they stand. One query; a second only when a
    recipient blocks someone.

    Runs once per message, so it is plain SQL: building the same query through the ORM cost more
    than running it (a third of a loaded server's CPU, by py-spy).
    """
    params = {"conversation": conversation_id, "sender": sender_id, "seq": seq}
    with connection.cursor() as cursor:
        cursor.execute(_MESSAGE_RECIPIENTS, params)
        rows = cursor.fetchall()
        blockers = [user_id for user_id, _, _, _, blocks_someone in rows if blocks_someone]
        hidden: dict[int, tuple[int, int]] = {}
        if blockers:
            names = {f"blocker{n}": user_id for n, user_id in enumerate(blockers)}
            placeholders = ", ".join(f"%({name})s" for name in names)
            cursor.execute(_HIDDEN_UNREAD.format(blockers=placeholders), {**params, **names})
            hidden = {user_id: (int(here), int(total)) for user_id, here, total in cursor.fetchall()}
    recipients = []
    for user_id, last_read_seq, total, deleted_here, _ in rows:
        hidden_here, hidden_total = hidden.get(user_id, (0, 0))
        here = seq - last_read_seq - deleted_here - hidden_here
        # SUM is NUMERIC on PostgreSQL (a Decimal here), INTEGER on SQLite.
        recipients.append((user_id, max(here, 0), int(total or 0) - hidden_total))
    return recipients


def participants_of(conversation_id: int) -> list[Participant]:
    return list(Participant.objects.filter(conversation_id=conversation_id).select_related("user"))


def message_audience(conversation_id: int, sender_id: int) -> list[int]:
    """Who hears of a change to a message: every member who has not blocked its sender, in one query."""
    blockers = Block.objects.filter(blocked_id=sender_id).values("blocker_id")
    members = Participant.objects.filter(conversation_id=conversation_id).exclude(user_id__in=blockers)
    return list(members.values_list("user_id", flat=True))


def is_blocked_between(user_id: int, other_ids: list[int]) -> bool:
    """Whether a block stands, in either direction, between the user and any of the others."""
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id__in=other_ids) | Q(blocked_id=user_id, blocker_id__in=other_ids)
    ).exists()


def blocked_ids_of(user_id: int) -> set[int]:
    """The users whose messages this user has hidden by blocking them."""
    return set(Block.objects.filter(blocker_id=user_id).values_list("blocked_id", flat=True))


def contacts_of(user_id: int) -> QuerySet[User]:
    """Everyone who shares a conversation with the user (not the user)."""
    shared = Participant.objects.filter(conversation__participants__user_id=user_id).values("user_id")
    return User.objects.filter(pk__in=shared).exclude(pk=user_id)


def presence_audience(user_id: int) -> QuerySet[User]:
    """Who sees the user's presence: their contacts, but not those the user blocked."""
    return contacts_of(user_id).exclude(pk__in=Block.objects.filter(blocker_id=user_id).values("blocked_id"))


def presence_contacts(user_id: int) -> QuerySet[User]:
    """Whose presence the user sees: their contacts, but not those who blocked the user."""
    return contacts_of(user_id).exclude(pk__in=Block.objects.filter(blocked_id=user_id).values("blocker_id"))
