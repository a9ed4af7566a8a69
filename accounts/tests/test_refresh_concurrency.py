"""Parallel refreshes of one refresh token, over real HTTP with a database connection each: exactly one
issues a new pair (accounts.services.token_refresh), and the others count as reuse."""

import json
import threading
import urllib.error
import urllib.request

import pytest
from django.db import connection
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.services import token_pair_for

PARALLEL = 20

pytestmark = [
    pytest.mark.postgres_redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (SQLite runs one writer at a time)"),
]


def refresh(url: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/api/auth/refresh",
        data=json.dumps({"refresh": token}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_parallel_refreshes_of_one_token_issue_one_pair(live_server, alice):
    token = token_pair_for(alice)["refresh"]
    start = threading.Barrier(PARALLEL)
    answers: list[tuple[int, dict]] = []

    def attempt() -> None:
        start.wait()
        answers.append(refresh(live_server.url, token))

    threads = [threading.Thread(target=attempt) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [401] * (PARALLEL - 1), statuses
    # One new refresh token was issued, and the reuse by the others revoked it with its family.
    assert OutstandingToken.objects.filter(user=alice).count() == 2
    assert OutstandingToken.objects.filter(user=alice, blacklistedtoken__isnull=True).count() == 0
    winner = next(body for status, body in answers if status == 200)
    assert refresh(live_server.url, winner["refresh"])[0] == 401
