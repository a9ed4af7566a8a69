"""WebSocket authentication: a simplejwt access token in `?token=`, else the Django session cookie.

One middleware around the URL router, so consumers only look at `scope["user"]`; an inactive
(banned) user is anonymous here, whichever credential they bring.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User


@database_sync_to_async
def _user_for_token(raw: str) -> User | AnonymousUser:
    try:
        token = AccessToken(raw)
    except TokenError:
        return AnonymousUser()
    user = User.objects.filter(pk=token.get("user_id"), is_active=True).first()
    return user or AnonymousUser()


class _TokenAuthMiddleware(BaseMiddleware):
    """Replaces the session's user with the token's when the query string carries a token."""

    async def __call__(self, scope, receive, send):
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        token = params.get("token", [None])[0]
        if token is not None:
            scope = dict(scope, user=await _user_for_token(token))
        return await super().__call__(scope, receive, send)


def JWTOrSessionAuthMiddleware(inner):  # noqa: N802 - named like the middleware it builds
    return AuthMiddlewareStack(_TokenAuthMiddleware(inner))
