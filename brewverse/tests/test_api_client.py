"""A typed client generated from the served schema works: what a bot author or mobile developer does
with `openapi-python-client` (docs/api.md), against a real server.

The client is generated from `/api/schema/` into the test's directory and imported from there; it
then signs in, lists conversations, sends a message, reads the history and meets an error, each
answer parsed into the generated models (which refuse fields of the wrong type, a missing required
field, or an error code outside the `ErrorCode` enum).
"""

import importlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chat import services
from conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "brewverse_client"


@pytest.fixture
def generated(live_server, tmp_path, monkeypatch):
    """The generated package, from the schema the live server serves."""
    schema = tmp_path / "schema.json"
    schema.write_bytes(httpx.get(f"{live_server.url}/api/schema/?format=json").raise_for_status().content)
    config = tmp_path / "config.yml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    subprocess.run(
        [
            GENERATOR,
            "generate",
            "--path",
            schema,
            "--meta",
            "none",
            "--config",
            config,
            "--output-path",
            tmp_path / PACKAGE,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda module: importlib.import_module(f"{PACKAGE}.{module}")
    for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
        del sys.modules[name]


def test_a_generated_client_signs_in_lists_sends_and_reads(generated, live_server, alice, bob, direct):
    client, models = generated("client"), generated("models")
    login = generated("api.auth.auth_login_create")
    conversations_list = generated("api.conversations.conversations_list")
    messages_create = generated("api.messages.messages_create")
    messages_list = generated("api.messages.messages_list")
    services.message_send(sender=bob, conversation=direct, content="hi alice")

    session = login.sync(
        client=client.Client(base_url=live_server.url), body=models.LoginInputRequest("alice", PASSWORD)
    )
    assert isinstance(session, models.TokenPairOutput)
    assert session.user.username == "alice"
    api = client.AuthenticatedClient(base_url=live_server.url, token=session.access)

    (conversation,) = conversations_list.sync(client=api)
    assert isinstance(conversation, models.Conversation)
    assert isinstance(conversation.other_user, models.UserPublic)
    assert conversation.other_user.username == "bob"
    assert isinstance(conversation.last_message, models.Message)
    assert conversation.last_message.content == "hi alice"
    assert conversation.unread_count == 1

    body = models.MessageCreateInputRequest(conversation_id=conversation.id, content="hello bob", client_id="c-1")
    sent = messages_create.sync(client=api, body=body)
    assert isinstance(sent, models.Message)
    assert (sent.content, sent.client_id, sent.deleted, sent.sender.username) == ("hello bob", "c-1", False, "alice")
    assert messages_create.sync_detailed(client=api, body=body).status_code == 200  # the retry: the same message

    history = messages_list.sync(conversation.id, client=api, limit=10)
    assert [(m.seq, m.content) for m in history] == [(1, "hi alice"), (2, "hello bob")]
    assert all(isinstance(m.created_at, type(sent.created_at)) for m in history)


def test_a_generated_client_reads_errors_as_the_one_error_model(generated, live_server, alice, direct):
    client, models = generated("client"), generated("models")
    login = generated("api.auth.auth_login_create")
    messages_create = generated("api.messages.messages_create")
    refresh = generated("api.auth.auth_refresh_create")
    anonymous = client.Client(base_url=live_server.url)

    refused = login.sync(client=anonymous, body=models.LoginInputRequest("alice", "wrong"))
    assert isinstance(refused, models.Error)
    assert refused.code == models.ErrorCode.AUTHENTICATION_FAILED

    session = login.sync(client=anonymous, body=models.LoginInputRequest("alice", PASSWORD))
    api = client.AuthenticatedClient(base_url=live_server.url, token=session.access)
    too_long = messages_create.sync(
        client=api, body=models.MessageCreateInputRequest(conversation_id=direct.pk, content="x" * 5000)
    )
    assert isinstance(too_long, models.Error)
    assert too_long.code == models.ErrorCode.CONTENT_TOO_LONG
    assert too_long.additional_properties["content"] == [too_long.detail]

    rotated = refresh.sync(client=anonymous, body=models.RefreshInputRequest(session.refresh))
    assert isinstance(rotated, models.TokenRefreshOutput)
    assert rotated.refresh != session.refresh
