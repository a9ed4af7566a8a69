"""The Django admin for moderators: the report queue first, messages in context, an audit trail.

Actions that change what users see (remove, restore, ban, unban, resolve) ask for a reason on an
intermediate page and go through `chat.moderation`, which writes the audit entry.
"""

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.models import User
from chat import moderation
from chat.models import AuditEntry, Block, Conversation, Message, Participant, Report


def with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    apply: Callable[[object, str], None],
) -> HttpResponse | None:
    """Run `apply(obj, reason)` on each selected object once the moderator has given a reason."""
    reason = request.POST.get("reason", "").strip()
    if request.POST.get("confirm") and reason:
        for obj in queryset:
            apply(obj, reason)
        modeladmin.message_user(request, f"{title}: done for {queryset.count()} item(s).", messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "objects": queryset,
        "action": request.POST.get("action"),
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "missing_reason": bool(request.POST.get("confirm")),
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/moderation_reason.html", context)


def reason_action(description: str, title: str, apply: Callable[[User, object, str], None]) -> Callable:
    """An admin action that asks for a reason, then calls `apply(moderator, obj, reason)` per object."""

    @admin.action(description=description)
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return with_reason(
            modeladmin, request, queryset, title=title, apply=lambda obj, reason: apply(request.user, obj, reason)
        )

    return action


def admin_link(obj, label: str | None = None) -> str:
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


class KeptRecordAdmin(admin.ModelAdmin):
    """Records nobody adds or hard-deletes by hand: messages are removed softly, with an audit entry."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyRecordAdmin(KeptRecordAdmin):
    """Reports change only through their actions; the audit log never changes, even for a superuser."""

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


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
    readonly_fields = ["direct_key", "last_seq", "created_at", "updated_at", "recent_messages"]
    inlines = [ParticipantInline]
    date_hierarchy = "updated_at"

    @admin.display(description="messages")
    def recent_messages(self, conversation: Conversation) -> str:
        url = reverse("admin:chat_message_changelist") + f"?conversation__id__exact={conversation.pk}"
        return format_html('<a href="{}">All {} messages</a>', url, conversation.last_seq)


@admin.register(Message)
class MessageAdmin(KeptRecordAdmin):
    list_display = ["id", "conversation_link", "seq", "sender_link", "short_content", "is_deleted", "created_at"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter), "created_at", "conversation__is_group"]
    search_fields = ["content", "sender__username", "conversation__title", "=conversation__id"]
    list_select_related = ["sender", "conversation"]
    readonly_fields = [
        "conversation",
        "sender",
        "seq",
        "content",
        "client_id",
        "created_at",
        "edited_at",
        "deleted_at",
        "deleted_by",
        "context",
    ]
    date_hierarchy = "created_at"
    actions = ["remove_messages", "restore_messages"]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The user list links here with its "messages" count.
        return lookup == "sender__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="conversation", ordering="conversation")
    def conversation_link(self, message: Message) -> str:
        return admin_link(message.conversation)

    @admin.display(description="sender", ordering="sender__username")
    def sender_link(self, message: Message) -> str:
        return admin_link(message.sender)

    @admin.display(description="content")
    def short_content(self, message: Message) -> str:
        return message.content if len(message.content) <= 80 else message.content[:79] + "…"

    @admin.display(description="deleted", boolean=True)
    def is_deleted(self, message: Message) -> bool:
        return message.deleted_at is not None

    @admin.display(description="in context")
    def context(self, message: Message) -> str:
        """The message among its neighbours. Every user-written part is a format_html_join argument,
        escaped once and never parsed as a format string (a message saying `{}` must not break it)."""
        around = Message.objects.filter(
            conversation_id=message.conversation_id, seq__gte=message.seq - 5, seq__lte=message.seq + 5
        ).select_related("sender")
        highlight = mark_safe(' style="background:#fff3cd"')
        rows = format_html_join(
            "",
            "<tr{}><td>#{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    highlight if m.pk == message.pk else "",
                    m.seq,
                    m.sender.username,
                    ("[deleted] " if m.deleted_at else "") + m.content,
                )
                for m in around
            ),
        )
        return format_html("<table>{}</table>", rows)

    remove_messages = reason_action(
        "Remove selected messages (soft delete, for everyone)",
        "Remove messages",
        lambda moderator, m, reason: moderation.message_remove(moderator=moderator, message=m, reason=reason),
    )
    restore_messages = reason_action(
        "Restore selected messages",
        "Restore messages",
        lambda moderator, m, reason: moderation.message_restore(moderator=moderator, message=m, reason=reason),
    )


@admin.register(Report)
class ReportAdmin(ReadOnlyRecordAdmin):
    list_display = ["id", "status", "message_link", "sender", "reporter", "reason", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["reason", "message__content", "reporter__username", "message__sender__username"]
    list_select_related = ["message__sender", "reporter"]
    readonly_fields = ["message_link", "sender", "reporter", "reason", "created_at", "resolved_at", "resolved_by"]
    fields = [*readonly_fields, "status"]
    actions = ["remove_and_resolve", "resolve_reports", "ban_senders"]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The user list links here with its "reports against" count.
        return lookup == "message__sender__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="message")
    def message_link(self, report: Report) -> str:
        return admin_link(report.message, f"#{report.message.seq}: {report.message.content[:60]}")

    @admin.display(description="sender", ordering="message__sender__username")
    def sender(self, report: Report) -> str:
        return admin_link(report.message.sender)

    remove_and_resolve = reason_action(
        "Remove the reported messages and resolve",
        "Remove reported messages",
        lambda moderator, r, reason: moderation.report_remove_message(moderator=moderator, report=r, reason=reason),
    )
    resolve_reports = reason_action(
        "Resolve without removing",
        "Resolve reports",
        lambda moderator, r, reason: moderation.report_resolve(moderator=moderator, report=r, reason=reason),
    )
    ban_senders = reason_action(
        "Ban the senders of the reported messages",
        "Ban senders",
        lambda moderator, r, reason: moderation.user_ban(moderator=moderator, user=r.message.sender, reason=reason),
    )


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyRecordAdmin):
    """Read-only: the record of moderation cannot be edited or deleted, even by a superuser."""

    list_display = ["created_at", "actor", "action", "target_user", "target_message", "reason"]
    list_filter = ["action", "created_at"]
    search_fields = ["actor__username", "target_user__username", "reason"]
    list_select_related = ["actor", "target_user", "target_message"]
    date_hierarchy = "created_at"


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    search_fields = ["blocker__username", "blocked__username"]
    list_select_related = ["blocker", "blocked"]
