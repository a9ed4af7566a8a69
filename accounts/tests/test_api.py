"""The authentication API: signup, login, refresh, logout and me, with their errors."""

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import api as accounts_api
from accounts.models import User
from accounts.throttles import LoginAccountThrottle, LoginIPThrottle, SignupIPThrottle
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

ME_FIELDS = {"id", "email", "username", "display_name", "created_at", "email_notifications"}


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def signup(api: APIClient, **fields):
    body = {"email": "dora@example.com", "username": "dora", "password": PASSWORD, **fields}
    return api.post("/api/auth/signup", body, format="json")


def login(api: APIClient, username: str, password: str = PASSWORD):
    return api.post("/api/auth/login", {"username": username, "password": password}, format="json")


def me_with(token: str):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api.get("/api/auth/me")


# --- signup -------------------------------------------------------------------------------------


def test_signup_creates_the_user_and_returns_working_tokens(api):
    response = signup(api, display_name="  Dora the Brewer ")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"user", "access", "refresh"}
    assert set(body["user"]) == ME_FIELDS
    assert body["user"]["username"] == "dora"
    assert body["user"]["email"] == "dora@example.com"
    assert body["user"]["display_name"] == "Dora the Brewer"
    assert body["user"]["created_at"].endswith("Z")
    assert me_with(body["access"]).json()["id"] == body["user"]["id"]
    assert User.objects.get(username="dora").check_password(PASSWORD)


def test_signup_display_name_defaults_to_the_username(api):
    response = signup(api)

    assert response.status_code == 201
    assert response.json()["user"]["display_name"] == "dora"


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"username": "ALICE"}, "username"),
        ({"email": "Alice@Example.COM"}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"username": "ab"}, "username"),
        ({"username": "x" * 31}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "semi;colon"}, "username"),
        ({"username": "émile"}, "username"),
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "83920174650"}, "password"),
        ({"password": "dora@example.com"}, "password"),
    ],
)
def test_signup_rejects_a_bad_field_with_a_400_naming_it(api, alice, fields, error_field):
    response = signup(api, **fields)

    assert response.status_code == 400
    assert set(response.json()) == {error_field, "code", "detail"}
    assert response.json()["code"] == "invalid"
    assert all(isinstance(message, str) for message in response.json()[error_field])
    assert list(User.objects.all()) == [alice]


def test_signup_lists_every_missing_field(api):
    response = api.post("/api/auth/signup", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"email", "username", "password", "code", "detail"}


def test_signup_is_rate_limited_per_ip(api, monkeypatch):
    monkeypatch.setattr(SignupIPThrottle, "rate", "2/min", raising=False)
    assert signup(api, username="one", email="one@example.com").status_code == 201
    assert signup(api, username="two", email="two@example.com").status_code == 201

    response = signup(api, username="three", email="three@example.com")

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "detail" in response.json()


# --- login --------------------------------------------------------------------------------------


@pytest.mark.parametrize("identifier", ["alice", "ALICE", "alice@example.com", "Alice@Example.com"])
def test_login_by_username_or_email_in_any_case(api, alice, identifier):
    response = login(api, identifier)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"user", "access", "refresh"}
    assert set(body["user"]) == ME_FIELDS
    assert body["user"]["id"] == alice.pk
    assert me_with(body["access"]).status_code == 200


def test_login_gives_the_same_401_for_unknown_user_wrong_password_and_inactive_user(api, alice, make_user):
    make_user("banned", is_active=False)

    answers = [login(api, "nobody"), login(api, "alice", "wrong password"), login(api, "banned")]

    assert [a.status_code for a in answers] == [401, 401, 401]
    assert answers[0].json() == answers[1].json() == answers[2].json()
    assert answers[0].json() == {"code": "authentication_failed", "detail": "Invalid username or password."}
    assert all(a.headers.get("WWW-Authenticate", "").startswith("Bearer") for a in answers)


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert set(response.json()) == {"code", "detail", "retry_after"}
    assert response.json()["code"] == "rate_limited"
    assert response.json()["retry_after"] == int(response.headers["Retry-After"])


def test_successful_logins_in_a_row_are_never_throttled(api, alice, bob, login_budgets_of_3):
    # Several devices, or a script that logs in again each time: twice the budget, per name and per IP.
    answers = [login(api, name).status_code for name in ("alice", "ALICE", "alice@example.com", "bob") * 2]

    assert answers == [200] * 8


def test_login_is_refused_with_429_after_repeated_failures_for_one_username(api, alice):
    assert login(api, "alice").status_code == 200
    for _ in range(10):
        assert login(api, "alice", "wrong password").status_code == 401

    # Even the right password waits now; a different case of the name shares the budget.
    assert_throttled(login(api, "ALICE"))


def test_a_successful_login_does_not_clear_the_failures_before_it(api, alice, username_budget_of_3):
    assert login(api, "alice", "wrong password").status_code == 401
    assert login(api, "alice", "wrong password").status_code == 401
    assert login(api, "alice").status_code == 200
    assert login(api, "alice", "wrong password").status_code == 401

    # Three failures within the minute, whatever succeeded in between.
    assert_throttled(login(api, "alice"))


def test_a_guess_is_counted_while_its_password_is_checked(api, alice, monkeypatch):
    """Argon2 takes ~0.1 s on purpose: parallel guesses must not all pass the check meanwhile."""
    monkeypatch.setattr(LoginAccountThrottle, "rate", "1/min", raising=False)
    assert login(api, "alice").status_code == 200  # costs nothing
    parallel = []

    def authenticate_while_a_second_guess_arrives(request, **credentials):
        if not parallel:
            parallel.append(login(APIClient(), "alice", "another guess"))
        return authenticate(request, **credentials)

    authenticate = accounts_api.authenticate
    monkeypatch.setattr(accounts_api, "authenticate", authenticate_while_a_second_guess_arrives)

    assert login(api, "alice", "wrong password").status_code == 401
    assert_throttled(parallel[0])


def test_the_username_and_the_email_of_one_account_share_one_budget(api, alice, username_budget_of_3):
    assert login(api, "alice", "wrong password").status_code == 401
    assert login(api, "alice@example.com", "wrong password").status_code == 401
    assert login(api, "Alice@Example.com", "wrong password").status_code == 401

    assert_throttled(login(api, "ALICE"))
    assert_throttled(login(api, "alice@example.com"))


@pytest.mark.parametrize(
    "look_alike", ["al\u0131ce", "AL\u0131CE", "al\u0131ce@example.com", "\u017fam", "\u017fam@example.com"]
)
def test_a_non_ascii_look_alike_of_a_login_name_names_no_one(api, alice, make_user, look_alike):
    """On PostgreSQL UPPER() folds the dotless i to I and the long s to S: each such spelling
    was the same account under a fresh budget."""
    make_user("sam")
    assert login(api, look_alike).status_code == 401


@pytest.mark.parametrize("name", ["alice\x00", "alice@example.com\x00"])
def test_a_login_name_with_a_nul_is_refused_as_bad_input(api, alice, name):
    """The budget resolves the name before the body is validated; PostgreSQL refuses to compare text
    with a NUL, which was a 500."""
    response = login(api, name)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_spellings_of_an_unknown_name_share_one_budget(api, username_budget_of_3):
    for name in ("nobody", "NOBODY", "\uff4eobody"):  # the last with a fullwidth n (NFKC: n)
        assert login(api, name).status_code == 401

    assert_throttled(login(api, "Nobody"))


def test_login_is_refused_with_429_after_repeated_failures_from_one_ip(api, alice, bob, monkeypatch):
    monkeypatch.setattr(LoginIPThrottle, "rate", "3/min", raising=False)
    answers = [login(api, "alice").status_code, login(api, "a1").status_code, login(api, "bob").status_code]
    answers += [login(api, name).status_code for name in ("a2", "a3")]

    assert answers == [200, 401, 200, 401, 401]
    # A name this address never tried, even with its right password.
    assert_throttled(login(api, "alice"))


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "alice"}, {"password": PASSWORD}, {"username": ["alice"], "password": PASSWORD}, ["alice"]],
)
def test_login_with_missing_or_mistyped_fields_is_a_400(api, alice, body):
    response = api.post("/api/auth/login", body, format="json")

    assert response.status_code == 400
    assert isinstance(response.json(), dict)


# --- refresh ------------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_stops_working(api, alice):
    first = login(api, "alice").json()

    response = api.post("/api/auth/refresh", {"refresh": first["refresh"]}, format="json")

    assert response.status_code == 200, response.content
    rotated = response.json()
    assert set(rotated) == {"access", "refresh"}
    assert rotated["refresh"] != first["refresh"]
    assert me_with(rotated["access"]).json()["id"] == alice.pk
    again = api.post("/api/auth/refresh", {"refresh": rotated["refresh"]}, format="json")
    assert again.status_code == 200
    assert api.post("/api/auth/refresh", {"refresh": again.json()["refresh"]}, format="json").status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_its_whole_family(api, alice):
    """A rotated token presented again was copied: the thief's and the owner's tokens both stop
    working, and the other logins of the same user carry on."""
    stolen = login(api, "alice").json()["refresh"]
    other_login = login(api, "alice").json()["refresh"]
    owner = api.post("/api/auth/refresh", {"refresh": stolen}, format="json").json()["refresh"]
    owner = api.post("/api/auth/refresh", {"refresh": owner}, format="json").json()["refresh"]

    replay = api.post("/api/auth/refresh", {"refresh": stolen}, format="json")

    assert replay.status_code == 401
    assert replay.json()["code"] == "token_not_valid"
    assert api.post("/api/auth/refresh", {"refresh": owner}, format="json").status_code == 401
    assert api.post("/api/auth/refresh", {"refresh": other_login}, format="json").status_code == 200


def test_a_refresh_token_refreshes_once(api, alice):
    first = login(api, "alice").json()["refresh"]

    answers = [api.post("/api/auth/refresh", {"refresh": first}, format="json") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 401, 401]
    # The one pair issued was revoked by the reuse too.
    assert api.post("/api/auth/refresh", {"refresh": answers[0].json()["refresh"]}, format="json").status_code == 401


@pytest.mark.parametrize("token", ["garbage", "", "a.b.c"])
def test_refresh_with_a_bad_token_is_refused(api, token):
    response = api.post("/api/auth/refresh", {"refresh": token}, format="json")

    assert response.status_code in (400, 401)
    assert isinstance(response.json(), dict)


def test_refresh_with_an_access_token_is_a_401(api, alice):
    access = login(api, "alice").json()["access"]

    response = api.post("/api/auth/refresh", {"refresh": access}, format="json")

    assert response.status_code == 401


def test_refresh_for_a_deactivated_user_is_a_401(api, alice):
    refresh = login(api, "alice").json()["refresh"]
    User.objects.filter(pk=alice.pk).update(is_active=False)

    response = api.post("/api/auth/refresh", {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert "detail" in response.json()


def test_refresh_for_a_deleted_user_is_a_401(api, make_user):
    user = make_user()
    refresh = str(RefreshToken.for_user(user))
    user.delete()

    response = api.post("/api/auth/refresh", {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert "detail" in response.json()


def test_refresh_without_a_token_is_a_400(api):
    response = api.post("/api/auth/refresh", {}, format="json")

    assert response.status_code == 400
    assert "refresh" in response.json()


# --- logout -------------------------------------------------------------------------------------


def test_logout_blacklists_the_refresh_token(api, alice):
    tokens = login(api, "alice").json()

    response = api.post("/api/auth/logout", {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    assert api.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    again = api.post("/api/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401
    assert "detail" in again.json()


def test_logout_of_one_device_leaves_the_others_signed_in(api, alice):
    phone = login(api, "alice").json()
    laptop = login(api, "alice").json()

    api.post("/api/auth/logout", {"refresh": phone["refresh"]}, format="json")

    assert api.post("/api/auth/refresh", {"refresh": laptop["refresh"]}, format="json").status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_logout_with_a_bad_token_is_a_401(api, token):
    response = api.post("/api/auth/logout", {"refresh": token}, format="json")

    assert response.status_code == 401
    assert "detail" in response.json()


def test_logout_with_an_access_token_is_a_401(api, alice):
    access = login(api, "alice").json()["access"]

    response = api.post("/api/auth/logout", {"refresh": access}, format="json")

    assert response.status_code == 401


@pytest.mark.parametrize("body", [{}, ["x"], {"refresh": None}])
def test_logout_without_a_token_is_a_400(api, body):
    response = api.post("/api/auth/logout", body, format="json")

    assert response.status_code == 400
    assert isinstance(response.json(), dict)


# --- me and credentials ------------------------------------------------------------------------


def test_me_returns_the_callers_own_profile(api_for, alice):
    response = api_for(alice).get("/api/auth/me")

    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "email": "alice@example.com",
        "username": "alice",
        "display_name": "alice",
        "created_at": response.json()["created_at"],
        "email_notifications": True,
    }
    assert response.json()["created_at"].endswith("Z")


def test_me_accepts_the_session_cookie(alice):
    api = APIClient()
    api.force_login(alice)

    assert api.get("/api/auth/me").json()["username"] == "alice"


def test_me_without_credentials_is_a_401(api):
    response = api.get("/api/auth/me")

    assert response.status_code == 401
    assert "detail" in response.json()


def _forged(user: User) -> str:
    payload = AccessToken.for_user(user).payload
    return jwt.encode(payload, "a forger guessing the server secret, long enough", algorithm="HS256")


def _tampered(user: User, other: User) -> str:
    """A genuine token whose payload is swapped for another user's: the signature no longer fits."""
    header, _, signature = str(AccessToken.for_user(user)).split(".")
    _, payload, _ = str(AccessToken.for_user(other)).split(".")
    return f"{header}.{payload}.{signature[::-1]}"


def _expired(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def _unsigned(user: User) -> str:
    return jwt.encode(AccessToken.for_user(user).payload, None, algorithm="none")


@pytest.mark.parametrize("make_token", [_forged, _expired, _unsigned, lambda user: "not.a.token"])
def test_me_refuses_an_expired_or_forged_token_with_401(alice, make_token):
    response = me_with(make_token(alice))

    assert response.status_code == 401
    assert "detail" in response.json()


def test_me_refuses_a_tampered_token(alice, bob):
    assert me_with(_tampered(alice, bob)).status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Token abc", "Basic YWxpY2U6eA=="])
def test_me_with_a_malformed_authorization_header_is_a_401(header):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)

    response = api.get("/api/auth/me")

    assert response.status_code == 401
    assert isinstance(response.json(), dict)


def test_a_deactivated_users_existing_access_token_stops_working(api_for, alice):
    api = api_for(alice)
    assert api.get("/api/auth/me").status_code == 200

    User.objects.filter(pk=alice.pk).update(is_active=False)

    assert api.get("/api/auth/me").status_code == 401


def test_the_access_token_lifetime_is_the_configured_one(api, alice):
    access = AccessToken(login(api, "alice").json()["access"])

    assert access["exp"] - access["iat"] == settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()


def test_the_account_budget_costs_one_query_a_login(api, alice, django_assert_num_queries):
    """Resolving the login name to its account is one indexed read, besides the login's own."""
    with django_assert_num_queries(2):
        assert login(api, "nobody").status_code == 401
    with django_assert_num_queries(2):
        assert login(api, "alice", "wrong password").status_code == 401
