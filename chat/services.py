"""Every write to conversations and messages. REST views and socket consumers both call these.

Each service writes inside one transaction and schedules its events with `transaction.on_commit`,
so a socket frame never announces something that was rolled back.
"""

from contextlib import nullcontext
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from chat import events
from chat.errors import ChatError, ConversationNotFound, ErrorCode
from chat.models import Block, Conversation, ConversationEvent, Message, Participant
from chat.selectors import is_blocked_between, is_participant, message_in_conversation


def _clean_content(content: str) -> str:
    content = content.strip()
    if not content:
        raise ChatError(ErrorCode.CONTENT_EMPTY, "Message content cannot be empty.", field="content")
    if len(content) > settings.MESSAGE_MAX_LENGTH:
        raise ChatError(
            ErrorCode.CONTENT_TOO_LONG,
            f"Message content is limited to {settings.MESSAGE_MAX_LENGTH} characters.",
            field="content",
        )
    return content


# The three writes of a message. Their tables come from the models; the parameters are named, so the
# statements read the same on PostgreSQL (one statement) and SQLite (three in a transaction).
_BUMP_SEQ = f"""
    UPDATE {Conversation._meta.db_table} SET last_seq = last_seq + 1, updated_at = %(now)s
    WHERE id = %(conversation)s
      AND EXISTS (SELECT 1 FROM {Participant._meta.db_table}
                  WHERE conversation_id = %(conversation)s AND user_id = %(sender)s)
      AND NOT EXISTS (SELECT 1 FROM {Block._meta.db_table}
                      WHERE (blocker_id = %(sender)s AND blocked_id = %(other)s)
                         OR (blocker_id = %(other)s AND blocked_id = %(sender)s))
    RETURNING last_seq"""
_INSERT_MESSAGE = f"""
    INSERT INTO {Message._meta.db_table} (conversation_id, sender_id, seq, content, client_id, created_at)
    SELECT %(conversation)s, %(sender)s, {{seq}}, %(content)s, %(client_id)s, %(now)s {{source}}
    RETURNING id, seq"""
_MARK_SENDER_READ = f"""
    UPDATE {Participant._meta.db_table}
    SET last_read_message_id = {{id}}, last_read_seq = {{seq}}, last_delivered_message_id = {{id}}
    {{source}} WHERE conversation_id = %(conversation)s AND user_id = %(sender)s"""
_SEND_IN_ONE_STATEMENT = f"""
    WITH bumped AS ({_BUMP_SEQ}),
    inserted AS ({_INSERT_MESSAGE.format(seq="bumped.last_seq", source="FROM bumped")}),
    marked AS ({_MARK_SENDER_READ.format(id="inserted.id", seq="inserted.seq", source="FROM inserted")})
    SELECT id, seq FROM inserted"""


def _insert_message(params: dict) -> tuple[int, int] | None:
    """Take the next seq, insert the message and mark it read for its sender; (id, seq), or None
    when the sender is not a member or a block stands between the two sides of a direct conversation.

    The conversation's row stays locked from the seq bump to the commit, so concurrent senders queue
    there and seqs come out gap-free; a rolled-back send gives its seq back. On PostgreSQL this is one
    statement in autocommit (no BEGIN/COMMIT round trips); SQLite has no writes in WITH.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_SEND_IN_ONE_STATEMENT, params)
            return cursor.fetchone()
        with transaction.atomic():
            cursor.execute(_BUMP_SEQ, params)
            bumped = cursor.fetchone()
            if bumped is None:
                return None
            cursor.execute(_INSERT_MESSAGE.format(seq=bumped[0], source=""), params)
            inserted = cursor.fetchone()
            cursor.execute(_MARK_SENDER_READ.format(id=inserted[0], seq=inserted[1], source=""), params)
            return inserted


def message_send(
    *, sender: User, conversation: Conversation, content: str, client_id: str | None = None
) -> tuple[Message, bool]:
    """Save a message and announce it; returns (message, created).

    A retry with a `client_id` this sender already used in this conversation returns the first
    message instead of saving a second one, even when both attempts race. The write is checked and
    done in one go (`_insert_message`); only a refusal or a retry costs more queries.
    """
    content = _clean_content(content)
    client_id = client_id or None
    now = timezone.now()
    params = {
        "conversation": conversation.pk,
        "sender": sender.pk,
        "other": None if conversation.is_group else _other_member(conversation, sender),
        "content": content,
        "client_id": client_id,
        "now": connection.ops.adapt_datetimefield_value(now),
    }
    # Inside a caller's transaction a failed insert must only roll back to a savepoint; on its own the
    # statement is atomic already, and skipping BEGIN/COMMIT is much of what makes it fast.
    savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with savepoint:
            inserted = _insert_message(params)
    except IntegrityError:
        if client_id is None:
            raise
        # A retry: this sender already used this client_id here (maybe a moment ago, in a race).
        return Message.objects.select_related("sender").get(
            conversation=conversation, sender=sender, client_id=client_id
        ), False
    if inserted is None:
        _refuse(sender, conversation)
    message_id, seq = inserted
    message = Message(
        id=message_id,
        conversation=conversation,
        sender=sender,
        seq=seq,
        content=content,
        client_id=client_id,
        created_at=now,
    )
    conversation.last_seq, conversation.updated_at = seq, now
    transaction.on_commit(partial(events.message_created, message))
    return message, True


def _other_member(conversation: Conversation, sender: User) -> int:
    return next(int(pk) for pk in conversation.direct_key.split(":") if int(pk) != sender.pk)


def _refuse(sender: User, conversation: Conversation) -> None:
    """Why `_insert_message` wrote nothing: the sender left (or never joined), or a block stands."""
    if not is_participant(sender.pk, conversation.pk):
        raise ConversationNotFound()
    raise ChatError(ErrorCode.BLOCKED, "You cannot message this user.")


def _direct_key(a: User, b: User) -> str:
    low, high = sorted((a.pk, b.pk))
    return f"{low}:{high}"


def conversation_get_or_create_direct(*, user: User, other: User) -> tuple[Conversation, bool]:
    """The one direct conversation of two users, created on first use; safe under concurrent calls."""
    if other.pk == user.pk:
        raise ChatError(ErrorCode.DIRECT_WITH_SELF, "You cannot start a direct conversation with yourself.")
    if is_blocked_between(user.pk, [other.pk]):
        raise ChatError(ErrorCode.BLOCKED, "You cannot message this user.")
    key = _direct_key(user, other)
    existing = Conversation.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(is_group=False, direct_key=key)
            Participant.objects.bulk_create(
                [
                    Participant(conversation=conversation, user=user, role=Participant.Role.MEMBER),
                    Participant(conversation=conversation, user=other, role=Participant.Role.MEMBER),
                ]
            )
            transaction.on_commit(partial(events.conversation_changed, conversation.pk, [user.pk, other.pk]))
    except IntegrityError:
        return Conversation.objects.get(direct_key=key), False
    return conversation, True


def _users_by_username(usernames: list[str], *, field: str = "usernames") -> list[User]:
    """The active users named, in the order first named (members join, and are listed, in that order)."""
    wanted = {name.lower(): index for index, name in reversed(list(enumerate(usernames)))}
    lookup = Q()
    for name in wanted:
        lookup |= Q(username__iexact=name)
    users = list(User.objects.filter(lookup, is_active=True)) if wanted else []
    missing = wanted.keys() - {u.username.lower() for u in users}
    if missing:
        raise ChatError(ErrorCode.USER_NOT_FOUND, f"Unknown users: {', '.join(sorted(missing))}.", field=field)
    return sorted(users, key=lambda user: wanted[user.username.lower()])


def _clean_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise ChatError(ErrorCode.INVALID, "A group needs a title.", field="title")
    return title


def conversation_create_group(
    *, creator: User, title: str, usernames: list[str], client_id: str | None = None
) -> Conversation:
    """A group owned by its creator, with the named users as members."""
    title = _clean_title(title)
    members = [u for u in _users_by_username(usernames) if u.pk != creator.pk]
    _refuse_across_blocks(creator, [u.pk for u in members])
    with transaction.atomic():
        conversation = Conversation.objects.create(
            is_group=True, title=title, created_by=creator, client_id=client_id or None
        )
        Participant.objects.bulk_create(
            [Participant(conversation=conversation, user=creator, role=Participant.Role.OWNER)]
            + [Participant(conversation=conversation, user=u, role=Participant.Role.MEMBER) for u in members]
        )
        ConversationEvent.objects.create(
            conversation=conversation, kind=ConversationEvent.Kind.CREATED, actor=creator, title=title
        )
        user_ids = [creator.pk] + [u.pk for u in members]
        transaction.on_commit(partial(events.conversation_changed, conversation.pk, user_ids))
    return conversation


def conversation_get_or_create_group(
    *, creator: User, title: str, usernames: list[str], client_id: str | None = None
) -> tuple[Conversation, bool]:
    """`conversation_create_group`, once per `client_id`: returns (group, created). A retry with a
    `client_id` this creator already used returns the first group as it is now, even when both
    attempts race (the database's unique constraint decides)."""
    client_id = client_id or None
    first = Conversation.objects.filter(created_by=creator, client_id=client_id) if client_id else None
    if first is not None and (conversation := first.first()) is not None:
        return conversation, False
    try:
        return conversation_create_group(creator=creator, title=title, usernames=usernames, client_id=client_id), True
    except IntegrityError:
        if first is None:
            raise
        return first.get(), False


def _refuse_across_blocks(actor: User, user_ids: list[int]) -> None:
    """Nobody puts someone in a group across a block, whichever way it stands: a 403 `blocked`, as
    for a direct conversation."""
    if user_ids and is_blocked_between(actor.pk, user_ids):
        raise ChatError(ErrorCode.BLOCKED, "You cannot add a user you blocked or who blocked you.")


def _require_group_manager(actor: Participant) -> None:
    if not actor.conversation.is_group:
        raise ChatError(ErrorCode.NOT_A_GROUP, "A direct conversation has exactly its two members.")
    if not actor.can_manage:
        raise ChatError(ErrorCode.FORBIDDEN, "Only the group's owner or an admin can do this.")


def _member_ids(conversation_id: int) -> list[int]:
    return list(Participant.objects.filter(conversation_id=conversation_id).values_list("user_id", flat=True))


def conversation_rename(*, actor: Participant, title: str) -> Conversation:
    _require_group_manager(actor)
    conversation = actor.conversation
    conversation.title = _clean_title(title)
    with transaction.atomic():
        conversation.save(update_fields=["title"])
        ConversationEvent.objects.create(
            conversation=conversation, kind=ConversationEvent.Kind.RENAMED, actor=actor.user, title=conversation.title
        )
        transaction.on_commit(partial(events.conversation_changed, conversation.pk, _member_ids(conversation.pk)))
    return conversation


def conversation_add_member(*, actor: Participant, username: str) -> Participant:
    _require_group_manager(actor)
    (user,) = _users_by_username([username], field="username")
    _refuse_across_blocks(actor.user, [user.pk])
    conversation = actor.conversation
    try:
        with transaction.atomic():
            # A new member starts with the history already read, so they are not greeted by a badge;
            # both pointers name the newest message, as if they had read it.
            latest = Message.objects.filter(conversation=conversation).order_by("-seq").values("pk", "seq").first()
            participant = Participant.objects.create(
                conversation=conversation,
                user=user,
                role=Participant.Role.MEMBER,
                last_read_seq=latest["seq"] if latest else 0,
                last_read_message_id=latest["pk"] if latest else None,
                last_delivered_message_id=latest["pk"] if latest else None,
            )
            ConversationEvent.objects.create(
                conversation=conversation, kind=ConversationEvent.Kind.ADDED, actor=actor.user, subject=user
            )
            transaction.on_commit(partial(events.conversation_changed, conversation.pk, _member_ids(conversation.pk)))
    except IntegrityError:
        raise ChatError(ErrorCode.ALREADY_MEMBER, f"{user.username} is already a member.", field="username")
    return participant


def conversation_remove_member(*, actor: Participant, username: str) -> Participant:
    """An owner or admin removes a member; anyone may remove themselves to leave. Returns the
    membership that ended (its user loaded), for the confirmation to name them."""
    conversation = actor.conversation
    leaving = username.lower() == actor.user.username.lower()
    if not leaving:
        _require_group_manager(actor)
    elif not conversation.is_group:
        raise ChatError(ErrorCode.NOT_A_GROUP, "A direct conversation has exactly its two members.")
    target = (
        Participant.objects.filter(conversation=conversation, user__username__iexact=username)
        .select_related("user")
        .first()
    )
    if target is None:
        raise ChatError(ErrorCode.NOT_A_MEMBER, f"{username} is not a member.", field="username")
    if target.role == Participant.Role.OWNER and not leaving:
        raise ChatError(ErrorCode.FORBIDDEN, "The owner cannot be removed.")
    with transaction.atomic():
        target.delete()
        ConversationEvent.objects.create(
            conversation=conversation,
            kind=ConversationEvent.Kind.LEFT if leaving else ConversationEvent.Kind.REMOVED,
            actor=actor.user,
            subject=target.user,
        )
        if leaving and target.role == Participant.Role.OWNER:
            _hand_over_ownership(conversation)
        remaining = _member_ids(conversation.pk)
        transaction.on_commit(partial(events.member_removed, conversation.pk, target.user_id, remaining))
    return target


def _hand_over_ownership(conversation: Conversation) -> None:
    """A group whose owner leaves passes to its longest-standing admin, else its oldest member."""
    remaining = Participant.objects.filter(conversation=conversation).order_by("joined_at", "id")
    heir = remaining.filter(role=Participant.Role.ADMIN).first() or remaining.first()
    if heir is not None:
        heir.role = Participant.Role.OWNER
        heir.save(update_fields=["role"])


def _move_delivered(participant_id: int, message_id: int) -> bool:
    return bool(
        Participant.objects.filter(pk=participant_id)
        .exclude(last_delivered_message_id__gte=message_id)
        .update(last_delivered_message_id=message_id)
    )


def conversation_mark_read(*, participant: Participant, message_id: int | None = None) -> Participant:
    """Move the reader's pointer forward (to the newest message when none is named); never back."""
    conversation = participant.conversation
    if message_id is None:
        message = Message.objects.filter(conversation=conversation, seq=conversation.last_seq).first()
        if message is None:
            return participant
    else:
        message = message_in_conversation(conversation.pk, message_id)
    with transaction.atomic():
        moved = Participant.objects.filter(pk=participant.pk, last_read_seq__lt=message.seq).update(
            last_read_message_id=message.pk, last_read_seq=message.seq
        )
        _move_delivered(participant.pk, message.pk)
        participant.refresh_from_db()
        if moved:
            transaction.on_commit(partial(events.read_moved, participant))
    return participant


def conversation_mark_delivered(*, participant: Participant, message_id: int) -> Participant:
    """This device has received messages up to `message_id`; the pointer only moves forward."""
    message = message_in_conversation(participant.conversation_id, message_id)
    with transaction.atomic():
        if _move_delivered(participant.pk, message.pk):
            participant.last_delivered_message_id = message.pk
            transaction.on_commit(partial(events.receipt_moved, participant))
    return participant


def _own_live_message(actor: User, message: Message) -> None:
    if message.sender_id != actor.pk:
        raise ChatError(ErrorCode.NOT_AUTHOR, "Only the author can change this message.")
    if message.deleted_at is not None:
        raise ChatError(ErrorCode.MESSAGE_DELETED, "This message was deleted.")


def message_edit(*, actor: User, message: Message, content: str) -> Message:
    """The author rewrites their message; everyone sees it marked edited."""
    _own_live_message(actor, message)
    message.content = _clean_content(content)
    message.edited_at = timezone.now()
    with transaction.atomic():
        message.save(update_fields=["content", "edited_at"])
        transaction.on_commit(partial(events.message_updated, message))
    return message


def message_delete(*, actor: User, message: Message) -> Message:
    """The author deletes their message (a soft delete: it shows as "message deleted")."""
    _own_live_message(actor, message)
    message.deleted_at = timezone.now()
    message.deleted_by = actor
    with transaction.atomic():
        message.save(update_fields=["deleted_at", "deleted_by"])
        transaction.on_commit(partial(events.message_deleted, message))
        transaction.on_commit(partial(events.unread_changed, message))
    return message
