"""The chat pages (the REST API is in chat/api/urls.py)."""

from django.urls import path

from chat import views

urlpatterns = [
    path("", views.app, name="app"),
    path("c/<int:conversation_id>/", views.conversation, name="conversation"),
    path("c/<int:conversation_id>/settings", views.group_settings, name="conversation-settings"),
    path("c/<int:conversation_id>/block", views.conversation_block, name="conversation-block"),
    path("new", views.new_conversation, name="new-conversation"),
]
