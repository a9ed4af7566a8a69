"""`python -m deploy.migrate`: `manage.py migrate`, run by one process at a time.

Every web replica and the notifier migrate at start-up (deploy/entrypoint.sh). Two `migrate` runs at
once would both try to create the same tables, and one would fail. On PostgreSQL an advisory lock,
held on a connection of its own, makes the others wait; they then find nothing left to do.
"""

import os

import django

LOCK_KEY = 0x62726577  # "brew": any number the app uses for nothing else


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brewverse.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connections

    lock = connections.create_connection("default")
    try:
        if lock.vendor == "postgresql":
            with lock.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        call_command("migrate", interactive=False, verbosity=1)
    finally:
        lock.close()  # ends the session, which releases the lock


if __name__ == "__main__":
    main()
