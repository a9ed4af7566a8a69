"""Safety calls of the REST API: editing and deleting one's messages, reports, blocks."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.serializers import UserPublicSerializer
from chat import moderation, selectors, services
from chat.api.serializers import ContentField, MessageSerializer
from chat.errors import ChatError, ErrorCode
from chat.models import Message


class ContentInput(serializers.Serializer):
    content = ContentField()


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, allow_blank=True)


class ReportOutput(serializers.Serializer):
    id = serializers.IntegerField()
    message_id = serializers.IntegerField()
    reason = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


def _message_for(user: User, conversation_id: int, message_id: int) -> Message:
    """A message of a conversation the user takes part in; 404 otherwise, like the conversation."""
    selectors.participant_get(user, conversation_id)
    return selectors.message_in_conversation(conversation_id, message_id)


class MessageDetailView(APIView):
    @extend_schema(request=ContentInput, responses=MessageSerializer, description="Edit one of your own messages.")
    def patch(self, request: Request, conversation_id: int, message_id: int) -> Response:
        message = _message_for(request.user, conversation_id, message_id)
        data = ContentInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_edit(actor=request.user, message=message, content=data.validated_data["content"])
        return Response(MessageSerializer(message).data)

    @extend_schema(
        request=None,
        responses={204: None},
        description="Delete one of your own messages: it keeps its place (`seq`), with no content.",
    )
    def delete(self, request: Request, conversation_id: int, message_id: int) -> Response:
        message = _message_for(request.user, conversation_id, message_id)
        services.message_delete(actor=request.user, message=message)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReportView(APIView):
    @extend_schema(
        request=ReasonInput,
        responses={201: ReportOutput},
        description="Report someone else's message to the moderators, once.",
    )
    def post(self, request: Request, conversation_id: int, message_id: int) -> Response:
        message = _message_for(request.user, conversation_id, message_id)
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = moderation.report_create(reporter=request.user, message=message, reason=data.validated_data["reason"])
        return Response(ReportOutput(report).data, status=status.HTTP_201_CREATED)


def _user_named(username: str) -> User:
    user = User.objects.filter(username__iexact=username).first()
    if user is None:
        raise ChatError(ErrorCode.USER_NOT_FOUND, "User not found.")
    return user


class BlockView(APIView):
    @extend_schema(
        request=None,
        responses={201: UserPublicSerializer, 200: UserPublicSerializer},
        description="Block a user: 201, or 200 when they are blocked already.",
    )
    def post(self, request: Request, username: str) -> Response:
        blocked = _user_named(username)
        _, created = moderation.user_block(blocker=request.user, blocked=blocked)
        return Response(UserPublicSerializer(blocked).data, status=201 if created else 200)

    @extend_schema(request=None, responses={204: None}, description="Lift a block: 204, or 404 when there is none.")
    def delete(self, request: Request, username: str) -> Response:
        if not moderation.user_unblock(blocker=request.user, blocked=_user_named(username)):
            raise ChatError(ErrorCode.NOT_BLOCKED, "You do not block this user.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlockedListView(APIView):
    @extend_schema(responses=UserPublicSerializer(many=True), description="The users the caller blocks.")
    def get(self, request: Request) -> Response:
        users = User.objects.filter(blocks_received__blocker=request.user).order_by("username")
        return Response(UserPublicSerializer(users, many=True).data)
