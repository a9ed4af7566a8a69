"""The chat REST API: one small view per operation; validation in serializers, work in services."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from brewverse.schema import ERROR
from chat import selectors, services
from chat.api.pagination import LINK_HEADER, ConversationPagination
from chat.api.serializers import (
    ConversationSerializer,
    GroupCreateInput,
    HistoryQuery,
    MessageCreateInput,
    MessageSerializer,
    ReadInput,
    ReadResult,
    TitleInput,
    UsernameInput,
)
from chat.errors import ChatError, ErrorCode
from chat.ratelimit import MessagePostThrottle


def _conversation_response(request: Request, conversation_id: int, status_code: int = 200) -> Response:
    conversation = selectors.conversation_get_for(request.user, conversation_id)
    data = ConversationSerializer(conversation, context={"user": request.user}).data
    return Response(data, status=status_code)


class ConversationListView(APIView):
    # GET pages; the POST (a new group) answers one conversation and is not paginated.
    pagination_class = ConversationPagination

    @extend_schema(
        responses=ConversationSerializer(many=True),
        parameters=[LINK_HEADER],
        description="The caller's conversations, most recently active first, a page at a time: the `Link` "
        "header leads to the next page.",
    )
    def get(self, request: Request) -> Response:
        """A page of the caller's conversations, most recently active first; the `Link` header leads on."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.conversation_list_for(request.user), request, view=self)
        return paginator.get_paginated_response(
            ConversationSerializer(page, many=True, context={"user": request.user}).data
        )

    @extend_schema(
        request=GroupCreateInput,
        responses={201: ConversationSerializer, 200: ConversationSerializer},
        description="A new group owned by the caller, with the named users as members: 201. With a "
        "`client_id` the caller already used, 200 with that first group, so a retry never makes two.",
    )
    def post(self, request: Request) -> Response:
        data = GroupCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation, created = services.conversation_get_or_create_group(creator=request.user, **data.validated_data)
        return _conversation_response(request, conversation.pk, 201 if created else 200)


class ConversationDetailView(APIView):
    @extend_schema(responses=ConversationSerializer, description="One of the caller's conversations.")
    def get(self, request: Request, conversation_id: int) -> Response:
        return _conversation_response(request, conversation_id)

    @extend_schema(
        request=TitleInput, responses=ConversationSerializer, description="Rename a group (its owner or an admin)."
    )
    def patch(self, request: Request, conversation_id: int) -> Response:
        actor = selectors.participant_get(request.user, conversation_id)
        data = TitleInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.conversation_rename(actor=actor, title=data.validated_data["title"])
        return _conversation_response(request, conversation_id)


class DirectConversationView(APIView):
    @extend_schema(
        request=None,
        responses={200: ConversationSerializer, 201: ConversationSerializer},
        description="The caller's direct conversation with this user: 201 when it is new, 200 when it exists.",
    )
    def post(self, request: Request, username: str) -> Response:
        other = User.objects.filter(username__iexact=username, is_active=True).first()
        if other is None:
            raise ChatError(ErrorCode.USER_NOT_FOUND, "User not found.")
        conversation, created = services.conversation_get_or_create_direct(user=request.user, other=other)
        return _conversation_response(request, conversation.pk, 201 if created else 200)


class ConversationReadView(APIView):
    @extend_schema(
        request=ReadInput,
        responses=ReadResult,
        description="Mark the conversation read up to `message_id`, or up to its newest message; the read "
        "pointer never moves back.",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        participant = selectors.participant_get(request.user, conversation_id)
        data = ReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.conversation_mark_read(participant=participant, **data.validated_data)
        return Response(
            {
                "conversation_id": conversation_id,
                "last_read_message_id": participant.last_read_message_id,
                "unread_count": selectors.participant_unread(participant.pk),
            }
        )


class MemberAddView(APIView):
    @extend_schema(
        request=UsernameInput,
        responses={201: ConversationSerializer},
        description="Add a member to a group (its owner or an admin).",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        actor = selectors.participant_get(request.user, conversation_id)
        data = UsernameInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.conversation_add_member(actor=actor, username=data.validated_data["username"])
        return _conversation_response(request, conversation_id, status.HTTP_201_CREATED)


class MemberRemoveView(APIView):
    @extend_schema(
        request=None,
        responses={204: None},
        description="Remove a member from a group (its owner or an admin), or leave it (your own username).",
    )
    def delete(self, request: Request, conversation_id: int, username: str) -> Response:
        actor = selectors.participant_get(request.user, conversation_id)
        services.conversation_remove_member(actor=actor, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageHistoryView(APIView):
    @extend_schema(
        parameters=[HistoryQuery],
        responses=MessageSerializer(many=True),
        description="A page of the conversation's messages in ascending id order: the newest `limit`, or "
        "those before `before`, or after `after` (not both).",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        selectors.participant_get(request.user, conversation_id)
        query = HistoryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        messages = selectors.message_history(conversation_id, viewer_id=request.user.pk, **query.validated_data)
        return Response(MessageSerializer(messages, many=True).data)


class MessageCreateView(APIView):
    throttle_classes = [MessagePostThrottle]

    # 404 for a conversation_id in the body that the caller is not in.
    @extend_schema(
        request=MessageCreateInput,
        responses={200: MessageSerializer, 201: MessageSerializer, 404: ERROR},
        description="Send a message: 201. With a `client_id` the sender already used in this conversation, "
        "200 with the first message, so a retry never duplicates one.",
    )
    def post(self, request: Request) -> Response:
        data = MessageCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        participant = selectors.participant_get(request.user, data.validated_data["conversation_id"])
        message, created = services.message_send(
            sender=request.user,
            conversation=participant.conversation,
            content=data.validated_data["content"],
            client_id=data.validated_data.get("client_id"),
        )
        return Response(MessageSerializer(message).data, status=201 if created else 200)
