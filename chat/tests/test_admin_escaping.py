"""Every admin page stays up, and escapes, whatever users write: format strings and HTML alike.

Usernames allow only letters, digits, dots, dashes and underscores, so the hostile text goes into
every free-text field users control: message content, display names, group titles, report reasons
(and, for the audit log, the moderator's reason).
"""

import pytest

from chat import moderation, services
from chat.models import AuditEntry, Message, Report

HOSTILE = ["abuse {} here", "{0} and {1}", "100%s sure %(name)s", "{{ braces }}", "<script>alert(1)</script>"]


@pytest.fixture
def hostile(moderator, alice, bob, carol):
    """A group titled, peopled and filled with hostile text, its messages reported and removed."""
    for user, text in ((alice, HOSTILE[0]), (bob, HOSTILE[4]), (carol, HOSTILE[2])):
        user.display_name = text
        user.save(update_fields=["display_name"])
    group = services.conversation_create_group(creator=alice, title=HOSTILE[4] + HOSTILE[0], usernames=["bob", "carol"])
    messages = [services.message_send(sender=bob, conversation=group, content=text)[0] for text in HOSTILE]
    for message, reason in zip(messages, reversed(HOSTILE), strict=True):
        report = moderation.report_create(reporter=carol, message=message, reason=reason)
        moderation.report_resolve(moderator=moderator, report=report, reason=reason)
    moderation.message_remove(moderator=moderator, message=messages[0], reason=HOSTILE[1])
    return group


def admin_pages(group) -> list[str]:
    """Every list and change page that shows what users wrote."""
    pages = [
        "/admin/chat/message/",
        "/admin/chat/message/?q=%7B%7D",
        "/admin/chat/report/",
        "/admin/chat/conversation/",
        f"/admin/chat/conversation/{group.pk}/change/",
        "/admin/chat/auditentry/",
        "/admin/accounts/user/",
        "/admin/chat/block/",
    ]
    pages += [f"/admin/chat/message/{pk}/change/" for pk in Message.objects.values_list("pk", flat=True)]
    pages += [f"/admin/chat/report/{pk}/change/" for pk in Report.objects.values_list("pk", flat=True)]
    pages += [f"/admin/chat/auditentry/{pk}/change/" for pk in AuditEntry.objects.values_list("pk", flat=True)]
    pages += [f"/admin/accounts/user/{pk}/change/" for pk in group.participants.values_list("user", flat=True)]
    return pages


@pytest.mark.django_db
def test_every_admin_page_survives_and_escapes_hostile_text(admin_client, hostile):
    for url in admin_pages(hostile):
        page = admin_client.get(url)
        assert page.status_code == 200, url
        assert b"<script>alert(1)</script>" not in page.content, url


@pytest.mark.django_db
def test_a_message_in_context_shows_its_neighbours_escaped(admin_client, hostile):
    for message in Message.objects.all():
        page = admin_client.get(f"/admin/chat/message/{message.pk}/change/").content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "[deleted] abuse {} here" in page
        assert "{0} and {1}" in page
        assert "100%s sure %(name)s" in page
        assert "{{ braces }}" in page
        assert page.count('style="background:#fff3cd"') == 1


@pytest.mark.django_db
def test_the_reason_page_of_an_action_escapes_what_it_lists(admin_client, hostile):
    ids = [str(pk) for pk in Report.objects.values_list("pk", flat=True)]
    page = admin_client.post("/admin/chat/report/", {"action": "resolve_reports", "_selected_action": ids})
    assert page.status_code == 200
    assert b"<script>alert(1)</script>" not in page.content
