"""The output shapes built by plain functions are byte for byte what DRF's field-by-field serializing of
the same declared fields gives, so the shapes (and the schema built from the fields) cannot drift apart."""

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from accounts.serializers import UserPublicSerializer, user_payload
from chat import selectors, services
from chat.api.serializers import (
    ConversationSerializer,
    MessageSerializer,
    ParticipantSerializer,
    conversation_payload,
    message_payload,
    participant_payload,
)
from chat.models import Message, Participant

pytestmark = pytest.mark.django_db


# --- the reference: DRF's generic ModelSerializer output of each class's declared fields ------------


def generic(serializer: serializers.ModelSerializer, instance) -> dict:
    return serializers.ModelSerializer.to_representation(serializer, instance)


class GenericUser(UserPublicSerializer):
    def to_representation(self, user) -> dict:
        return generic(self, user)


class GenericMessage(MessageSerializer):
    sender = GenericUser(read_only=True)

    def to_representation(self, message: Message) -> dict:
        data = generic(self, message)
        if data["deleted"]:
            data["content"] = ""
        return data


class GenericParticipant(ParticipantSerializer):
    def to_representation(self, participant: Participant) -> dict:
        return generic(self, participant)


class GenericConversation(ConversationSerializer):
    participants = GenericParticipant(many=True, read_only=True)

    def to_representation(self, conversation) -> dict:
        return generic(self, conversation)

    def get_other_user(self, conversation) -> dict | None:
        if conversation.is_group:
            return None
        me = self.context["user"].pk
        other = next((p.user for p in conversation.participants.all() if p.user_id != me), None)
        return GenericUser(other).data if other else None

    def get_last_message(self, conversation) -> dict | None:
        latest = getattr(conversation, "latest", None)
        return GenericMessage(latest[0]).data if latest else None


def rendered(data) -> bytes:
    return JSONRenderer().render(data)


def assert_same(built, reference) -> None:
    assert built == reference
    assert rendered(built) == rendered(reference)  # key order and encoding too


# --- the cases ------------------------------------------------------------------------------------


@pytest.fixture
def messages(alice, bob, direct) -> dict[str, Message]:
    plain = services.message_send(sender=alice, conversation=direct, content="plain <b>text</b> ✓")[0]
    with_client_id = services.message_send(sender=bob, conversation=direct, content="retry-safe", client_id="c-1")[0]
    edited = services.message_send(sender=bob, conversation=direct, content="edited")[0]
    deleted = services.message_send(sender=alice, conversation=direct, content="regrettable")[0]
    now = timezone.now()
    Message.objects.filter(pk=edited.pk).update(edited_at=now, content="edited, better")
    Message.objects.filter(pk=deleted.pk).update(deleted_at=now, deleted_by=alice)
    sent = {"plain": plain, "with_client_id": with_client_id, "edited": edited, "deleted": deleted}
    by_id = Message.objects.select_related("sender").in_bulk([m.pk for m in sent.values()])
    return {name: by_id[m.pk] for name, m in sent.items()}


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Chatham"])
def test_a_message_is_shaped_as_drf_shapes_it(messages, zone):
    with timezone.override(zone):
        for name, message in messages.items():
            built = MessageSerializer(message).data
            assert_same(built, GenericMessage(message).data)
            assert built == message_payload(message), name

    assert messages["deleted"].content == "regrettable"
    assert message_payload(messages["deleted"])["content"] == ""
    assert message_payload(messages["deleted"])["deleted"] is True
    assert message_payload(messages["edited"])["edited_at"].endswith("Z")
    assert message_payload(messages["plain"])["client_id"] is None


def test_a_message_just_sent_is_shaped_as_drf_shapes_it(alice, bob, direct):
    """As `message_send` returns it, built in memory from what the insert returned: the frames' case."""
    sent = services.message_send(sender=bob, conversation=direct, content="fresh", client_id="c-9")[0]

    assert_same(MessageSerializer(sent).data, GenericMessage(sent).data)
    assert_same(message_payload(sent), GenericMessage(sent).data)


def test_many_messages_are_shaped_as_drf_shapes_them(messages):
    listed = list(messages.values())

    assert_same(MessageSerializer(listed, many=True).data, GenericMessage(listed, many=True).data)


def test_a_user_is_shaped_as_drf_shapes_it(make_user):
    user = make_user("dora", display_name="Dóra <3")

    assert_same(UserPublicSerializer(user).data, GenericUser(user).data)
    assert user_payload(user) == {"id": user.pk, "username": "dora", "display_name": "Dóra <3"}


def test_a_participant_is_shaped_as_drf_shapes_it_even_before_it_is_saved(alice, bob, direct):
    saved = Participant.objects.select_related("user").get(conversation=direct, user=bob)
    unsaved = Participant(conversation=direct, user=alice, role=Participant.Role.ADMIN)

    for participant in (saved, unsaved):
        assert_same(participant_payload(participant), GenericParticipant(participant).data)
    assert type(participant_payload(unsaved)["role"]) is str


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_direct_and_group_conversations_are_shaped_as_drf_shapes_them(alice, bob, carol, direct, messages, zone):
    group = services.conversation_create_group(creator=alice, title="Brew crew", usernames=["bob", "carol"])
    empty_group = services.conversation_create_group(creator=carol, title="Quiet", usernames=["alice"])
    services.message_send(sender=bob, conversation=group, content="to the group")
    Participant.objects.filter(conversation=group, user=bob).update(role=Participant.Role.ADMIN)

    rows = list(selectors.conversation_list_for(alice))
    assert {c.pk for c in rows} == {direct.pk, group.pk, empty_group.pk}
    with timezone.override(zone):
        for conversation in rows:
            built = ConversationSerializer(conversation, context={"user": alice}).data
            assert_same(built, GenericConversation(conversation, context={"user": alice}).data)
            assert built == conversation_payload(conversation, viewer=alice)
        assert_same(
            ConversationSerializer(rows, many=True, context={"user": alice}).data,
            GenericConversation(rows, many=True, context={"user": alice}).data,
        )

    shaped = {c["id"]: c for c in ConversationSerializer(rows, many=True, context={"user": alice}).data}
    assert shaped[direct.pk]["other_user"]["username"] == "bob"
    assert shaped[direct.pk]["last_message"]["deleted"] is True  # the newest message is the deleted one
    assert shaped[group.pk]["other_user"] is None
    assert shaped[empty_group.pk]["last_message"] is None
    assert [p["role"] for p in shaped[group.pk]["participants"]] == ["owner", "admin", "member"]
