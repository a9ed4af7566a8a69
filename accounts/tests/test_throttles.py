"""The login budgets under real parallel requests: two daphne processes on PostgreSQL + Redis, each
answering half of the attempts, never process more than the budget between them."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = [pytest.mark.live, pytest.mark.postgres_redis, pytest.mark.django_db(transaction=True)]


def login(url: str, username: str, password: str) -> int:
    request = urllib.request.Request(
        f"{url}/api/auth/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def in_parallel(servers, names: list[str]) -> list[int]:
    """One wrong login per name, all at once, alternately on each server."""
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = [
            pool.submit(login, servers[n % len(servers)].url, name, "wrong password") for n, name in enumerate(names)
        ]
        return [future.result() for future in futures]


def test_parallel_guesses_at_one_account_are_at_most_its_budget(two_servers, alice):
    # The account's budget is 10 a minute, whether it is named by its username or its email.
    statuses = in_parallel(two_servers, ["alice", "alice@example.com", "ALICE"] * 20)

    assert set(statuses) <= {401, 429}
    assert 1 <= statuses.count(401) <= 10


def test_parallel_guesses_from_one_address_are_at_most_its_budget(two_servers, alice):
    # Every guess names another account; the address's budget is 30 a minute.
    statuses = in_parallel(two_servers, [f"nobody{n}" for n in range(90)])

    assert set(statuses) <= {401, 429}
    assert 1 <= statuses.count(401) <= 30
