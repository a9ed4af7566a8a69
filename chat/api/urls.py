from django.urls import path, register_converter
from django.urls.converters import StringConverter

from chat.api import presence, safety, views


class UsernameConverter(StringConverter):
    """A username in a URL: any segment but one with a NUL, which PostgreSQL refuses even to compare
    (a 500); such a URL is simply not found."""

    regex = r"[^/\x00]+"


register_converter(UsernameConverter, "username")

urlpatterns = [
    path("conversations/", views.ConversationListView.as_view(), name="conversation-list"),
    path("conversations/<int:conversation_id>/", views.ConversationDetailView.as_view(), name="conversation-detail"),
    path(
        "conversations/direct/<username:username>", views.DirectConversationView.as_view(), name="conversation-direct"
    ),
    path("conversations/<int:conversation_id>/read", views.ConversationReadView.as_view(), name="conversation-read"),
    path("conversations/<int:conversation_id>/members", views.MemberAddView.as_view(), name="member-add"),
    path(
        "conversations/<int:conversation_id>/members/<username:username>",
        views.MemberRemoveView.as_view(),
        name="member-remove",
    ),
    path("messages/<int:conversation_id>", views.MessageHistoryView.as_view(), name="message-history"),
    path("messages", views.MessageCreateView.as_view(), name="message-create"),
    path(
        "messages/<int:conversation_id>/<int:message_id>",
        safety.MessageDetailView.as_view(),
        name="message-detail",
    ),
    path(
        "messages/<int:conversation_id>/<int:message_id>/report",
        safety.ReportView.as_view(),
        name="message-report",
    ),
    path("users/blocked", safety.BlockedListView.as_view(), name="user-blocked-list"),
    path("users/presence", presence.PresenceListView.as_view(), name="user-presence"),
    path("users/<username:username>/block", safety.BlockView.as_view(), name="user-block"),
]
