"""Conversations, their participants and their messages.

The database itself enforces what must never break: one direct conversation per pair of users
(`direct_key`), gap-free unique `seq` per conversation (taken from `last_seq` under the
conversation's row lock), and one message per (conversation, sender, client_id).
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

    class Meta:
        indexes = [models.Index(fields=["-updated_at", "-id"], name="conversation_recent_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_group=True, direct_key__isnull=True) | Q(is_group=False, direct_key__isnull=False),
                name="conversation_direct_key_iff_direct",
            )
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
        indexes = [models.Index(fields=["conversation", "id"], name="message_history_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.conversation_id} by {self.sender_id}"
