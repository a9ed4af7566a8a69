"""The admin's login spends the budgets of every other login: per account and per address."""

import pytest
from rest_framework.test import APIClient

from conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


def admin_login(client, username: str, password: str = PASSWORD):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_after_the_budget_even_the_right_password_is_refused_at_the_admin(client, root):
    for _ in range(10):
        response = admin_login(client, "root", "wrong password")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.text

    response = admin_login(client, "root")

    assert response.status_code == 429
    assert "Too many attempts. Try again in" in response.text
    assert client.get("/admin/").status_code == 302  # still logged out


def test_the_admin_shares_its_budgets_with_the_api_and_the_login_page(client, root, login_budgets_of_3):
    api = APIClient()
    assert api.post("/api/auth/login", {"username": "root", "password": "guess"}, format="json").status_code == 401
    assert client.post("/login", {"username": "root@example.com", "password": "guess"}).status_code == 200
    assert admin_login(client, "ROOT", "guess").status_code == 200

    assert admin_login(client, "root").status_code == 429


def test_successful_admin_logins_spend_nothing(client, root, login_budgets_of_3):
    for _ in range(5):
        assert admin_login(client, "root").status_code == 302
        client.logout()
