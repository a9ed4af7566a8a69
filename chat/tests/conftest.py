"""Fixtures of the chat tests: a moderator (a superuser) and an admin client signed in as them."""

import pytest


@pytest.fixture
def moderator(make_user):
    return make_user("mod", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, moderator):
    client.force_login(moderator)
    return client
