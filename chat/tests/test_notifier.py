"""Email for people who are away (chat/notifier.py and `manage.py run_notifier`)."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import notifier, presence, services
from chat.models import Block, Message, Participant
from chat.tests.live import live_env

# Transactions for real: the race tests run workers in threads, each with its own connection.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_presence")]


def send(sender, conversation, content: str) -> Message:
    conversation.refresh_from_db()
    message, _ = services.message_send(sender=sender, conversation=conversation, content=content)
    return message


def later(minutes: float = 10):
    """A moment past NOTIFY_DELAY (5 minutes) after now: what a pass run then sees as old enough."""
    return timezone.now() + timedelta(minutes=minutes)


def emailed_seq(user, conversation) -> int:
    return Participant.objects.get(user=user, conversation=conversation).last_emailed_seq


# --- who gets an email ------------------------------------------------------------------------------


def test_an_away_user_gets_exactly_one_email_on_the_first_pass_and_none_on_the_second(direct, alice, bob):
    first = send(alice, direct, "Are you coming to the cupping on Saturday?\nBring beans.")
    second = send(alice, direct, "Ethiopian, if you have some")

    assert notifier.run_pass(later()).emails_sent == 1
    assert notifier.run_pass(later()).emails_sent == 0

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [bob.email]
    assert email.subject == "2 unread messages from alice on Brewverse"
    assert "alice: Are you coming to the cupping on Saturday?" in email.body
    assert "Bring beans" not in email.body  # first lines only
    assert "alice: Ethiopian, if you have some" in email.body
    assert f"{settings.SITE_URL}/c/{direct.pk}/" in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="{settings.SITE_URL}/c/{direct.pk}/"' in html
    assert emailed_seq(bob, direct) == second.seq > first.seq
    assert emailed_seq(alice, direct) == 0  # the sender has nothing unread


def test_nothing_is_sent_before_the_delay(direct, alice, bob):
    send(alice, direct, "just now")

    assert notifier.run_pass().emails_sent == 0
    assert notifier.run_pass(timezone.now() + timedelta(seconds=settings.NOTIFY_DELAY - 30)).emails_sent == 0
    assert notifier.run_pass(later()).emails_sent == 1


def test_a_user_who_read_it_on_another_device_first_gets_no_email(direct, alice, bob):
    send(alice, direct, "read me")
    services.conversation_mark_read(participant=Participant.objects.get(user=bob, conversation=direct))

    assert notifier.run_pass(later()).emails_sent == 0
    assert mail.outbox == []


def test_a_user_who_is_online_gets_no_email_until_they_leave(direct, alice, bob):
    send(alice, direct, "you there?")
    async_to_sync(presence.socket_opened)(bob.pk, "bob-phone")

    assert notifier.run_pass(later()).emails_sent == 0

    async_to_sync(presence.socket_closed)(bob.pk, "bob-phone")
    assert notifier.run_pass(later()).emails_sent == 1


def test_a_user_who_turned_emails_off_gets_none(direct, alice, bob, api_for):
    response = api_for(bob).patch("/api/auth/me", {"email_notifications": False}, format="json")
    assert response.status_code == 200
    send(alice, direct, "hello?")

    assert notifier.run_pass(later()).emails_sent == 0
    assert mail.outbox == []


def test_deactivated_users_and_users_without_an_email_get_none(direct, alice, bob, carol):
    group = services.conversation_create_group(creator=alice, title="Crew", usernames=["bob", "carol"])
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    carol.email = ""
    carol.save(update_fields=["email"])
    send(alice, group, "anyone?")

    assert notifier.run_pass(later()).emails_sent == 0


def test_each_message_is_emailed_once_and_a_later_one_gets_its_own_email(direct, alice, bob):
    send(alice, direct, "first")
    notifier.run_pass(later())
    send(alice, direct, "second")

    assert notifier.run_pass(later()).emails_sent == 1

    assert len(mail.outbox) == 2
    assert "first" not in mail.outbox[1].body
    assert "alice: second" in mail.outbox[1].body


def test_one_email_per_user_sums_up_every_conversation(direct, alice, bob, carol, make_user):
    group = services.conversation_create_group(creator=carol, title="Coffee club", usernames=["bob", "alice"])
    send(alice, direct, "direct one")
    for n in range(5):
        send(carol, group, f"group {n}")

    assert notifier.run_pass(later()).emails_sent == 2  # bob, and alice (carol's group messages)

    (to_bob,) = [email for email in mail.outbox if email.to == [bob.email]]
    assert to_bob.subject == "6 unread messages from alice and carol on Brewverse"
    assert "== alice (1 unread)" in to_bob.body
    assert "== Coffee club (5 unread)" in to_bob.body
    assert "carol: group 2" in to_bob.body
    assert "carol: group 3" not in to_bob.body  # three quoted, then a count
    assert "... and 2 more" in to_bob.body
    assert f"{settings.SITE_URL}/c/{group.pk}/" in to_bob.body


def test_deleted_messages_and_messages_from_blocked_users_are_left_out(alice, bob, carol):
    group = services.conversation_create_group(creator=alice, title="Crew", usernames=["bob", "carol"])
    Block.objects.create(blocker=bob, blocked=carol)
    gone = send(alice, group, "oops, wrong chat")
    services.message_delete(actor=alice, message=gone)
    send(carol, group, "words bob does not want")

    assert notifier.run_pass(later()).emails_sent == 1

    (email,) = mail.outbox
    assert email.to == [alice.email]  # bob blocked carol and alice's own message is gone
    assert "carol: words bob does not want" in email.body
    assert "oops" not in email.body
    # Bob's pointer moved past what he will never be shown, so he is not looked at again.
    assert emailed_seq(bob, group) == 2
    assert notifier.candidate_user_ids(later()) == []


def test_user_content_is_escaped_in_html_and_flattened_in_text(alice, bob, make_user):
    mallory = make_user("mallory", display_name='<b onclick="x()">Mal</b>\nBcc: victim@example.com')
    conversation, _ = services.conversation_get_or_create_direct(user=mallory, other=bob)
    send(mallory, conversation, "<script>alert(1)</script>\nOpen: https://evil.example/")

    notifier.run_pass(later())

    (email,) = mail.outbox
    html = email.alternatives[0][0]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b onclick" not in html
    assert "victim" not in email.subject
    assert "victim" not in email.body
    assert "evil.example" not in email.body  # only first lines are quoted
    assert '<b onclick="x()">Mal</b>: <script>alert(1)</script>' in email.body  # plain text is not HTML


# --- a worker that fails, crashes or runs twice --------------------------------------------------------


class FailingBackend(LocmemBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server is down")


def test_a_failed_send_moves_no_pointer_and_the_next_pass_retries(direct, alice, bob, settings):
    send(alice, direct, "try again")
    settings.EMAIL_BACKEND = "chat.tests.test_notifier.FailingBackend"

    result = notifier.run_pass(later())

    assert (result.emails_sent, result.failures) == (0, 1)
    assert emailed_seq(bob, direct) == 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifier.run_pass(later()).emails_sent == 1


class SlowBackend(LocmemBackend):
    """Holds the sender inside its transaction long enough for a second worker to arrive."""

    def send_messages(self, messages):
        time.sleep(0.5)
        return super().send_messages(messages)


def test_two_passes_running_at_once_send_one_email(direct, alice, bob, carol, settings):
    settings.EMAIL_BACKEND = "chat.tests.test_notifier.SlowBackend"
    send(alice, direct, "only once, please")
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(notifier.run_pass(later()))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(result.emails_sent for result in results) == [0, 1]
    assert len(mail.outbox) == 1


def test_a_pass_with_nothing_due_is_one_query_however_much_was_read(direct, alice, bob):
    for n in range(30):
        send(alice, direct, f"read {n}")
    services.conversation_mark_read(participant=Participant.objects.get(user=bob, conversation=direct))

    with CaptureQueriesContext(connection) as queries:
        notifier.run_pass(later())

    assert len(queries) == 1


# --- the command -------------------------------------------------------------------------------------


def test_run_notifier_once(direct, alice, bob, settings, capsys):
    settings.NOTIFY_DELAY = 0
    send(alice, direct, "from the command")

    call_command("run_notifier", "--once")

    assert len(mail.outbox) == 1
    assert "1 emails sent" in capsys.readouterr().out


def test_the_worker_writes_email_files_configured_from_the_environment(direct, alice, bob, tmp_path):
    send(alice, direct, "to a file")
    env = live_env(
        NOTIFY_DELAY="0",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(tmp_path),
    )

    command = [sys.executable, "manage.py", "run_notifier", "--once"]
    for _ in range(2):
        subprocess.run(command, cwd=settings.BASE_DIR, env=env, check=True, timeout=60, capture_output=True)

    (written,) = list(tmp_path.iterdir())
    text = written.read_text()
    assert f"To: {bob.email}" in text
    assert "alice: to a file" in text


def _start_worker(env: dict) -> tuple[subprocess.Popen, str]:
    """Start `run_notifier` and return once it says it runs (its signal handlers are installed)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_notifier"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = ""
    for line in process.stdout:
        output += line
        if "notifier: running" in line:
            return process, output
    process.wait(timeout=10)
    raise AssertionError(f"the worker ended before it ran:\n{output}")


def test_the_worker_stops_cleanly_on_sigterm(tmp_path):
    env = live_env(NOTIFY_INTERVAL="0.2", EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    process, started_output = _start_worker(env)
    try:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
        output = started_output + output
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "SIGTERM received" in output
    assert "notifier: stopped" in output


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigint_also_stops_the_worker():
    env = live_env(NOTIFY_INTERVAL="30")
    process, _ = _start_worker(env)
    try:
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert time.monotonic() - started < 5  # it does not sit out its 30 s interval
