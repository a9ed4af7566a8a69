"""Schemathesis against the project's own OpenAPI schema (docs/security.md).

Every operation, fed generated input by a signed-in user who has a direct conversation and a group
with messages, never answers 500, and every answer is one the schema documents, in the documented
shape and content type.

The requests go in-process to Django's WSGI handler, inside the test's transaction. Half the time a
path parameter or body field that names a conversation, a message or a user is one that exists (or a
hostile spelling of one), so the calls get past the 404 of an unknown id; the rest of the time it is
whatever Schemathesis makes up.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import token_pair_for
from chat import services

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    """Django's handler closes the database connection around each request, which would end the
    test's transaction; like Django's test client, the fuzzed requests keep it open."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(make_user) -> dict:
    alice, bob, _carol = make_user("alice"), make_user("bob"), make_user("carol")
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    group = services.conversation_create_group(creator=alice, title="Brew crew", usernames=["bob", "carol"])
    messages = [
        services.message_send(sender=sender, conversation=conversation, content=f"hello {n}")[0]
        for n, (sender, conversation) in enumerate([(alice, direct), (bob, direct), (alice, group), (bob, group)])
    ]
    return {
        "token": token_pair_for(alice)["access"],
        "known": {
            "conversation_id": [direct.pk, group.pk],
            "message_id": [message.pk for message in messages],
            # PostgreSQL refuses even to compare text with a NUL in it.
            "username": ["bob", "carol", "BOB", "alice", "bob\x00", " carol "],
        },
    }


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_operation_answers_500_or_off_schema(case, data, seeded):
    known = seeded["known"]
    for values in (case.path_parameters, case.body):
        if not isinstance(values, dict):
            continue
        for name in values:
            if name in known and data.draw(st.booleans(), label=f"known {name}"):
                values[name] = data.draw(st.sampled_from(known[name]), label=name)

    case.call_and_validate(headers={"Authorization": f"Bearer {seeded['token']}"}, checks=CHECKS)


# --- What fuzzing found, kept as plain examples -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/conversations/direct/bob%00"),
        ("post", "/api/users/bob%00/block"),
        ("delete", "/api/users/bob%00/block"),
        ("delete", "/api/conversations/{group}/members/bob%00"),
    ],
)
def test_a_username_with_a_nul_in_the_url_is_not_found(api_for, seeded, method, path):
    group = seeded["known"]["conversation_id"][1]
    client = api_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {seeded['token']}")

    response = getattr(client, method)(path.format(group=group))

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.parametrize("path", ["/api/messages", "/api/auth/login", "/api/conversations/"])
def test_json_nested_too_deeply_is_a_400(api_for, seeded, path):
    client = api_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {seeded['token']}")

    response = client.post(path, "[" * 5000 + "]" * 5000, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"code": "parse_error", "detail": "JSON parse error - nested too deeply."}


def test_a_body_over_djangos_limit_is_a_json_400(api_for):
    body = '{"username": "' + "x" * 3_000_000 + '", "password": "x"}'

    response = api_for().post("/api/auth/login", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"code": "invalid", "detail": "The request body is too large."}
