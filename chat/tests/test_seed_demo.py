"""`manage.py seed_demo`: demo users, a direct conversation and a group, idempotently."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from chat.management.commands.seed_demo import DEMO_PASSWORD
from chat.models import Conversation, Message, Participant

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def snapshot() -> tuple:
    return (
        sorted(User.objects.values_list("username", flat=True)),
        sorted(Conversation.objects.values_list("is_group", "title")),
        Message.objects.count(),
        Participant.objects.count(),
    )


def test_seed_demo_creates_users_a_direct_chat_and_a_group_with_history():
    output = seed()

    assert DEMO_PASSWORD in output
    users, conversations, messages, participants = snapshot()
    assert users == ["alice", "bob", "carol"]
    assert conversations == [(False, ""), (True, "Coffee club")]
    assert messages == 8
    assert participants == 5
    group = Conversation.objects.get(is_group=True)
    assert list(group.messages.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3, 4]
    client = Client()
    assert client.post("/login", {"username": "alice", "password": DEMO_PASSWORD}).status_code == 302


def test_seed_demo_is_idempotent():
    seed()
    before = snapshot()

    output = seed()

    assert snapshot() == before
    assert "alice: already exists" in output
