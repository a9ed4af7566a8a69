"""`python manage.py run_notifier`: the worker that emails people who are away (docs/notifications.md).

Each pass also sweeps presence (`presence.sweep_expired`): users whose sockets died with their process
are announced offline, which no socket is left to do.

Runs next to daphne as its own long-lived process: a pass every NOTIFY_INTERVAL seconds until SIGTERM
or SIGINT, which let the pass under way finish (its emails and pointers commit together) and then
exit. `--once` runs a single pass and exits, for cron and tests. Any number of workers may run at
once: they never send the same message twice (see chat/notifier.py).
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from chat import notifier, presence

logger = logging.getLogger("chat.notifier")


class Command(BaseCommand):
    help = "Email users who are away about the messages they have not read; announce crashed sockets' users offline."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="run a single pass and exit")
        parser.add_argument(
            "--interval", type=float, default=None, help="seconds between passes (default: NOTIFY_INTERVAL)"
        )

    def handle(self, *args, once: bool = False, interval: float | None = None, **options) -> None:
        if once:
            swept, result = self._pass()
            if swept is not None:
                self.stdout.write(f"{len(swept)} users swept offline")
            if result is not None:
                self.stdout.write(f"{result.emails_sent} emails sent, {result.users_checked} users checked")
            return
        interval = settings.NOTIFY_INTERVAL if interval is None else interval
        stop = threading.Event()

        def request_stop(signum, frame) -> None:
            logger.info("notifier: %s received, stopping after this pass", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        logger.info(
            "notifier: running every %ss (delay %ss, email backend %s)",
            interval,
            settings.NOTIFY_DELAY,
            settings.EMAIL_BACKEND,
        )
        while not stop.is_set():
            self._pass()
            stop.wait(interval)
        logger.info("notifier: stopped")

    def _pass(self) -> tuple[list[int] | None, notifier.PassResult | None]:
        # A connection the database dropped since the last pass (a restart) is replaced, not reused.
        close_old_connections()
        try:
            # Apart, so that Redis being down stops only the sweep, and a failing email pass not it.
            return self._sweep(), self._email()
        finally:
            close_old_connections()

    def _sweep(self) -> list[int] | None:
        try:
            swept = presence.sweep_expired()
        except Exception:
            logger.exception("notifier: presence sweep failed; the next pass retries")
            return None
        logger.log(logging.INFO if swept else logging.DEBUG, "notifier: %d users swept offline", len(swept))
        return swept

    def _email(self) -> notifier.PassResult | None:
        try:
            result = notifier.run_pass()
        except Exception:
            # The database is down, say: the pass is retried next time, the worker lives on.
            logger.exception("notifier: pass failed")
            return None
        level = logging.INFO if result.emails_sent or result.failures else logging.DEBUG
        logger.log(
            level,
            "notifier: %d emails sent, %d users checked, %d failures",
            result.emails_sent,
            result.users_checked,
            result.failures,
        )
        return result
