"""Output shapes of the contract (User, Message, Conversation) and the input serializers of chat calls."""

from django.conf import settings
from rest_framework import serializers

from accounts.serializers import UserPublicSerializer
from chat.models import Conversation, Message, Participant

__all__ = ["ConversationSerializer", "MessageSerializer", "UserPublicSerializer"]


class MessageSerializer(serializers.ModelSerializer):
    conversation_id = serializers.IntegerField(read_only=True)
    sender = UserPublicSerializer(read_only=True)

    class Meta:
        model = Message
        fields = ["id", "conversation_id", "seq", "sender", "content", "created_at", "client_id", "edited_at"]

    def to_representation(self, message: Message) -> dict:
        data = super().to_representation(message)
        data["deleted"] = message.deleted_at is not None
        if data["deleted"]:
            data["content"] = ""
        return data


class ParticipantSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    display_name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = Participant
        fields = ["id", "username", "display_name", "role"]


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

    def get_other_user(self, conversation: Conversation) -> dict | None:
        if conversation.is_group:
            return None
        me = self.context["user"].pk
        other = next((p.user for p in conversation.participants.all() if p.user_id != me), None)
        return UserPublicSerializer(other).data if other else None

    def get_last_message(self, conversation: Conversation) -> dict | None:
        latest = getattr(conversation, "latest", None)
        return MessageSerializer(latest[0]).data if latest else None


class GroupCreateInput(serializers.Serializer):
    title = serializers.CharField(max_length=120)
    usernames = serializers.ListField(child=serializers.CharField(max_length=254), max_length=500, default=list)


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


class MessageCreateInput(serializers.Serializer):
    conversation_id = serializers.IntegerField(min_value=1)
    # Trimming and length are checked by message_send, the one rule for REST and sockets alike;
    # the generous max_length only keeps absurd bodies out.
    content = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=settings.MESSAGE_MAX_LENGTH * 4)
    client_id = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)


class HistoryQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    before = serializers.IntegerField(min_value=1, required=False)
    after = serializers.IntegerField(min_value=0, required=False)

    def validate(self, attrs: dict) -> dict:
        if "before" in attrs and "after" in attrs:
            raise serializers.ValidationError("Use either before or after, not both.")
        return attrs
