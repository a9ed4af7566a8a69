"""One error shape under /api/: every error body is JSON with a `code` from `ErrorCode` and a `detail`
sentence, in DEBUG as without it (docs/api.md, "Error bodies")."""

from datetime import timedelta

import pytest
from django.db import InterfaceError, OperationalError
from django.test import override_settings
from rest_framework.exceptions import APIException, AuthenticationFailed, Throttled
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import AccessToken

from accounts.services import token_pair_for
from chat import services
from chat.api.errors import exception_handler
from chat.errors import ErrorCode


def test_database_outage_is_a_503_with_retry_after():
    for error in (OperationalError("connection refused"), InterfaceError("connection already closed")):
        response = exception_handler(error, {})
        assert response.status_code == 503
        assert response["Retry-After"] == "2"
        assert response.data["code"] == "unavailable"


def test_other_server_errors_are_left_to_django():
    assert exception_handler(ValueError("bug"), {}) is None


@pytest.mark.parametrize(
    "exc",
    [
        AuthenticationFailed("Token has expired.", code="token_expired"),
        InvalidToken({"detail": "Token has expired.", "code": "token_expired", "messages": [{"token_class": "X"}]}),
    ],
)
def test_an_authentication_class_names_its_own_code(exc):
    """An authentication class's code reaches the client as it is (an expired token: refresh it)."""
    response = exception_handler(exc, {})

    assert response.status_code == 401
    assert response.data == {"code": "token_expired", "detail": "Token has expired."}


def _long(api, conversation, length: int):
    return api.post("/api/messages", {"conversation_id": conversation.pk, "content": "x" * length}, format="json")


def _long_edit(api, alice, conversation):
    message, _ = services.message_send(sender=alice, conversation=conversation, content="short")
    return api.patch(f"/api/messages/{conversation.pk}/{message.pk}", {"content": "x" * 100_000}, format="json")


def _expired(api, alice):
    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=-timedelta(minutes=1))
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api.get("/api/conversations/")


def _second_logout(api, alice):
    refresh = token_pair_for(alice)["refresh"]
    api.post("/api/auth/logout", {"refresh": refresh}, format="json")
    return api.post("/api/auth/logout", {"refresh": refresh}, format="json")


def _throttled(api, alice):
    for _ in range(10):
        api.post("/api/auth/login", {"username": "alice", "password": "wrong"}, format="json")
    return api.post("/api/auth/login", {"username": "alice", "password": "wrong"}, format="json")


# (name, how to make the request with (api signed in as alice, alice, a direct conversation), status, code)
CASES = [
    ("unknown url", lambda api, u, c: api.get("/api/nothing-here"), 404, "not_found"),
    ("unknown url, bad id", lambda api, u, c: api.get("/api/conversations/abc/"), 404, "not_found"),
    ("unknown url, /api", lambda api, u, c: api.post("/api"), 404, "not_found"),
    (
        "unknown url, a session",
        lambda api, u, c: (api.force_login(u), api.patch("/api/conversations/x/"))[1],
        404,
        "not_found",
    ),
    ("conversation not found", lambda api, u, c: api.get("/api/conversations/999999"), 404, "not_found"),
    ("method", lambda api, u, c: api.put("/api/messages", {}, format="json"), 405, "method_not_allowed"),
    ("method on the schema", lambda api, u, c: api.post("/api/schema/"), 405, "method_not_allowed"),
    (
        "media type",
        lambda api, u, c: api.post("/api/messages", "a=1", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    ),
    ("accept", lambda api, u, c: api.get("/api/conversations/", HTTP_ACCEPT="text/html"), 406, "not_acceptable"),
    (
        "parse error",
        lambda api, u, c: api.post("/api/messages", "{nope", content_type="application/json"),
        400,
        "parse_error",
    ),
    (
        "nested too deeply",
        lambda api, u, c: api.post("/api/messages", "[" * 5000 + "]" * 5000, content_type="application/json"),
        400,
        "parse_error",
    ),
    (
        "body too large",
        lambda api, u, c: api.post("/api/messages", "[" + " " * 3_000_000 + "]", content_type="application/json"),
        400,
        "invalid",
    ),
    ("field missing", lambda api, u, c: api.post("/api/messages", {}, format="json"), 400, "invalid"),
    (
        "not authenticated",
        lambda api, u, c: (api.credentials(), api.get("/api/conversations/"))[1],
        401,
        "not_authenticated",
    ),
    (
        "token not valid",
        lambda api, u, c: (api.credentials(HTTP_AUTHORIZATION="Bearer junk"), api.get("/api/auth/me"))[1],
        401,
        "token_not_valid",
    ),
    pytest.param(
        "token expired",
        lambda api, u, c: _expired(api, u),
        401,
        "token_expired",
    ),
    ("second logout", lambda api, u, c: _second_logout(api, u), 401, "token_not_valid"),
    (
        "refresh not valid",
        lambda api, u, c: api.post("/api/auth/refresh", {"refresh": "junk"}, format="json"),
        401,
        "token_not_valid",
    ),
    (
        "wrong password",
        lambda api, u, c: api.post("/api/auth/login", {"username": "alice", "password": "no"}, format="json"),
        401,
        "authentication_failed",
    ),
    ("throttled", lambda api, u, c: _throttled(api, u), 429, "rate_limited"),
    ("unknown user, direct", lambda api, u, c: api.post("/api/conversations/direct/nobody"), 404, "user_not_found"),
    ("unknown user, block", lambda api, u, c: api.post("/api/users/nobody/block"), 404, "user_not_found"),
    ("unknown user, unblock", lambda api, u, c: api.delete("/api/users/nobody/block"), 404, "user_not_found"),
    ("content 4,097", lambda api, u, c: _long(api, c, 4097), 400, "content_too_long"),
    ("content 16,385", lambda api, u, c: _long(api, c, 16385), 400, "content_too_long"),
    ("content 100,000", lambda api, u, c: _long(api, c, 100_000), 400, "content_too_long"),
    ("content 100,000, edit", lambda api, u, c: _long_edit(api, u, c), 400, "content_too_long"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(("name", "call", "status", "code"), CASES, ids=[getattr(c, "values", c)[0] for c in CASES])
def test_every_error_has_a_code_and_a_detail(api_for, alice, direct, debug, name, call, status, code):
    with override_settings(DEBUG=debug):
        response = call(api_for(alice), alice, direct)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert body["code"] in set(ErrorCode)
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if status == 429:
        assert body["retry_after"] == int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_field_errors_keep_drf_lists_beside_code_and_detail(api_for, alice, direct):
    response = _long(api_for(alice), direct, 16385)

    assert response.json() == {
        "code": "content_too_long",
        "detail": "Message content is limited to 4096 characters.",
        "content": ["Message content is limited to 4096 characters."],
    }


@pytest.mark.django_db
def test_a_drf_field_error_is_invalid_with_its_first_message(api_for, alice):
    response = api_for(alice).post("/api/conversations/", {"usernames": "bob"}, format="json")

    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "invalid"
    assert set(body) == {"code", "detail", "title", "usernames"}
    assert body["detail"] == body["title"][0]


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (AuthenticationFailed("User is inactive", code="user_inactive"), 401, "token_not_valid"),
        (APIException(["one", "two"]), 500, "internal"),
        (Throttled(wait=1.2), 429, "rate_limited"),
    ],
)
def test_codes_that_are_not_ours_become_ours(exc, status, code):
    response = exception_handler(exc, {})

    assert response.status_code == status
    assert response.data["code"] == code
    assert isinstance(response.data["detail"], str)


def test_retry_after_is_whole_seconds_rounded_up_in_body_and_header():
    response = exception_handler(Throttled(wait=1.2), {})

    assert response.data["retry_after"] == 2
    assert response["Retry-After"] == "2"
