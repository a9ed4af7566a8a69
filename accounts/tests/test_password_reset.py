"""'Forgot password?': Django's password reset by email, through the pages (accounts/views.py)."""

import re

import pytest
from django.core import mail
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.services import token_pair_for
from accounts.throttles import PasswordResetIPThrottle
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "a-brand-new-and-unusual-passphrase"


def reset_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/password-reset/\S+)", message.body).group(1)


def test_the_login_page_links_to_the_reset_page(client):
    assert b'href="/password-reset"' in client.get("/login").content
    response = client.get("/password-reset")
    assert response.status_code == 200
    assert b'name="email"' in response.content


def test_a_reset_by_email_sets_a_new_password_and_signs_out_every_device(client, alice):
    token_pair_for(alice)  # an API login on another device
    response = client.post("/password-reset", {"email": "ALICE@example.com"})
    assert response.status_code == 302
    assert response.url == "/password-reset/sent"
    assert b"Check your email" in client.get(response.url).content

    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert message.subject == "Reset your Brewverse password"
    # Django swaps the token for a session-held one and shows the form at a URL without it.
    form_page = client.get(reset_link(message), follow=True)
    assert b"Choose a new password" in form_page.content
    response = client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 302
    assert response.url == "/password-reset/done"
    assert b"Your password was changed" in client.get(response.url).content

    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert not OutstandingToken.objects.filter(user=alice, blacklistedtoken__isnull=True).exists()
    assert client.post("/login", {"username": "alice", "password": PASSWORD}).status_code == 200
    assert client.post("/login", {"username": "alice", "password": NEW}).status_code == 302
    # The link works once.
    assert b"This link no longer works" in client.get(reset_link(message), follow=True).content


def test_a_weak_new_password_is_refused_with_the_rules(client, alice):
    client.post("/password-reset", {"email": "alice@example.com"})
    form_page = client.get(reset_link(mail.outbox[0]), follow=True)
    response = client.post(form_page.redirect_chain[-1][0], {"new_password1": "12345678", "new_password2": "12345678"})
    assert response.status_code == 200
    assert b"too common" in response.content
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_an_unknown_address_looks_the_same_and_sends_nothing(client, alice):
    response = client.post("/password-reset", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response.url == "/password-reset/sent"
    assert mail.outbox == []


def test_reset_requests_are_throttled_per_ip(client, alice, monkeypatch):
    monkeypatch.setattr(PasswordResetIPThrottle, "THROTTLE_RATES", {"password_reset_ip": "2/hour"})
    for _ in range(2):
        assert client.post("/password-reset", {"email": "alice@example.com"}).status_code == 302
    response = client.post("/password-reset", {"email": "alice@example.com"})
    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert len(mail.outbox) == 2
