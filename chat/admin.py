"""The Django admin for chat: conversations with their participants inline, messages searchable."""

from django.contrib import admin

from chat.models import Conversation, Message, Participant


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "last_read_message_id", "last_delivered_message_id", "joined_at"]
    readonly_fields = ["last_read_message_id", "last_delivered_message_id", "joined_at"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "is_group", "last_seq", "created_at", "updated_at"]
    list_filter = ["is_group", "created_at"]
    search_fields = ["title", "participants__user__username"]
    readonly_fields = ["direct_key", "last_seq", "created_at", "updated_at"]
    inlines = [ParticipantInline]
    date_hierarchy = "updated_at"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "seq", "sender", "short_content", "created_at"]
    list_filter = ["created_at", "conversation__is_group"]
    search_fields = ["content", "sender__username", "conversation__title"]
    list_select_related = ["sender", "conversation"]
    readonly_fields = ["conversation", "sender", "seq", "client_id", "created_at"]
    date_hierarchy = "created_at"

    @admin.display(description="content")
    def short_content(self, message: Message) -> str:
        return message.content if len(message.content) <= 80 else message.content[:79] + "…"
