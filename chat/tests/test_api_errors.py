"""An unreachable database is a 503 with Retry-After, so API clients retry instead of giving up."""

from django.db import InterfaceError, OperationalError

from chat.api.errors import exception_handler


def test_database_outage_is_a_503_with_retry_after():
    for error in (OperationalError("connection refused"), InterfaceError("connection already closed")):
        response = exception_handler(error, {})
        assert response.status_code == 503
        assert response["Retry-After"] == "2"
        assert response.data["code"] == "unavailable"


def test_other_server_errors_are_left_to_django():
    assert exception_handler(ValueError("bug"), {}) is None
