"""Moderation and safety writes: reports, removal and restoring of messages, bans, blocks.

Every moderator action writes its `AuditEntry` in the same transaction as the change itself, so
the record can never miss an action that happened. Events go out after commit, as in services.
"""

from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from chat import events, presence, selectors
from chat.errors import ChatError, ErrorCode
from chat.models import AuditEntry, Block, Message, Participant, Report


def report_create(*, reporter: User, message: Message, reason: str) -> Report:
    """A participant reports someone else's message once; the moderators find it in the admin's report
    queue. A deleted message has nothing left to moderate."""
    if message.sender_id == reporter.pk:
        raise ChatError(ErrorCode.INVALID, "You cannot report your own message.")
    if message.deleted_at is not None:
        raise ChatError(ErrorCode.MESSAGE_DELETED, "This message was deleted.")
    reason = reason.strip()
    if not reason:
        raise ChatError(ErrorCode.INVALID, "Say why you report this message.", field="reason")
    try:
        with transaction.atomic():
            return Report.objects.create(message=message, reporter=reporter, reason=reason)
    except IntegrityError:
        raise ChatError(ErrorCode.ALREADY_REPORTED, "You already reported this message.", field="message_id")


def report_resolve(*, moderator: User, report: Report, reason: str = "") -> Report:
    if report.status == Report.Status.RESOLVED:
        return report
    with transaction.atomic():
        report.status = Report.Status.RESOLVED
        report.resolved_at = timezone.now()
        report.resolved_by = moderator
        report.save(update_fields=["status", "resolved_at", "resolved_by"])
        AuditEntry.objects.create(
            actor=moderator,
            action=AuditEntry.Action.REPORT_RESOLVED,
            target_user=report.message.sender,
            target_message=report.message,
            reason=reason or f"report {report.pk}: {report.reason}",
        )
    return report


def _set_removed(*, moderator: User, message: Message, reason: str, removed: bool) -> Message:
    """Soft-delete (or bring back) a message for everyone, on record; open windows follow at once."""
    if (message.deleted_at is not None) == removed:
        return message
    with transaction.atomic():
        message.deleted_at = timezone.now() if removed else None
        message.deleted_by = moderator if removed else None
        message.save(update_fields=["deleted_at", "deleted_by"])
        AuditEntry.objects.create(
            actor=moderator,
            action=AuditEntry.Action.REMOVE if removed else AuditEntry.Action.RESTORE,
            target_user=message.sender,
            target_message=message,
            reason=reason,
        )
        announce = events.message_deleted if removed else events.message_updated
        transaction.on_commit(partial(announce, message))
        transaction.on_commit(partial(events.unread_changed, message))
    return message


def message_remove(*, moderator: User, message: Message, reason: str) -> Message:
    return _set_removed(moderator=moderator, message=message, reason=reason, removed=True)


def message_restore(*, moderator: User, message: Message, reason: str) -> Message:
    return _set_removed(moderator=moderator, message=message, reason=reason, removed=False)


def report_remove_message(*, moderator: User, report: Report, reason: str) -> Report:
    """Remove the reported message and resolve the report, in one transaction."""
    with transaction.atomic():
        message_remove(moderator=moderator, message=report.message, reason=reason)
        return report_resolve(moderator=moderator, report=report, reason=reason)


def user_ban(*, moderator: User, user: User, reason: str) -> User:
    """Deactivate a user: logins fail, every token stops working, every open socket closes."""
    if not user.is_active:
        return user
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        # Access tokens are refused because the user is inactive; refresh tokens are blacklisted too,
        # so they stay dead even if the user is reactivated later.
        outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
        )
        AuditEntry.objects.create(actor=moderator, action=AuditEntry.Action.BAN, target_user=user, reason=reason)
        conversation_ids = list(Participant.objects.filter(user=user).values_list("conversation_id", flat=True))
        transaction.on_commit(partial(events.sockets_revoked, user.pk, conversation_ids))
    return user


def user_unban(*, moderator: User, user: User, reason: str) -> User:
    if user.is_active:
        return user
    with transaction.atomic():
        user.is_active = True
        user.save(update_fields=["is_active"])
        AuditEntry.objects.create(actor=moderator, action=AuditEntry.Action.UNBAN, target_user=user, reason=reason)
    return user


def user_block(*, blocker: User, blocked: User) -> tuple[Block, bool]:
    """Block a user; returns (block, created). Blocking again changes nothing."""
    if blocker.pk == blocked.pk:
        raise ChatError(ErrorCode.INVALID, "You cannot block yourself.", field="username")
    with transaction.atomic():
        block, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
        if created:
            transaction.on_commit(partial(_announce_blocks, blocker.pk))
            transaction.on_commit(partial(_show_presence, blocker, blocked.pk, hidden=True))
    return block, created


def user_unblock(*, blocker: User, blocked: User) -> bool:
    """Lift a block; returns whether there was one."""
    with transaction.atomic():
        deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
        if deleted:
            transaction.on_commit(partial(_announce_blocks, blocker.pk))
            transaction.on_commit(partial(_show_presence, blocker, blocked.pk, hidden=False))
    return bool(deleted)


@events.after_commit  # presence lives in Redis: an outage must not turn the committed block into a 500
def _show_presence(user: User, viewer_id: int, *, hidden: bool) -> None:
    """A block makes the blocker look offline to the blocked user at once; an unblock shows their
    presence again. Only between contacts: nobody else sees it anyway."""
    if selectors.contacts_of(viewer_id).filter(pk=user.pk).exists():
        events.presence_shown(user, viewer_id, None if hidden else presence.is_online(user.pk))


def _announce_blocks(user_id: int) -> None:
    conversation_ids = list(Participant.objects.filter(user_id=user_id).values_list("conversation_id", flat=True))
    events.blocks_changed(user_id, conversation_ids)
