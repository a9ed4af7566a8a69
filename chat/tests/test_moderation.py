"""Moderation as an admin does it (admin actions with a reason) and safety calls users make."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from accounts.services import token_pair_for
from chat import services
from chat.models import AuditEntry, Message, Report


def send(user, conversation, content: str) -> Message:
    message, _ = services.message_send(sender=user, conversation=conversation, content=content)
    return message


def run_action(admin_client, url: str, action: str, ids: list[int], reason: str = "spam"):
    return admin_client.post(
        url, {"action": action, ACTION_CHECKBOX_NAME: [str(i) for i in ids], "confirm": "1", "reason": reason}
    )


@pytest.mark.django_db
def test_report_then_admin_removes_and_resolves(api_for, admin_client, moderator, alice, bob, direct):
    message = send(bob, direct, "buy cheap watches")
    reported = api_for(alice).post(f"/api/messages/{direct.pk}/{message.pk}/report", {"reason": "spam"}, format="json")
    assert reported.status_code == 201, reported.content
    again = api_for(alice).post(f"/api/messages/{direct.pk}/{message.pk}/report", {"reason": "spam"}, format="json")
    assert again.status_code == 400

    queue = admin_client.get("/admin/chat/report/", {"status__exact": "open"})
    assert b"buy cheap watches" in queue.content

    report = Report.objects.get()
    done = run_action(admin_client, "/admin/chat/report/", "remove_and_resolve", [report.pk], "advertising")
    assert done.status_code == 302

    report.refresh_from_db()
    assert report.status == Report.Status.RESOLVED
    history = api_for(alice).get(f"/api/messages/{direct.pk}").json()
    assert history[0]["deleted"] is True
    assert history[0]["content"] == ""
    actions = set(AuditEntry.objects.values_list("action", "reason", "actor_id"))
    assert actions == {("remove", "advertising", moderator.pk), ("report_resolved", "advertising", moderator.pk)}


@pytest.mark.django_db
def test_action_without_reason_asks_for_one(admin_client, bob, direct):
    message = send(bob, direct, "hello")
    page = run_action(admin_client, "/admin/chat/message/", "remove_messages", [message.pk], reason="")
    assert page.status_code == 200
    assert b"A reason is required" in page.content
    message.refresh_from_db()
    assert message.deleted_at is None


@pytest.mark.django_db
def test_restore_brings_content_back(api_for, admin_client, alice, bob, direct):
    message = send(bob, direct, "misunderstood joke")
    run_action(admin_client, "/admin/chat/message/", "remove_messages", [message.pk])
    run_action(admin_client, "/admin/chat/message/", "restore_messages", [message.pk], "appeal accepted")
    history = api_for(alice).get(f"/api/messages/{direct.pk}").json()
    assert history[0]["deleted"] is False
    assert history[0]["content"] == "misunderstood joke"
    assert AuditEntry.objects.filter(action="restore", reason="appeal accepted").exists()


@pytest.mark.django_db
def test_ban_refuses_login_access_and_refresh_tokens(api_for, admin_client, bob):
    tokens = token_pair_for(bob)
    run_action(admin_client, "/admin/accounts/user/", "ban_users", [bob.pk], "harassment")

    login = api_for().post(
        "/api/auth/login", {"username": "bob", "password": "correct-horse-battery-staple"}, format="json"
    )
    assert login.status_code == 401
    me = api_for().get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert me.status_code == 401
    refresh = api_for().post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert AuditEntry.objects.filter(action="ban", target_user=bob, reason="harassment").exists()

    run_action(admin_client, "/admin/accounts/user/", "unban_users", [bob.pk], "served time")
    login = api_for().post(
        "/api/auth/login", {"username": "bob", "password": "correct-horse-battery-staple"}, format="json"
    )
    assert login.status_code == 200
    # The refresh token issued before the ban stays dead.
    refresh = api_for().post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401


@pytest.mark.django_db
def test_banned_user_disappears_from_direct_creation(api_for, admin_client, alice, bob):
    run_action(admin_client, "/admin/accounts/user/", "ban_users", [bob.pk], "spam")
    assert api_for(alice).post("/api/conversations/direct/bob").status_code == 404


@pytest.mark.django_db
def test_audit_log_is_read_only_in_admin(admin_client, bob, direct):
    message = send(bob, direct, "x")
    run_action(admin_client, "/admin/chat/message/", "remove_messages", [message.pk])
    entry = AuditEntry.objects.get()
    assert admin_client.get(f"/admin/chat/auditentry/{entry.pk}/delete/").status_code == 403
    change = admin_client.post(f"/admin/chat/auditentry/{entry.pk}/change/", {"reason": "rewritten"})
    assert change.status_code == 403
    entry.refresh_from_db()
    assert entry.reason == "spam"


@pytest.mark.django_db
def test_user_list_counts_messages_and_reports(admin_client, alice, bob, direct):
    send(bob, direct, "one")
    message = send(bob, direct, "two")
    Report.objects.create(message=message, reporter=alice, reason="rude")
    page = admin_client.get("/admin/accounts/user/", {"q": "bob"})
    assert page.status_code == 200
    assert f'?sender__id__exact={bob.pk}">2</a>'.encode() in page.content
    assert f'?message__sender__id__exact={bob.pk}">1</a>'.encode() in page.content
    assert admin_client.get(f"/admin/chat/report/?message__sender__id__exact={bob.pk}").status_code == 200


@pytest.mark.django_db
def test_non_staff_cannot_use_admin_actions(client, alice, bob, direct):
    message = send(bob, direct, "x")
    client.force_login(alice)
    response = run_action(client, "/admin/chat/message/", "remove_messages", [message.pk])
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.deleted_at is None


@pytest.mark.django_db
def test_author_edits_and_deletes_only_own_messages(api_for, alice, bob, direct):
    message = send(alice, direct, "helo")
    url = f"/api/messages/{direct.pk}/{message.pk}"
    assert api_for(bob).patch(url, {"content": "hacked"}, format="json").status_code == 403
    assert api_for(bob).delete(url).status_code == 403
    edited = api_for(alice).patch(url, {"content": "hello"}, format="json")
    assert edited.status_code == 200
    assert edited.json()["content"] == "hello"
    assert edited.json()["edited_at"] is not None
    assert api_for(alice).delete(url).status_code == 204
    assert api_for(alice).patch(url, {"content": "again"}, format="json").status_code == 400
    assert api_for(bob).get(f"/api/messages/{direct.pk}").json()[0]["deleted"] is True


@pytest.mark.django_db
def test_outsider_cannot_report_edit_or_delete(api_for, carol, bob, direct):
    message = send(bob, direct, "x")
    outsider = api_for(carol)
    assert (
        outsider.post(f"/api/messages/{direct.pk}/{message.pk}/report", {"reason": "r"}, format="json").status_code
        == 404
    )
    assert outsider.patch(f"/api/messages/{direct.pk}/{message.pk}", {"content": "y"}, format="json").status_code == 404
    assert outsider.delete(f"/api/messages/{direct.pk}/{message.pk}").status_code == 404


@pytest.mark.django_db
def test_block_refuses_direct_messages_both_ways_until_unblocked(api_for, alice, bob, direct):
    assert api_for(alice).post("/api/users/bob/block").status_code == 201
    assert [u["username"] for u in api_for(alice).get("/api/users/blocked").json()] == ["bob"]
    for sender in (alice, bob):
        sent = api_for(sender).post("/api/messages", {"conversation_id": direct.pk, "content": "hi"}, format="json")
        assert sent.status_code == 403
        assert sent.json()["code"] == "blocked"
    assert api_for(bob).post("/api/conversations/direct/alice").status_code == 403

    assert api_for(alice).delete("/api/users/bob/block").status_code == 204
    sent = api_for(bob).post("/api/messages", {"conversation_id": direct.pk, "content": "hi"}, format="json")
    assert sent.status_code == 201


@pytest.mark.django_db
def test_blocker_does_not_see_blocked_users_group_messages(api_for, alice, bob, carol):
    group = services.conversation_create_group(creator=alice, title="team", usernames=["bob", "carol"])
    send(bob, group, "from bob")
    send(carol, group, "from carol")
    api_for(alice).post("/api/users/bob/block")
    alice_view = [m["content"] for m in api_for(alice).get(f"/api/messages/{group.pk}").json()]
    carol_view = [m["content"] for m in api_for(carol).get(f"/api/messages/{group.pk}").json()]
    assert alice_view == ["from carol"]
    assert carol_view == ["from bob", "from carol"]


def unread_in(api, conversation_id: int) -> int:
    return next(c["unread_count"] for c in api.get("/api/conversations/").json() if c["id"] == conversation_id)


@pytest.mark.django_db
def test_hidden_group_messages_never_count_as_unread_for_the_blocker(api_for, alice, bob, carol):
    group = services.conversation_create_group(creator=alice, title="team", usernames=["bob", "carol"])
    send(alice, group, "from alice")
    send(bob, group, "before the block")
    api_for(carol).post("/api/users/bob/block")
    send(bob, group, "after the block")

    carol_api = api_for(carol)
    assert unread_in(carol_api, group.pk) == 1
    assert carol_api.get(f"/api/conversations/{group.pk}/").json()["unread_count"] == 1
    assert unread_in(api_for(alice), group.pk) == 2  # bob's two count for her; her own never do

    assert carol_api.delete("/api/users/bob/block").status_code == 204
    assert unread_in(carol_api, group.pk) == 3
    carol_api.post("/api/users/bob/block")
    read = carol_api.post(f"/api/conversations/{group.pk}/read", {}, format="json")
    assert read.json()["unread_count"] == 0
    assert unread_in(carol_api, group.pk) == 0


@pytest.mark.django_db
def test_read_answer_leaves_out_hidden_messages_past_the_pointer(api_for, alice, bob, carol):
    group = services.conversation_create_group(creator=alice, title="team", usernames=["bob", "carol"])
    first = send(alice, group, "one")
    send(bob, group, "hidden")
    send(alice, group, "two")
    api_for(carol).post("/api/users/bob/block")
    read = api_for(carol).post(f"/api/conversations/{group.pk}/read", {"message_id": first.pk}, format="json")
    assert read.json()["unread_count"] == 1
