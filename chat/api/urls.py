from django.urls import path

from chat.api import views

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
]
