from django.urls import path

from chat.api import presence, safety, views

urlpatterns = [
    path("conversations/", views.ConversationListView.as_view(), name="conversation-list"),
    path("conversations/<int:conversation_id>/", views.ConversationDetailView.as_view(), name="conversation-detail"),
    path("conversations/direct/<str:username>", views.DirectConversationView.as_view(), name="conversation-direct"),
    path("conversations/<int:conversation_id>/read", views.ConversationReadView.as_view(), name="conversation-read"),
    path("conversations/<int:conversation_id>/members", views.MemberAddView.as_view(), name="member-add"),
    path(
        "conversations/<int:conversation_id>/members/<str:username>",
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
    path("users/<str:username>/block", safety.BlockView.as_view(), name="user-block"),
]
