from django.urls import register_converter
from django.urls.converters import StringConverter

from brewverse.paths import api_path
from chat.api import presence, safety, views


class UsernameConverter(StringConverter):
    """A username in a URL: any segment but one with a NUL, which PostgreSQL refuses even to compare
    (a 500); such a URL is simply not found."""

    regex = r"[^/\x00]+"


register_converter(UsernameConverter, "username")

urlpatterns = [
    api_path("conversations/", views.ConversationListView.as_view(), name="conversation-list"),
    api_path(
        "conversations/<int:conversation_id>/", views.ConversationDetailView.as_view(), name="conversation-detail"
    ),
    api_path(
        "conversations/direct/<username:username>", views.DirectConversationView.as_view(), name="conversation-direct"
    ),
    api_path(
        "conversations/<int:conversation_id>/read", views.ConversationReadView.as_view(), name="conversation-read"
    ),
    api_path("conversations/<int:conversation_id>/members", views.MemberAddView.as_view(), name="member-add"),
    api_path(
        "conversations/<int:conversation_id>/members/<username:username>",
        views.MemberRemoveView.as_view(),
        name="member-remove",
    ),
    api_path("messages/<int:conversation_id>", views.MessageHistoryView.as_view(), name="message-history"),
    api_path("messages", views.MessageCreateView.as_view(), name="message-create"),
    api_path(
        "messages/<int:conversation_id>/<int:message_id>",
        safety.MessageDetailView.as_view(),
        name="message-detail",
    ),
    api_path(
        "messages/<int:conversation_id>/<int:message_id>/report",
        safety.ReportView.as_view(),
        name="message-report",
    ),
    api_path("users/blocked", safety.BlockedListView.as_view(), name="user-blocked-list"),
    api_path("users/presence", presence.PresenceListView.as_view(), name="user-presence"),
    api_path("users/<username:username>/block", safety.BlockView.as_view(), name="user-block"),
]
