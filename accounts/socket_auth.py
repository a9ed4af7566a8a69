"""WebSocket authentication: a simplejwt access token in `?token=`, else the Django session cookie.

One middleware around the URL router, so consumers only look at `scope["user"]`. Whatever the
credential, a missing, invalid or expired one, or one of an inactive (banned) user, leaves the user
anonymous, and the consumers refuse anonymous handshakes. A token, when present, is the only
credential looked at: a bad token is not rescued by a good session cookie.

A token lasts minutes, not as long as a socket: its expiry goes into `scope["auth_expires_at"]`
(epoch seconds), and the consumer closes the socket then (chat/consumers.py, CLOSE_EXPIRED). A
session has its own expiry, checked here at the handshake, and leaves it unset.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from brewverse.db import in_thread_pool


def query_token(scope: dict) -> str | None:
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return params.get("token", [None])[0]


@in_thread_pool
def user_for_token(raw: str) -> tuple[User | AnonymousUser, float | None]:
    """The token's user, and when the token stops being accepted (its `exp`, plus simplejwt's leeway,
    as for the REST API); anonymous and None for a token that is not accepted now."""
    try:
        token = AccessToken(raw)
    except TokenError:
        return AnonymousUser(), None
    user_id = token.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        return AnonymousUser(), None
    try:
        user = User.objects.filter(**{api_settings.USER_ID_FIELD: user_id}, is_active=True).first()
    except (TypeError, ValueError):  # a signed token whose claim is not an id
        return AnonymousUser(), None
    if user is None:
        return AnonymousUser(), None
    return user, token["exp"] + token.get_token_backend().get_leeway().total_seconds()


class JWTOrSessionAuthMiddleware:
    """Sets `scope["user"]` from `?token=` when the query string has one, else from the session.

    The session path is Channels' own `AuthMiddlewareStack`, which also refuses inactive users and
    sessions whose password hash no longer matches.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_auth = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        token = query_token(scope)
        if token is None:
            return await self.session_auth(scope, receive, send)
        user, expires_at = await user_for_token(token)
        scope = dict(scope, user=user, auth_expires_at=expires_at)
        return await self.inner(scope, receive, send)
