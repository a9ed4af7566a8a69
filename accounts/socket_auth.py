"""WebSocket authentication: a simplejwt access token in `?token=`, else the Django session cookie.

One middleware around the URL router, so consumers only look at `scope["user"]`. Whatever the
credential, a missing, invalid or expired one, or one of an inactive (banned) user, leaves the user
anonymous, and the consumers refuse anonymous handshakes. A token, when present, is the only
credential looked at: a bad token is not rescued by a good session cookie.

The `Origin` header is checked only for a socket that brings the session cookie: the browser sends
that cookie to whichever page opens the socket, so a foreign page could ride it (cross-site socket
hijacking). A token in the URL is something a foreign page does not have, and API clients (Python,
Go, mobile) send no `Origin` at all, so token sockets are accepted whatever their origin. The rule is
Django's CSRF origin check: the origin this very handshake was served on (scheme, host and port,
the host one of ALLOWED_HOSTS), or one of CSRF_TRUSTED_ORIGINS (or CORS_ALLOWED_ORIGINS).

A token lasts minutes, not as long as a socket: its expiry goes into `scope["auth_expires_at"]`
(epoch seconds), and the consumer closes the socket then (chat/consumers.py, CLOSE_EXPIRED). A
session has its own expiry, checked here at the handshake, and leaves it unset.

An open socket's credential is checked again (`credential_valid`) when the user's credentials change
(a password change, a logout) and, for a session, on every presence heartbeat, so that a socket
outlives neither (chat/consumers.py, `credentials_changed`).
"""

import logging
from importlib import import_module
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.cookie import parse_cookie
from django.utils.crypto import constant_time_compare
from django.utils.http import is_same_domain
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from accounts.authentication import token_user
from accounts.models import User
from accounts.tokens import AccessToken
from brewverse.db import in_thread_pool

logger = logging.getLogger(__name__)


def handshake_refused(scope: dict, reason: str) -> None:
    """Log why a handshake is refused (at INFO): the client only sees a 403, on purpose."""
    client = (scope.get("client") or ["?"])[0]
    logger.info("socket refused: %s (%s from %s)", reason, scope.get("path"), client)


async def refuse(scope: dict, receive, send, reason: str) -> None:
    """Refuse the handshake (HTTP 403) without a consumer: an app of its own for the socket."""
    handshake_refused(scope, reason)
    if (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close"})


class _Handshake(HttpRequest):
    """A handshake seen the way Django sees a request, for the origin it is served on: its Host header
    (validated against ALLOWED_HOSTS by `get_host`) and its scheme (`https` for `wss://`, or when
    the proxy says so in SECURE_PROXY_SSL_HEADER)."""

    def __init__(self, scope: dict) -> None:
        super().__init__()
        for name, value in scope.get("headers", []):
            key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
            value = value.decode("latin-1")
            self.META[key] = f"{self.META[key]},{value}" if key in self.META else value
        self.over_tls = scope.get("scheme") == "wss"

    def _get_scheme(self) -> str:
        return "https" if self.over_tls else "http"

    def served_origin(self) -> str | None:
        if "HTTP_HOST" not in self.META:
            return None
        try:
            return f"{self.scheme}://{self.get_host()}"
        except DisallowedHost:
            return None


def _trusted_origin(origin: str) -> bool:
    """One of CSRF_TRUSTED_ORIGINS or CORS_ALLOWED_ORIGINS; `https://*.example.com` as Django reads it."""
    trusted = [*settings.CSRF_TRUSTED_ORIGINS, *getattr(settings, "CORS_ALLOWED_ORIGINS", [])]
    if origin in trusted:
        return True
    parsed = urlsplit(origin)
    return any(
        parsed.scheme == pattern.scheme and is_same_domain(parsed.netloc, pattern.netloc.lstrip("*"))
        for pattern in (urlsplit(entry) for entry in trusted if "*" in entry)
    )


def origin_refusal(scope: dict) -> str | None:
    """Why a session-cookie socket from this `Origin` is refused, or None when it may open."""
    handshake = _Handshake(scope)
    origin = handshake.META.get("HTTP_ORIGIN")
    if origin is None:
        return "a session socket without an Origin"
    served = handshake.served_origin()
    if origin == served or _trusted_origin(origin):
        return None
    return f"a session socket from Origin {origin!r}, served as {served!r}"


def has_session_cookie(scope: dict) -> bool:
    cookies = [value for name, value in scope.get("headers", []) if name == b"cookie"]
    return any(settings.SESSION_COOKIE_NAME in parse_cookie(value.decode("latin-1")) for value in cookies)


def query_token(scope: dict) -> str | None:
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return params.get("token", [None])[0]


def _token_user(raw: str) -> tuple[User | AnonymousUser, float | None]:
    try:
        token = AccessToken(raw)
        user = token_user(token)
    except (TokenError, InvalidToken):  # InvalidToken: a user_id that is no id, no active user, an old password
        return AnonymousUser(), None
    return user, token["exp"] + token.get_token_backend().get_leeway().total_seconds()


@in_thread_pool
def user_for_token(raw: str) -> tuple[User | AnonymousUser, float | None]:
    """The token's user, and when the token stops being accepted (its `exp`, plus simplejwt's leeway,
    as for the REST API); anonymous and None for a token that is not accepted now (the REST API's
    checks: accounts/authentication.py)."""
    return _token_user(raw)


def session_key_of(scope: dict) -> str | None:
    """The key of the session a socket was opened with; None for a token socket."""
    if query_token(scope) is not None or "session" not in scope:
        return None
    return scope["session"].session_key


def credential_valid(scope: dict, user_id: int, session_key: str | None) -> bool:
    """Whether the credential an open socket was accepted with still holds, checked as at the handshake.

    A token socket: its token's user is active and has the password it was issued under. A session
    socket (`session_key`, which follows the session when a password change on its own browser gives it
    a new key): the session still exists (logging out deletes it), is this user's, and has the user's
    current session auth hash (Django's check, fallback keys included).
    """
    raw = query_token(scope)
    if raw is not None:
        return _token_user(raw)[0].pk == user_id
    if session_key is None:
        return False
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    if data.get(SESSION_KEY) != str(user_id):
        return False
    user = User.objects.filter(pk=user_id, is_active=True).first()
    session_hash = data.get(HASH_SESSION_KEY)
    if user is None or not isinstance(session_hash, str):
        return False
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(session_hash, expected) for expected in hashes)


class JWTOrSessionAuthMiddleware:
    """Sets `scope["user"]` from `?token=` when the query string has one, else from the session.

    The session path is Channels' own `AuthMiddlewareStack`, which also refuses inactive users and
    sessions whose password hash no longer matches; a session cookie from a foreign origin is refused
    before it is looked at.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_auth = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        token = query_token(scope)
        if token is None:
            if has_session_cookie(scope) and (refusal := origin_refusal(scope)) is not None:
                return await refuse(scope, receive, send, refusal)
            return await self.session_auth(scope, receive, send)
        user, expires_at = await user_for_token(token)
        scope = dict(scope, user=user, auth_expires_at=expires_at)
        return await self.inner(scope, receive, send)
