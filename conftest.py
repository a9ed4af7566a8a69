"""Fixtures shared by every test: users, authenticated API clients, a clean cache."""

import functools
import itertools
import time

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.test import TransactionTestCase
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import token_pair_for
from accounts.throttles import LoginAccountThrottle, LoginIPThrottle
from chat import presence, services
from chat.tests.live import live_env, live_server

PASSWORD = "correct-horse-battery-staple"
_serial = itertools.count(1)


_flush = TransactionTestCase._fixture_teardown


def _flush_retrying_deadlocks(self) -> None:
    """Empty the test database after a `transaction=True` test, again if PostgreSQL made it a deadlock's
    victim. A test's live daphne processes may still be finishing what its last sockets began (a
    presence frame's audience, a receipt) when the TRUNCATE comes: each takes its locks table by table,
    in another order. PostgreSQL's advice for a deadlock victim is to retry."""
    for attempt in range(5):
        try:
            return _flush(self)
        except CommandError as error:
            cause = error.__cause__
            if attempt == 4 or not isinstance(cause, OperationalError) or "deadlock" not in str(cause):
                raise
            time.sleep(0.2)


TransactionTestCase._fixture_teardown = _flush_retrying_deadlocks


@pytest.fixture(autouse=True)
def _clean_cache():
    """Throttle counters must not leak from one test into the next."""
    cache.clear()


@functools.cache
def _password_hash(hashers: tuple[str, ...]) -> str:
    """PASSWORD hashed once (Argon2 spends ~0.1 s a hash on purpose) per list of hashers in force (a
    test may switch to a fast one, whose hash the others could not check); every test user shares it."""
    return make_password(PASSWORD)


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, **extra) -> User:
        username = username or f"user{next(_serial)}"
        user = User.objects.create_user(
            username=username, email=extra.pop("email", f"{username}@example.com"), password=None, **extra
        )
        # A real Argon2 hash of PASSWORD, so logins (in tests and in live servers) work as usual.
        user.password = _password_hash(tuple(settings.PASSWORD_HASHERS))
        user.save(update_fields=["password"])
        return user

    return make


@pytest.fixture
def alice(make_user) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user) -> User:
    return make_user("bob")


@pytest.fixture
def carol(make_user) -> User:
    return make_user("carol")


@pytest.fixture
def direct(alice, bob):
    """alice and bob's direct conversation."""
    conversation, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    return conversation


@pytest.fixture
def clean_presence():
    """Drops presence entries an earlier run left in Redis (user ids start again on a new test database)."""
    if settings.REDIS_URL:
        client = presence._sync_client()
        for key in client.scan_iter(f"{presence.KEY_PREFIX}*"):
            client.delete(key)


@pytest.fixture
def api_for():
    """An API client authenticated with a real simplejwt access token for `user`."""

    def client(user: User | None = None) -> APIClient:
        api = APIClient()
        if user is not None:
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(user)['access']}")
        return api

    return client


@pytest.fixture(scope="module")
def two_servers(django_db_setup):
    """Two daphne processes on the test database and the run's Redis, for one module's tests."""
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL and Redis")
    env = live_env()
    with live_server(env) as first, live_server(env) as second:
        yield first, second


@pytest.fixture
def login_budgets_of_3(monkeypatch):
    """Every login's budgets (per account and per IP) at 3 a minute: the API, the pages and the admin."""
    monkeypatch.setattr(LoginAccountThrottle, "rate", "3/min", raising=False)
    monkeypatch.setattr(LoginIPThrottle, "rate", "3/min", raising=False)
