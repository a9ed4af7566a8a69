# Brewverse: daphne serving the app (HTTP and both WebSockets), whitenoise serving the static files,
# migrations at start-up. compose.yaml runs it with PostgreSQL, Redis, two replicas, the notifier and
# nginx; docs/deploy.md explains both, and the same set-up without containers.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Hashed, compressed copies of the static files (brewverse/storage.py), built into the image; whitenoise
# serves them. The key only lets settings load: nothing is signed at build time.
RUN DEBUG=false SECRET_KEY=collectstatic-at-build-time python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --uid 10001 --no-create-home --home-dir /app brewverse

USER brewverse
ENV DEBUG=false PORT=8000
EXPOSE 8000
# Brings the schema up to date (one replica at a time: deploy/migrate.py), then runs the command.
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
# --proxy-headers: the client address comes from X-Forwarded-For, which the proxy in front must
# overwrite (deploy/nginx.conf does); throttles and logs then see the real client.
CMD ["sh", "-c", "exec daphne -b 0.0.0.0 -p \"$PORT\" --proxy-headers brewverse.asgi:application"]
