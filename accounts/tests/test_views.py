"""The signup, login, logout and settings pages (sessions with CSRF)."""

import pytest
from django.test import Client
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.api import PasswordChangeThrottle
from accounts.models import User
from accounts.throttles import SignupIPThrottle
from chat import moderation
from chat.models import Block
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

STRONG = "a-long-and-unusual-passphrase"


def signup_data(**overrides) -> dict:
    data = {
        "username": "dora",
        "email": "dora@example.com",
        "display_name": "",
        "password1": STRONG,
        "password2": STRONG,
    }
    return {**data, **overrides}


def test_signup_page_renders_a_form_with_csrf(client):
    response = client.get("/signup")

    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content
    assert b'name="display_name"' in response.content


def test_signup_creates_the_user_logs_them_in_and_opens_the_app(client):
    response = client.post("/signup", signup_data())

    assert response.status_code == 302
    assert response.url == "/"
    user = User.objects.get(username="dora")
    assert user.display_name == "dora"  # optional: defaults to the username
    assert user.check_password(STRONG)
    assert client.get("/").status_code == 200


def test_signup_keeps_a_display_name_given(client):
    client.post("/signup", signup_data(display_name="  Dora the Explorer "))

    assert User.objects.get(username="dora").display_name == "Dora the Explorer"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"username": "ALICE"}, "username", "This username is taken."),
        ({"email": "Alice@Example.com"}, "email", "This email is already registered."),
        ({"username": "no spaces!"}, "username", "Use 3 to 30 letters"),
        ({"username": "ab"}, "username", "Use 3 to 30 letters"),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"password1": "123", "password2": "123"}, "password1", "This password is too short."),
        ({"password1": "password", "password2": "password"}, "password1", "This password is too common."),
        ({"password2": "something-else-entirely"}, "password2", "The two passwords differ."),
        ({"username": ""}, "username", "This field is required."),
    ],
)
def test_signup_with_bad_input_shows_the_errors(client, alice, overrides, field, message):
    response = client.post("/signup", signup_data(**overrides))

    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    assert message.encode() in response.content
    assert User.objects.count() == 1  # alice only


def test_signup_and_login_redirect_a_logged_in_user_to_the_app(client, alice):
    client.force_login(alice)

    assert client.get("/signup").url == "/"
    assert client.get("/login").url == "/"


def test_signup_is_throttled_per_ip(client, monkeypatch):
    monkeypatch.setattr(SignupIPThrottle, "THROTTLE_RATES", {"signup_ip": "1/hour"})
    client.post("/signup", signup_data(username="first", email="first@example.com"))
    client.logout()

    response = client.post("/signup", signup_data(username="second", email="second@example.com"))

    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert not User.objects.filter(username="second").exists()


@pytest.mark.parametrize("name", ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"])
def test_login_by_username_or_email(client, alice, name):
    response = client.post("/login", {"username": name, "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == "/"
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_login_takes_an_email_of_254_characters(client, make_user):
    email = f"{'b' * 64}@{'c' * 63}.{'d' * 63}.{'e' * 53}.example"
    assert len(email) == 254
    user = make_user("longmail", email=email)

    form = client.get("/login").content.decode()
    response = client.post("/login", {"username": email, "password": PASSWORD})

    assert 'maxlength="254"' in form
    assert 'maxlength="30"' not in form
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_login_follows_next(client, alice):
    response = client.post("/login?next=/new", {"username": "alice", "password": PASSWORD, "next": "/new"})

    assert response.url == "/new"


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong-password"), ("nobody", PASSWORD), ("banned", PASSWORD)],
)
def test_login_failures_all_show_the_same_error(client, alice, make_user, username, password):
    make_user("banned", is_active=False)

    response = client.post("/login", {"username": username, "password": password})

    assert response.status_code == 200
    assert b"Wrong username, email or password." in response.content
    assert "_auth_user_id" not in client.session


def test_login_with_empty_fields_shows_required_errors(client):
    response = client.post("/login", {"username": "", "password": ""})

    assert response.status_code == 200
    assert response.context["form"].errors["username"] == ["This field is required."]
    assert response.context["form"].errors["password"] == ["This field is required."]


def log_in_and_out(client: Client, username: str) -> int:
    status = client.post("/login", {"username": username, "password": PASSWORD}).status_code
    client.logout()  # a signed-in visitor is sent away from /login before any check
    return status


def test_login_is_throttled_per_username_like_the_api(client, alice):
    assert log_in_and_out(client, "alice") == 302
    for _ in range(10):
        assert client.post("/login", {"username": "alice", "password": "wrong"}).status_code == 200

    response = client.post("/login", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_successful_page_logins_in_a_row_are_never_throttled(client, alice, bob, login_budgets_of_3):
    answers = [log_in_and_out(client, name) for name in ("alice", "ALICE", "bob") * 2]

    assert answers == [302] * 6


def test_a_successful_page_login_does_not_clear_the_failures_before_it(client, alice, username_budget_of_3):
    wrong = {"username": "alice", "password": "wrong"}
    assert client.post("/login", wrong).status_code == 200
    assert client.post("/login", wrong).status_code == 200
    assert log_in_and_out(client, "alice") == 302
    assert client.post("/login", wrong).status_code == 200

    response = client.post("/login", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_login_page_enforces_csrf(alice):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/login", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 403


def test_logout_is_post_only_and_returns_to_login(client, alice):
    client.force_login(alice)

    assert client.get("/logout").status_code == 405
    response = client.post("/logout")

    assert response.status_code == 302
    assert response.url == "/login"
    assert client.get("/").status_code == 302


# --- the settings page --------------------------------------------------------------------------


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def password_data(old: str = PASSWORD, new: str = STRONG, again: str | None = None) -> dict:
    return {
        "action": "password",
        "password-old_password": old,
        "password-new_password1": new,
        "password-new_password2": new if again is None else again,
    }


def test_settings_sends_a_logged_out_visitor_to_login(client):
    response = client.get("/settings")

    assert response.status_code == 302
    assert response.url == "/login?next=/settings"
    assert client.post("/settings", {"action": "profile"}).status_code == 302


def test_settings_page_shows_the_profile_the_password_form_and_no_blocks(alice_client, alice):
    response = alice_client.get("/settings")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="profile-display_name"' in html
    assert 'value="alice"' in html
    assert 'name="profile-email_notifications" id="id_profile-email_notifications" checked' in html
    assert 'name="password-old_password"' in html
    assert "You have not blocked anyone." in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_settings_saves_the_display_name_and_turns_emails_off(alice_client, alice):
    response = alice_client.post("/settings", {"action": "profile", "profile-display_name": "  Alice A.  "})

    assert response.status_code == 302
    assert response.url == "/settings"
    alice.refresh_from_db()
    assert (alice.display_name, alice.email_notifications) == ("Alice A.", False)
    assert "Your profile was saved." in alice_client.get("/settings").content.decode()

    alice_client.post(
        "/settings", {"action": "profile", "profile-display_name": "", "profile-email_notifications": "on"}
    )
    alice.refresh_from_db()
    assert (alice.display_name, alice.email_notifications) == ("alice", True)


def test_settings_with_a_too_long_display_name_shows_the_error(alice_client, alice):
    response = alice_client.post("/settings", {"action": "profile", "profile-display_name": "x" * 65})

    assert response.status_code == 200
    assert "Ensure this value has at most 64 characters (it has 65)." in response.content.decode()
    alice.refresh_from_db()
    assert alice.display_name == "alice"


def test_settings_changes_the_password_keeps_this_session_and_signs_out_api_tokens(alice_client, alice, api_for):
    other_device = Client()
    other_device.force_login(alice)
    api_for(alice)  # issues a refresh token, as a login on another device does
    assert OutstandingToken.objects.filter(user=alice).exists()

    response = alice_client.post("/settings", password_data())

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(STRONG)
    assert alice_client.get("/settings").status_code == 200  # update_session_auth_hash kept this one
    assert other_device.get("/settings").status_code == 302  # the other session is over
    live = OutstandingToken.objects.filter(user=alice, blacklistedtoken__isnull=True)
    assert not live.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (password_data(old="wrong"), "old_password", "Your old password was entered incorrectly."),
        (password_data(again="something-else-entirely"), "new_password2", "The two password fields didn"),
        (password_data(new="12345678"), "new_password2", "This password is too common."),
    ],
)
def test_settings_password_with_bad_input_shows_the_error(alice_client, alice, data, field, message):
    response = alice_client.post("/settings", data)

    assert response.status_code == 200
    errors = response.context["password_form"].errors[field]
    assert any(error.startswith(message) for error in errors)
    assert message in response.content.decode().replace("&#x27;", "'")
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_settings_password_changes_spend_the_api_budget(alice_client, alice, monkeypatch):
    monkeypatch.setattr(PasswordChangeThrottle, "rate", "2/hour")
    for _ in range(2):
        alice_client.post("/settings", password_data(old="wrong"))

    response = alice_client.post("/settings", password_data())

    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_settings_lists_blocked_people_and_unblocks_them(alice_client, alice, make_user):
    mallory = make_user("mallory", display_name="<b>Mal</b>")
    moderation.user_block(blocker=alice, blocked=mallory)

    html = alice_client.get("/settings").content.decode()
    assert "@mallory" in html
    assert "&lt;b&gt;Mal&lt;/b&gt;" in html
    assert "<b>Mal</b>" not in html

    response = alice_client.post("/settings", {"action": "unblock", "username": "mallory"})

    assert response.status_code == 302
    assert not Block.objects.filter(blocker=alice).exists()


def test_settings_enforces_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post("/settings", {"action": "profile", "profile-display_name": "x"}).status_code == 403
