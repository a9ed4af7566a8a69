"""The safety calls' smaller rules: what can be reported, and blocks that are idempotent."""

import pytest

from chat import moderation, services
from chat.models import Block, Report

pytestmark = pytest.mark.django_db


def _report(api, message):
    return api.post(f"/api/messages/{message.conversation_id}/{message.pk}/report", {"reason": "spam"}, format="json")


def test_reporting_ones_own_message_is_a_400(api_for, alice, direct):
    message, _ = services.message_send(sender=alice, conversation=direct, content="mine")

    response = _report(api_for(alice), message)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Report.objects.exists()


def test_reporting_a_deleted_message_is_a_400(api_for, alice, bob, direct):
    message, _ = services.message_send(sender=bob, conversation=direct, content="gone soon")
    services.message_delete(actor=bob, message=message)

    response = _report(api_for(alice), message)

    assert response.status_code == 400
    assert response.json()["code"] == "message_deleted"
    assert not Report.objects.exists()


def test_reporting_someone_elses_message_still_works(api_for, alice, bob, direct):
    message, _ = services.message_send(sender=bob, conversation=direct, content="spam")

    assert _report(api_for(alice), message).status_code == 201


def test_blocking_twice_is_a_200_with_the_same_answer(api_for, alice, bob):
    api = api_for(alice)

    first, second = api.post("/api/users/bob/block"), api.post("/api/users/BOB/block/")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json() == {"id": bob.pk, "username": "bob", "display_name": "bob"}
    assert Block.objects.count() == 1


def test_unblocking_someone_not_blocked_is_a_404(api_for, alice, bob):
    api = api_for(alice)

    response = api.delete("/api/users/bob/block")

    assert response.status_code == 404
    assert response.json()["code"] == "not_blocked"


def test_unblocking_lifts_the_block_once(api_for, alice, bob):
    moderation.user_block(blocker=alice, blocked=bob)
    api = api_for(alice)

    assert [api.delete("/api/users/bob/block").status_code for _ in range(2)] == [204, 404]
    assert not Block.objects.exists()
