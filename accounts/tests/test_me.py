"""The caller's own settings: PATCH /api/auth/me (display name, emails) and POST /api/auth/password."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-quite-different-passphrase-42"


def patch_me(api: APIClient, body: dict):
    return api.patch("/api/auth/me", body, format="json")


def change_password(api: APIClient, old: str, new: str):
    return api.post("/api/auth/password", {"old_password": old, "new_password": new}, format="json")


def test_me_shows_whether_emails_are_on(api_for, alice):
    assert api_for(alice).get("/api/auth/me").json()["email_notifications"] is True


def test_patch_me_turns_emails_off_and_on(api_for, alice):
    api = api_for(alice)

    response = patch_me(api, {"email_notifications": False})

    assert response.status_code == 200
    assert response.json()["email_notifications"] is False
    assert User.objects.get(pk=alice.pk).email_notifications is False
    assert patch_me(api, {"email_notifications": True}).json()["email_notifications"] is True


def test_patch_me_changes_the_display_name_and_a_blank_one_means_the_username(api_for, alice):
    api = api_for(alice)

    assert patch_me(api, {"display_name": "  Alice B. "}).json()["display_name"] == "Alice B."
    assert User.objects.get(pk=alice.pk).display_name == "Alice B."
    assert patch_me(api, {"display_name": " "}).json()["display_name"] == "alice"


def test_patch_me_changes_only_what_it_names(api_for, alice):
    api = api_for(alice)
    patch_me(api, {"display_name": "Ally"})

    body = patch_me(api, {"email_notifications": False}).json()

    assert body["display_name"] == "Ally"
    assert body["username"] == "alice"
    assert patch_me(api, {}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"display_name": "x" * 65}, "display_name"),
        ({"display_name": None}, "display_name"),
        ({"email_notifications": "perhaps"}, "email_notifications"),
    ],
)
def test_patch_me_refuses_bad_values_with_a_400_naming_the_field(api_for, alice, body, field):
    response = patch_me(api_for(alice), body)

    assert response.status_code == 400
    assert field in response.json()


def test_fields_that_are_not_settings_are_ignored(api_for, alice):
    body = patch_me(api_for(alice), {"username": "mallory", "email": "m@example.com", "is_staff": True}).json()

    alice.refresh_from_db()
    assert (body["username"], alice.username, alice.email, alice.is_staff) == (
        "alice",
        "alice",
        "alice@example.com",
        False,
    )


def test_settings_need_authentication(api_for):
    assert patch_me(api_for(), {"email_notifications": False}).status_code == 401
    assert change_password(api_for(), PASSWORD, NEW_PASSWORD).status_code == 401


def test_change_password_needs_the_current_one(api_for, alice):
    response = change_password(api_for(alice), "not-my-password", NEW_PASSWORD)

    assert response.status_code == 400
    assert "old_password" in response.json()
    assert User.objects.get(pk=alice.pk).check_password(PASSWORD)


def test_change_password_refuses_a_weak_new_one(api_for, alice):
    response = change_password(api_for(alice), PASSWORD, "12345678")

    assert response.status_code == 400
    assert "new_password" in response.json()


def test_change_password_signs_other_devices_out_and_keeps_this_one(alice):
    other_device = APIClient()
    old_refresh = other_device.post(
        "/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()["refresh"]
    api = APIClient()
    login = api.post("/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login['access']}")

    response = change_password(api, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "access", "refresh"}
    assert other_device.post("/api/auth/refresh", {"refresh": old_refresh}, format="json").status_code == 401
    assert APIClient().post("/api/auth/refresh", {"refresh": body["refresh"]}, format="json").status_code == 200
    fresh = APIClient().post("/api/auth/login", {"username": "alice", "password": NEW_PASSWORD}, format="json")
    assert fresh.status_code == 200


def test_change_password_keeps_the_browser_session(client, alice):
    client.force_login(alice)

    response = client.post(
        "/api/auth/password",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert client.get("/api/auth/me").status_code == 200
