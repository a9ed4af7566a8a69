"""The fault suite talks to its own servers only (faults/servers.py), never to Django's configured ones."""

import pytest


@pytest.fixture(autouse=True)
def _clean_cache():
    """Overrides the root conftest's: clearing Django's cache would flush the shared Redis when
    REDIS_URL is set, and nothing here uses that cache."""
