"""Fixtures shared by the API and page tests of accounts."""

import pytest

from accounts.throttles import LoginAccountThrottle


@pytest.fixture
def username_budget_of_3(monkeypatch):
    """The IP's budget stays at 30, so a 429 can only come from the name's."""
    monkeypatch.setattr(LoginAccountThrottle, "rate", "3/min", raising=False)
