"""Conversations, their participants and their messages.

The database itself enforces what must never break: one direct conversation per pair of users
(`direct_key`), gap-free unique `seq` per conversation (taken from `last_seq` under the
conversation's row lock), one message per (conversation, sender, client_id), and one group per
(creator, client_id).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Conversation(models.Model):
    is_group = models.BooleanField(default=False)
    title = models.CharField(max_length=120, blank=True)
    # "<smaller user id>:<larger user id>" for direct conversations, NULL for groups.
    direct_key = models.CharField(max_length=41, null=True, blank=True, unique=True, editable=False)
    # The seq of the newest message: the counter unread counts are computed from.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Who created a group, and the client's own id for that request: a retried creation finds the first.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # NULL, not "", means "no client_id", as for messages.
    client_id = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001

    class Meta:
        indexes = [models.Index(fields=["-updated_at", "-id"], name="conversation_recent_idx")]
        constraints = [
            models.UniqueConstraint(fields=["created_by", "client_id"], name="conversation_client_id_per_creator"),
            models.CheckConstraint(
                condition=Q(is_group=True, direct_key__isnull=True) | Q(is_group=False, direct_key__isnull=False),
                name="conversation_direct_key_iff_direct",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Participant(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    last_read_message_id = models.PositiveBigIntegerField(null=True, blank=True)
    # The seq of the last read message, so unread = conversation.last_seq - last_read_seq.
    last_read_seq = models.PositiveBigIntegerField(default=0)
    last_delivered_message_id = models.PositiveBigIntegerField(null=True, blank=True)
    # The seq up to which the away-notifier has emailed this participant (never emails twice).
    last_emailed_seq = models.PositiveBigIntegerField(default=0)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="participant_unique_per_conversation")
        ]
        indexes = [models.Index(fields=["user", "conversation"], name="participant_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} in {self.conversation_id}"

    @property
    def can_manage(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    content = models.TextField()
    # NULL, not "", means "no client_id", so the uniqueness below only binds real ids.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    # Soft delete: by its author or by a moderator (restorable); the content stays for the record
    # but is never shown or returned while deleted_at is set.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "sender", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]
        # History pages walk a conversation by id; (conversation, seq) is covered by the constraint.
        # Unread counts leave deleted messages out: they are few, and found through an index of their own.
        indexes = [
            models.Index(fields=["conversation", "id"], name="message_history_idx"),
            models.Index(
                fields=["conversation", "seq"], condition=Q(deleted_at__isnull=False), name="message_deleted_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.conversation_id} by {self.sender_id}"


class Report(models.Model):
    """A participant's report of a message, queued for the moderators."""

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_filed")
    reason = models.TextField(max_length=1000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "reporter"], name="report_once_per_user")]
        ordering = ["status", "-created_at"]

    def __str__(self) -> str:
        return f"Report {self.pk} on message {self.message_id}"


class Block(models.Model):
    """`blocker` no longer hears from `blocked`: no direct messages either way, group messages hidden."""

    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["blocker", "blocked"], name="block_once")]

    def __str__(self) -> str:
        return f"{self.blocker} blocks {self.blocked}"


class AuditEntry(models.Model):
    """One moderation action, on record for good: who did what to whom, when and why."""

    class Action(models.TextChoices):
        BAN = "ban"
        UNBAN = "unban"
        REMOVE = "remove"
        RESTORE = "restore"
        REPORT_RESOLVED = "report_resolved"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="audit_actions")
    action = models.CharField(max_length=20, choices=Action.choices)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries"
    )
    target_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor} {self.action} at {self.created_at:%Y-%m-%d %H:%M}"


class SocketPresence(models.Model):
    """One open socket, on the embedded defaults (with Redis, chat.presence keeps these there).

    A user is online while one of their rows has not expired; a live socket pushes `expires_at`
    forward with its heartbeat, so the rows of a crashed process stop counting after PRESENCE_TTL.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The socket's channel name: unique per socket, in every process.
    socket_id = models.CharField(max_length=200, unique=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"], name="presence_user_expiry_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.socket_id}"


class ConversationEvent(models.Model):
    """Something that happened to a group, kept for its timeline: "Alice added Dave", "Carol left".

    Written by the service that made the change, in the same transaction; read by
    `selectors.conversation_events` and shown between the messages by time.
    """

    class Kind(models.TextChoices):
        CREATED = "created", "created"
        RENAMED = "renamed", "renamed"
        ADDED = "added", "added"
        REMOVED = "removed", "removed"
        LEFT = "left", "left"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Who did it, and to whom (added, removed, left); kept as None if either account goes.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(max_length=120, blank=True)  # the group's title after a creation or rename
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="conversation_event_time_idx")]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.kind} at {self.created_at:%Y-%m-%d %H:%M}"
