"""Users in the admin: searchable, with their message and report counts, banned and unbanned here."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import User
from chat import moderation
from chat.admin import reason_action
from chat.models import Message, Report


def _count(queryset: QuerySet, field: str) -> Coalesce:
    subquery = queryset.values(field).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(subquery, output_field=IntegerField()), 0)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "display_name", "is_active", "messages", "reports", "created_at")
    list_filter = ("is_active", "is_staff", "email_verified")
    search_fields = ("username", "email", "display_name")
    ordering = ("-created_at",)
    actions = ["ban_users", "unban_users"]
    readonly_fields = ("last_login", "created_at", "last_seen_at")
    fieldsets = (
        (None, {"fields": ("username", "email", "email_verified", "display_name", "password", "email_notifications")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "last_seen_at", "created_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "email", "password1", "password2")}),)

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                message_count=_count(Message.objects.filter(sender=OuterRef("pk")), "sender"),
                report_count=_count(Report.objects.filter(message__sender=OuterRef("pk")), "message__sender"),
            )
        )

    @admin.display(description="messages", ordering="message_count")
    def messages(self, user: User) -> str:
        url = reverse("admin:chat_message_changelist") + f"?sender__id__exact={user.pk}"
        return format_html('<a href="{}">{}</a>', url, user.message_count)

    @admin.display(description="reports against", ordering="report_count")
    def reports(self, user: User) -> str:
        url = reverse("admin:chat_report_changelist") + f"?message__sender__id__exact={user.pk}"
        return format_html('<a href="{}">{}</a>', url, user.report_count)

    ban_users = reason_action(
        "Ban selected users (log out everywhere, refuse logins)",
        "Ban users",
        lambda moderator, u, reason: moderation.user_ban(moderator=moderator, user=u, reason=reason),
    )
    unban_users = reason_action(
        "Reactivate selected users",
        "Reactivate users",
        lambda moderator, u, reason: moderation.user_unban(moderator=moderator, user=u, reason=reason),
    )
