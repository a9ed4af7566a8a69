"""The chat services: every write, called directly as the REST views and the consumers call them."""

import pytest
from django.db import transaction

from chat import services
from chat.errors import ChatError, ErrorCode
from chat.models import Conversation, Message, Participant

pytestmark = pytest.mark.django_db


def direct_of(user, other) -> Conversation:
    return services.conversation_get_or_create_direct(user=user, other=other)[0]


def send(sender, conversation: Conversation, content: str = "hello", client_id: str | None = None):
    conversation.refresh_from_db()
    return services.message_send(sender=sender, conversation=conversation, content=content, client_id=client_id)


def member(conversation: Conversation, user) -> Participant:
    return Participant.objects.select_related("conversation", "user").get(conversation=conversation, user=user)


def roles(conversation: Conversation) -> dict[str, str]:
    return dict(Participant.objects.filter(conversation=conversation).values_list("user__username", "role"))


def refused(code: ErrorCode):
    """Expect a ChatError with this code."""
    return pytest.raises(ChatError, check=lambda error: error.code == code)


# --- message_send -------------------------------------------------------------------------------


def test_message_send_trims_numbers_and_bumps_the_conversation(alice, bob):
    chat = direct_of(alice, bob)
    created_at = chat.updated_at

    first, created = send(alice, chat, "  one  ")
    second, _ = send(bob, chat, "two")

    assert created is True
    assert (first.content, first.seq, second.seq) == ("one", 1, 2)
    chat.refresh_from_db()
    assert chat.last_seq == 2
    assert chat.updated_at == second.created_at > created_at


def test_message_send_marks_the_message_read_and_delivered_for_its_sender(alice, bob):
    chat = direct_of(alice, bob)

    message, _ = send(alice, chat)

    mine, theirs = member(chat, alice), member(chat, bob)
    assert (mine.last_read_message_id, mine.last_read_seq, mine.last_delivered_message_id) == (
        message.pk,
        1,
        message.pk,
    )
    assert (theirs.last_read_message_id, theirs.last_read_seq) == (None, 0)


def test_message_send_with_a_used_client_id_returns_the_first_message(alice, bob):
    chat = direct_of(alice, bob)
    first, _ = send(alice, chat, "hello", client_id="abc")

    again, created = send(alice, chat, "hello, edited on retry", client_id="abc")

    assert created is False
    assert again == first
    assert again.content == "hello"
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("content", "code"),
    [("", ErrorCode.CONTENT_EMPTY), (" \n ", ErrorCode.CONTENT_EMPTY), ("y" * 4097, ErrorCode.CONTENT_TOO_LONG)],
)
def test_message_send_refuses_blank_or_too_long_content(alice, bob, content, code):
    chat = direct_of(alice, bob)

    with refused(code) as caught:
        send(alice, chat, content)

    assert caught.value.field == "content"
    assert caught.value.http_status == 400
    assert not Message.objects.exists()


def test_a_rolled_back_send_gives_its_seq_back(alice, bob):
    chat = direct_of(alice, bob)

    def send_in_a_transaction_that_fails() -> None:
        with transaction.atomic():
            send(alice, chat)
            raise RuntimeError("the caller's transaction fails after the send")

    with pytest.raises(RuntimeError):
        send_in_a_transaction_that_fails()

    assert send(alice, chat)[0].seq == 1


def test_message_send_announces_a_new_message_once_after_commit(alice, bob, django_capture_on_commit_callbacks):
    chat = direct_of(alice, bob)

    with django_capture_on_commit_callbacks() as first:
        send(alice, chat, client_id="abc")
    with django_capture_on_commit_callbacks() as retry:
        send(alice, chat, client_id="abc")

    assert len(first) == 1
    assert retry == []


# --- direct conversations -----------------------------------------------------------------------


def test_direct_conversation_is_one_per_pair_whoever_starts_it(alice, bob):
    conversation, created = services.conversation_get_or_create_direct(user=alice, other=bob)
    again, created_again = services.conversation_get_or_create_direct(user=bob, other=alice)

    assert (created, created_again) == (True, False)
    assert again == conversation
    assert conversation.is_group is False
    assert conversation.title == ""
    assert roles(conversation) == {"alice": "member", "bob": "member"}


def test_direct_conversation_with_yourself_is_refused(alice):
    with refused(ErrorCode.DIRECT_WITH_SELF):
        services.conversation_get_or_create_direct(user=alice, other=alice)

    assert not Conversation.objects.exists()


# --- groups -------------------------------------------------------------------------------------


def test_group_create_makes_an_owner_and_members(alice, bob, carol):
    crew = services.conversation_create_group(creator=alice, title=" Crew ", usernames=["BOB", "carol", "alice"])

    assert crew.is_group is True
    assert crew.title == "Crew"
    assert roles(crew) == {"alice": "owner", "bob": "member", "carol": "member"}


def test_group_create_names_every_unknown_user(alice, bob, make_user):
    make_user("gone", is_active=False)

    with refused(ErrorCode.USER_NOT_FOUND) as caught:
        services.conversation_create_group(creator=alice, title="Crew", usernames=["bob", "zed", "gone"])

    assert caught.value.detail == "Unknown users: gone, zed."
    assert caught.value.field == "usernames"
    assert caught.value.http_status == 400
    assert not Conversation.objects.exists()


def test_group_create_needs_a_title(alice):
    with refused(ErrorCode.INVALID) as caught:
        services.conversation_create_group(creator=alice, title="  ", usernames=[])

    assert caught.value.field == "title"


def test_rename_is_for_the_owner_and_admins_of_groups(alice, bob, carol):
    crew = services.conversation_create_group(creator=alice, title="Crew", usernames=["bob", "carol"])
    Participant.objects.filter(conversation=crew, user=bob).update(role=Participant.Role.ADMIN)

    services.conversation_rename(actor=member(crew, bob), title=" Brewers ")
    with refused(ErrorCode.FORBIDDEN) as caught:
        services.conversation_rename(actor=member(crew, carol), title="Mine")
    with refused(ErrorCode.NOT_A_GROUP):
        services.conversation_rename(actor=member(direct_of(alice, bob), alice), title="Us")

    crew.refresh_from_db()
    assert crew.title == "Brewers"
    assert caught.value.http_status == 403


def test_an_added_member_starts_with_everything_read(alice, bob, carol):
    crew = services.conversation_create_group(creator=alice, title="Crew", usernames=["bob"])
    send(bob, crew)
    latest, _ = send(bob, crew)

    added = services.conversation_add_member(actor=member(crew, alice), username="Carol")

    assert (added.role, added.last_read_seq, added.last_read_message_id) == ("member", 2, latest.pk)
    assert added.last_delivered_message_id == latest.pk


def test_a_member_added_to_an_empty_group_has_read_nothing(alice, bob):
    crew = services.conversation_create_group(creator=alice, title="Crew", usernames=[])

    added = services.conversation_add_member(actor=member(crew, alice), username="bob")

    assert (added.last_read_seq, added.last_read_message_id) == (0, None)


@pytest.mark.parametrize(
    ("username", "code"), [("bob", ErrorCode.ALREADY_MEMBER), ("nobody", ErrorCode.USER_NOT_FOUND)]
)
def test_add_member_refuses_members_and_unknown_users(alice, bob, username, code):
    crew = services.conversation_create_group(creator=alice, title="Crew", usernames=["bob"])

    with refused(code) as caught:
        services.conversation_add_member(actor=member(crew, alice), username=username)

    assert caught.value.field == "username"
    assert caught.value.http_status == 400


def test_only_managers_add_members_and_only_to_groups(alice, bob, carol):
    crew = services.conversation_create_group(creator=alice, title="Crew", usernames=["bob"])

    with refused(ErrorCode.FORBIDDEN):
        services.conversation_add_member(actor=member(crew, bob), username="carol")
    with refused(ErrorCode.NOT_A_GROUP):
        services.conversation_add_member(actor=member(direct_of(alice, bob), alice), username="carol")


def test_remove_member_rules(alice, bob, carol, make_user):
    dave = make_user("dave")
    crew = services.conversation_create_group(creator=alice, title="Crew", usernames=["bob", "carol", "dave"])
    Participant.objects.filter(conversation=crew, user=bob).update(role=Participant.Role.ADMIN)

    with refused(ErrorCode.FORBIDDEN):
        services.conversation_remove_member(actor=member(crew, carol), username="dave")
    with refused(ErrorCode.FORBIDDEN):
        services.conversation_remove_member(actor=member(crew, bob), username="alice")
    with refused(ErrorCode.NOT_A_MEMBER):
        services.conversation_remove_member(actor=member(crew, bob), username="erin")
    services.conversation_remove_member(actor=member(crew, bob), username="DAVE")
    services.conversation_remove_member(actor=member(crew, carol), username="carol")

    assert roles(crew) == {"alice": "owner", "bob": "admin"}
    assert not dave.participations.exists()


def test_a_leaving_owner_hands_over_to_the_oldest_admin_else_the_oldest_member(alice, bob, carol, make_user):
    dave = make_user("dave")
    crew = services.conversation_create_group(creator=alice, title="Crew", usernames=["bob"])
    services.conversation_add_member(actor=member(crew, alice), username="carol")
    services.conversation_add_member(actor=member(crew, alice), username="dave")
    Participant.objects.filter(conversation=crew, user=dave).update(role=Participant.Role.ADMIN)

    services.conversation_remove_member(actor=member(crew, alice), username="alice")
    assert roles(crew) == {"bob": "member", "carol": "member", "dave": "owner"}

    services.conversation_remove_member(actor=member(crew, dave), username="dave")
    assert roles(crew) == {"bob": "owner", "carol": "member"}


def test_the_last_member_may_leave_a_group(alice):
    crew = services.conversation_create_group(creator=alice, title="Solo", usernames=[])

    services.conversation_remove_member(actor=member(crew, alice), username="alice")

    assert roles(crew) == {}


def test_nobody_leaves_a_direct_conversation(alice, bob):
    chat = direct_of(alice, bob)

    with refused(ErrorCode.NOT_A_GROUP):
        services.conversation_remove_member(actor=member(chat, alice), username="alice")
    with refused(ErrorCode.NOT_A_GROUP):
        services.conversation_remove_member(actor=member(chat, alice), username="bob")


# --- read and delivered pointers ----------------------------------------------------------------


def test_mark_read_moves_forward_only(alice, bob):
    chat = direct_of(alice, bob)
    first, second = send(bob, chat)[0], send(bob, chat)[0]

    services.conversation_mark_read(participant=member(chat, alice), message_id=second.pk)
    after_late_read = services.conversation_mark_read(participant=member(chat, alice), message_id=first.pk)

    assert (after_late_read.last_read_message_id, after_late_read.last_read_seq) == (second.pk, 2)
    assert after_late_read.last_delivered_message_id == second.pk


def test_mark_read_without_a_message_reads_the_newest(alice, bob):
    chat = direct_of(alice, bob)
    send(bob, chat)
    newest, _ = send(bob, chat)

    assert services.conversation_mark_read(participant=member(chat, alice)).last_read_message_id == newest.pk


def test_mark_read_announces_only_a_pointer_that_moved(alice, bob, django_capture_on_commit_callbacks):
    chat = direct_of(alice, bob)
    message, _ = send(bob, chat)

    with django_capture_on_commit_callbacks() as moved:
        services.conversation_mark_read(participant=member(chat, alice), message_id=message.pk)
    with django_capture_on_commit_callbacks() as unchanged:
        services.conversation_mark_read(participant=member(chat, alice), message_id=message.pk)
    quiet = services.conversation_create_group(creator=alice, title="Quiet", usernames=[])
    with django_capture_on_commit_callbacks() as empty:
        services.conversation_mark_read(participant=member(quiet, alice))

    assert len(moved) == 1
    assert unchanged == []
    assert empty == []


def test_mark_read_refuses_a_message_of_another_conversation(alice, bob, carol):
    chat = direct_of(alice, bob)
    elsewhere, _ = send(carol, direct_of(alice, carol))

    with refused(ErrorCode.MESSAGE_NOT_FOUND) as caught:
        services.conversation_mark_read(participant=member(chat, alice), message_id=elsewhere.pk)

    assert caught.value.field == "message_id"
    assert caught.value.http_status == 400


def test_mark_delivered_moves_forward_only(alice, bob):
    chat = direct_of(alice, bob)
    first, second = send(bob, chat)[0], send(bob, chat)[0]

    services.conversation_mark_delivered(participant=member(chat, alice), message_id=second.pk)
    services.conversation_mark_delivered(participant=member(chat, alice), message_id=first.pk)

    assert member(chat, alice).last_delivered_message_id == second.pk
    assert member(chat, alice).last_read_message_id is None
