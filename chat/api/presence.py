"""Who of the caller's contacts is online: the batch behind green dots and "last seen 5 min ago"."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import presence, selectors
from chat.api.serializers import UserPublicSerializer


class PresenceSerializer(serializers.Serializer):
    user = UserPublicSerializer()
    online = serializers.BooleanField()
    last_seen_at = serializers.DateTimeField(allow_null=True)


class PresenceListView(APIView):
    """Everyone who shares a conversation with the caller and has not blocked them, in 2 queries and
    one presence lookup.

    The `presence` frames on /ws/notifications/ keep it current after this first fetch.
    """

    @extend_schema(
        responses=PresenceSerializer(many=True),
        description="Everyone who shares a conversation with the caller: online or not, and when last seen.",
    )
    def get(self, request: Request) -> Response:
        users = list(selectors.presence_contacts(request.user.pk).order_by("pk"))
        online = presence.online_user_ids(user.pk for user in users)
        rows = [{"user": user, "online": user.pk in online, "last_seen_at": user.last_seen_at} for user in users]
        return Response(PresenceSerializer(rows, many=True).data)
