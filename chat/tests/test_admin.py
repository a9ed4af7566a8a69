"""Admins find users, conversations and messages in the Django admin."""

import pytest

from chat import services


@pytest.fixture
def admin_client_logged_in(client, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


@pytest.fixture
def chat_history(alice, bob):
    conversation, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    services.message_send(sender=alice, conversation=conversation, content="the secret word is marzipan")
    services.message_send(sender=bob, conversation=conversation, content="noted")
    return conversation


@pytest.mark.django_db
def test_message_search_finds_by_content_and_sender(admin_client_logged_in, chat_history):
    page = admin_client_logged_in.get("/admin/chat/message/", {"q": "marzipan"})
    assert page.status_code == 200
    assert b"the secret word is marzipan" in page.content
    assert b"noted" not in page.content

    by_sender = admin_client_logged_in.get("/admin/chat/message/", {"q": "bob"})
    assert b"noted" in by_sender.content


@pytest.mark.django_db
def test_conversation_page_lists_participants_inline(admin_client_logged_in, chat_history):
    page = admin_client_logged_in.get(f"/admin/chat/conversation/{chat_history.pk}/change/")
    assert page.status_code == 200
    assert b"alice" in page.content
    assert b"bob" in page.content


@pytest.mark.django_db
def test_users_searchable_by_email(admin_client_logged_in, alice, bob):
    page = admin_client_logged_in.get("/admin/accounts/user/", {"q": "alice@example"})
    assert page.status_code == 200
    assert b"alice@example.com" in page.content
    assert b"bob@example.com" not in page.content


@pytest.mark.django_db
def test_non_staff_cannot_reach_admin(client, alice):
    client.force_login(alice)
    page = client.get("/admin/chat/message/")
    assert page.status_code == 302
    assert "/admin/login/" in page["Location"]
