"""The REST API's JWT authentication (accounts/authentication.py): a password change signs every other
device out at once, an expired token says so, and no signed claim makes a 500."""

from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import AUTH_HASH_CLAIM, AccessToken
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an-entirely-new-passphrase"


def bearer(access: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api


def login(username: str = "alice", password: str = PASSWORD) -> dict:
    response = APIClient().post("/api/auth/login", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def change_password(api: APIClient) -> dict:
    body = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = api.post("/api/auth/password", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_password_change_refuses_every_older_access_token_at_once(alice):
    phone, laptop = login(), login()

    fresh = change_password(bearer(laptop["access"]))

    for old in (phone, laptop):
        response = bearer(old["access"]).get("/api/auth/me")
        assert response.status_code == 401
        assert response.json()["code"] == "token_not_valid"
        assert response.has_header("WWW-Authenticate")
        assert APIClient().post("/api/auth/refresh", {"refresh": old["refresh"]}, format="json").status_code == 401
    # The device that changed it carries on with the pair it got back.
    assert bearer(fresh["access"]).get("/api/auth/me").json()["id"] == alice.pk
    assert APIClient().post("/api/auth/refresh", {"refresh": fresh["refresh"]}, format="json").status_code == 200
    assert login(password=NEW_PASSWORD)


def test_a_password_change_from_a_browser_keeps_its_session_and_ends_the_others(alice):
    this_browser, other_browser = Client(), Client()
    for browser in (this_browser, other_browser):
        browser.force_login(alice)
    phone = login()

    body = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert this_browser.post("/api/auth/password", body, content_type="application/json").status_code == 200

    assert this_browser.get("/api/auth/me").status_code == 200
    assert other_browser.get("/api/auth/me").status_code in (401, 403)
    assert bearer(phone["access"]).get("/api/auth/me").status_code == 401


def test_an_expired_access_token_is_a_401_token_expired(alice):
    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=-timedelta(seconds=1))

    response = bearer(str(token)).get("/api/auth/me")

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response.has_header("WWW-Authenticate")


@pytest.mark.parametrize(
    "user_id",
    ["1 OR 1=1", [1], {"id": 1}, True, None, -1, 0, 2**70, "1e3", "\u0661", 1.5, ""],
    ids=repr,
)
def test_a_signed_token_whose_user_id_is_not_an_id_is_a_401(alice, user_id):
    token = AccessToken.for_user(alice)
    token["user_id"] = user_id

    response = bearer(str(token)).get("/api/auth/me")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_a_signed_token_without_the_password_claim_is_a_401(alice):
    token = AccessToken.for_user(alice)
    del token.payload[AUTH_HASH_CLAIM]

    assert bearer(str(token)).get("/api/auth/me").status_code == 401


def test_a_deleted_users_token_is_a_401(make_user):
    ghost = make_user("ghost")
    access = str(AccessToken.for_user(ghost))
    User.objects.filter(pk=ghost.pk).delete()

    response = bearer(access).get("/api/auth/me")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_the_token_claim_is_a_digest_not_the_password_hash(alice):
    claim = AccessToken.for_user(alice)[AUTH_HASH_CLAIM]

    assert claim not in alice.password
    assert len(claim) == 32
