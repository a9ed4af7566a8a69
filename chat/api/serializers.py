"""Output shapes of the contract (User, Message, Conversation) and the input serializers of chat calls.

The output shapes are built by plain functions (`message_payload`, `conversation_payload`, ...): they
are serialized on every message sent and for every row of the conversation list, where DRF's per-field
machinery cost more than everything else (docs/performance.md). The serializer classes keep their
declared fields, from which drf-spectacular builds the schema, and return what the functions build;
`chat/tests/test_serializers.py` checks the two against DRF's own field-by-field output.
"""

from datetime import datetime

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from accounts.serializers import UserPublicSerializer, user_payload
from chat.models import Conversation, Message, Participant

__all__ = [
    "ConversationSerializer",
    "MessageSerializer",
    "UserPublicSerializer",
    "conversation_payload",
    "message_payload",
    "participant_payload",
    "user_payload",
]

# Datetimes exactly as the declared DateTimeFields render them (REST_FRAMEWORK's DATETIME_FORMAT, the
# current time zone, "Z" for UTC). The field keeps no state between calls.
_datetime_field = serializers.DateTimeField()


def _datetime(value: datetime | None) -> str | None:
    return None if value is None else _datetime_field.to_representation(value)


def message_payload(message: Message) -> dict:
    """The `Message` shape. A deleted message keeps its place (`seq`) but never its content."""
    deleted = message.deleted_at is not None
    sender = message.sender
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender": None if sender is None else user_payload(sender),
        "content": "" if deleted else message.content,
        "created_at": _datetime(message.created_at),
        "client_id": message.client_id,
        "edited_at": _datetime(message.edited_at),
        "deleted": deleted,
    }


def participant_payload(participant: Participant) -> dict:
    """A participant: the public `User` shape plus their `role`."""
    user = participant.user
    return {"id": user.pk, "username": user.username, "display_name": user.display_name, "role": str(participant.role)}


def _other_user(conversation: Conversation, viewer: User) -> dict | None:
    """The other person of a direct conversation; None for a group."""
    if conversation.is_group:
        return None
    other = next((p.user for p in conversation.participants.all() if p.user_id != viewer.pk), None)
    return None if other is None else user_payload(other)


def _last_message(conversation: Conversation) -> dict | None:
    latest = getattr(conversation, "latest", None)  # a list of at most one message, from the selector
    return message_payload(latest[0]) if latest else None


def conversation_payload(conversation: Conversation, *, viewer: User) -> dict:
    """The `Conversation` shape as `viewer` sees it; needs `selectors.conversation_list_for`'s rows."""
    return {
        "id": conversation.pk,
        "is_group": conversation.is_group,
        "title": conversation.title,
        "participants": [participant_payload(p) for p in conversation.participants.all()],
        "other_user": _other_user(conversation, viewer),
        "last_message": _last_message(conversation),
        "unread_count": conversation.unread_count,
        "last_read_message_id": conversation.my_last_read_message_id,
        "created_at": _datetime(conversation.created_at),
        "updated_at": _datetime(conversation.updated_at),
    }


class MessageSerializer(serializers.ModelSerializer):
    conversation_id = serializers.IntegerField(read_only=True)
    sender = UserPublicSerializer(read_only=True)
    deleted = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "seq",
            "sender",
            "content",
            "created_at",
            "client_id",
            "edited_at",
            "deleted",
        ]

    def to_representation(self, message: Message) -> dict:
        return message_payload(message)

    def get_deleted(self, message: Message) -> bool:
        return message.deleted_at is not None


class ParticipantSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    display_name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = Participant
        fields = ["id", "username", "display_name", "role"]

    def to_representation(self, participant: Participant) -> dict:
        return participant_payload(participant)


class ConversationSerializer(serializers.ModelSerializer):
    """A conversation as its caller sees it: needs `conversation_list_for`'s annotations and
    `context["user"]`."""

    participants = ParticipantSerializer(many=True, read_only=True)
    other_user = serializers.SerializerMethodField()
    last_message = serializers.SerializerMethodField()
    unread_count = serializers.IntegerField(read_only=True)
    last_read_message_id = serializers.IntegerField(source="my_last_read_message_id", read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "is_group",
            "title",
            "participants",
            "other_user",
            "last_message",
            "unread_count",
            "last_read_message_id",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, conversation: Conversation) -> dict:
        return conversation_payload(conversation, viewer=self.context["user"])

    @extend_schema_field(UserPublicSerializer(allow_null=True))
    def get_other_user(self, conversation: Conversation) -> dict | None:
        return _other_user(conversation, self.context["user"])

    @extend_schema_field(MessageSerializer(allow_null=True))
    def get_last_message(self, conversation: Conversation) -> dict | None:
        return _last_message(conversation)


class ClientIdField(serializers.CharField):
    """A client's own id for what it sends: a string on REST as on the sockets (DRF would take a number
    and make it one), with the socket's wording."""

    default_error_messages = dict.fromkeys(
        ["invalid", "max_length"], "'client_id' must be a string of at most 64 characters."
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=64, required=False, allow_null=True, allow_blank=True, **kwargs)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class GroupCreateInput(serializers.Serializer):
    title = serializers.CharField(max_length=120)
    usernames = serializers.ListField(child=serializers.CharField(max_length=254), max_length=500, default=list)
    client_id = ClientIdField()


class TitleInput(serializers.Serializer):
    title = serializers.CharField(max_length=120)


class UsernameInput(serializers.Serializer):
    username = serializers.CharField(max_length=254)


class ReadInput(serializers.Serializer):
    message_id = serializers.IntegerField(min_value=1, required=False)


class ReadResult(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    last_read_message_id = serializers.IntegerField(allow_null=True)
    unread_count = serializers.IntegerField()


@extend_schema_field({"type": "string", "maxLength": settings.MESSAGE_MAX_LENGTH})
class ContentField(serializers.CharField):
    """Message content as sent. Trimming and length are checked by the services, the one rule for REST
    and sockets alike, so content too long by any amount is `content_too_long` (DRF's max_length would
    answer its own message); the request size limit keeps absurd bodies out."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_blank=True, trim_whitespace=False, **kwargs)


class MessageCreateInput(serializers.Serializer):
    conversation_id = serializers.IntegerField(min_value=1)
    content = ContentField()
    client_id = ClientIdField()


class HistoryQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50, help_text="How many messages, at most.")
    before = serializers.IntegerField(
        min_value=1, required=False, help_text="The newest messages with an id below this one (scrolling back)."
    )
    after = serializers.IntegerField(
        min_value=0, required=False, help_text="The oldest messages with an id above this one (catching up)."
    )

    def validate(self, attrs: dict) -> dict:
        if "before" in attrs and "after" in attrs:
            raise serializers.ValidationError("Use either before or after, not both.")
        return attrs
