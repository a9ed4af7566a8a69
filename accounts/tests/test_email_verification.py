"""Email verification of signups (EMAIL_VERIFICATION): off on the embedded defaults; when on, a new
account logs in only after following the signed link emailed to it."""

import re

import pytest
from django.conf import settings as django_settings
from django.core import mail, signing
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import EMAIL_VERIFICATION_SALT
from chat.tests.sockets import closed_port
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

STRONG = "a-long-and-unusual-passphrase"


@pytest.fixture
def verification(settings):
    settings.EMAIL_VERIFICATION = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def api_signup(api: APIClient, username: str = "dora"):
    body = {"email": f"{username}@example.com", "username": username, "password": STRONG}
    return api.post("/api/auth/signup", body, format="json")


def api_login(api: APIClient, username: str = "dora", password: str = STRONG):
    return api.post("/api/auth/login", {"username": username, "password": password}, format="json")


def link_in(message) -> str:
    """The path of the verification link in an email."""
    match = re.search(re.escape(django_settings.SITE_URL) + r"(/verify-email/\S+)", message.body)
    assert match, message.body
    return match.group(1)


def test_verification_is_off_on_the_embedded_defaults():
    assert django_settings.EMAIL_VERIFICATION is False


def test_without_verification_a_signup_logs_in_at_once():
    response = api_signup(APIClient())

    assert {"access", "refresh"} <= set(response.json())
    assert mail.outbox == []


def test_an_api_signup_waits_for_its_link_then_logs_in(verification, client):
    api = APIClient()

    signup = api_signup(api)

    assert signup.status_code == 201
    assert signup.json() == {"user": signup.json()["user"], "email_verification": "sent"}
    assert [message.to for message in mail.outbox] == [["dora@example.com"]]
    refused = api_login(api)
    assert refused.status_code == 403
    assert refused.json()["code"] == "email_not_verified"
    # Without the password nothing is said about the account.
    assert api_login(api, password="wrong password").status_code == 401

    followed = client.get(link_in(mail.outbox[0]))

    assert followed.status_code == 302
    assert followed.url == "/login"
    assert User.objects.get(username="dora").email_verified
    assert api_login(api).status_code == 200
    assert client.get(link_in(mail.outbox[0])).status_code == 302  # following it again is harmless


def test_a_page_signup_waits_for_its_link_and_the_login_page_offers_a_new_one(verification, client):
    data = {"username": "dora", "email": "dora@example.com", "password1": STRONG, "password2": STRONG}

    signup = client.post("/signup", data, follow=True)

    assert "We emailed a link to dora@example.com" in signup.content.decode()
    assert "_auth_user_id" not in client.session
    login = client.post("/login", {"username": "dora", "password": STRONG})
    html = login.content.decode()
    assert "Confirm your email address first" in html
    assert 'action="/verify-email/resend"' in html
    assert "_auth_user_id" not in client.session

    resent = client.post("/verify-email/resend", {"username": "dora"}, follow=True)

    assert "a new link is on its way" in resent.content.decode()
    assert len(mail.outbox) == 2
    client.get(link_in(mail.outbox[1]))
    assert client.post("/login", {"username": "dora", "password": STRONG}).status_code == 302
    assert "_auth_user_id" in client.session


def test_a_wrong_password_on_the_login_page_does_not_offer_a_link(verification, client):
    api_signup(APIClient())

    html = client.post("/login", {"username": "dora", "password": "wrong password"}).content.decode()

    assert "Wrong username, email or password." in html
    assert "resend" not in html


@pytest.mark.parametrize("spoil", ["tampered", "expired", "other address"])
def test_a_spoiled_link_verifies_nothing(verification, client, settings, spoil):
    api_signup(APIClient())
    user = User.objects.get(username="dora")
    path = link_in(mail.outbox[0])
    if spoil == "tampered":
        path = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    elif spoil == "expired":
        settings.EMAIL_VERIFICATION_MAX_AGE = -1
    else:
        token = signing.dumps({"user": user.pk, "email": "someone.else@example.com"}, salt=EMAIL_VERIFICATION_SALT)
        path = f"/verify-email/{token}"

    response = client.get(path)

    assert response.status_code == 400
    assert "Send me a new link" in response.content.decode()
    assert not User.objects.get(pk=user.pk).email_verified


def test_resending_says_the_same_for_every_name_and_mails_only_unverified_accounts(verification, alice):
    api = APIClient()
    api_signup(api)
    mail.outbox.clear()

    answers = [
        api.post("/api/auth/verification/resend", {"username": name}, format="json")
        for name in ("DORA@example.com", "alice", "nobody")
    ]

    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.json()["detail"] for answer in answers}) == 1
    assert [message.to for message in mail.outbox] == [["dora@example.com"]]


def test_resending_is_throttled_per_account(verification, settings):
    api_signup(APIClient())
    rate = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["verification_resend"].split("/")[0])

    answers = [
        APIClient(REMOTE_ADDR=f"10.0.0.{n}").post("/api/auth/verification/resend", {"username": "dora"}, format="json")
        for n in range(rate + 1)
    ]

    assert [answer.status_code for answer in answers] == [202] * rate + [429]


def test_accounts_from_before_verification_was_on_still_log_in(verification, alice):
    assert api_login(APIClient(), "alice", PASSWORD).status_code == 200


def test_a_signup_survives_a_mail_server_that_is_down(verification, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 1

    response = api_signup(APIClient())

    assert response.status_code == 201
    assert not User.objects.get(username="dora").email_verified
