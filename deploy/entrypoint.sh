#!/bin/sh
# The container's entry point (Dockerfile), also used by the fault suite (faults/) and systemd
# (docs/deploy.md): bring the database schema up to date, then run the command, by default daphne.
# Every replica runs it; deploy/migrate.py lets one migrate at a time. MIGRATE_ON_START=0 skips it.
set -eu
cd "$(dirname "$0")/.."
if [ "${MIGRATE_ON_START:-1}" != "0" ]; then
  python -m deploy.migrate
fi
exec "$@"
