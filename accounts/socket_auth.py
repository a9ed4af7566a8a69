"""WebSocket authentication: a simplejwt access token in `?token=`, else the Django session cookie.

One middleware around the URL router, so consumers only look at `scope["user"]`. Whatever the
credential, a missing, invalid or expired one, or one of an inactive (banned) user, leaves the user
anonymous, and the consumers refuse anonymous handshakes. A token, when present, is the only
credential looked at: a bad token is not rescued by a good session cookie.
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
def user_for_token(raw: str) -> User | AnonymousUser:
    try:
        user_id = AccessToken(raw).get(api_settings.USER_ID_CLAIM)
    except TokenError:
        return AnonymousUser()
    if user_id is None:
        return AnonymousUser()
    try:
        user = User.objects.filter(**{api_settings.USER_ID_FIELD: user_id}, is_active=True).first()
    except (TypeError, ValueError):  # a signed token whose claim is not an id
        return AnonymousUser()
    return user or AnonymousUser()


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
        scope = dict(scope, user=await user_for_token(token))
        return await self.inner(scope, receive, send)
