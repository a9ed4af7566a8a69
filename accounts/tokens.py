"""The API's JWTs: simplejwt's, bound to the password they were issued under and to the login they
descend from.

`auth_hash` is a keyed digest of the user's password hash, as Django's session auth hash is: a password
change gives a new one, so every token issued before it is refused at once (accounts/authentication.py,
accounts/socket_auth.py), without a list of revoked tokens. `family` names the login a refresh token
descends from: every token a refresh rotates out of it keeps it, so the reuse of a rotated token can
revoke the rest (`accounts.services.token_refresh`).
"""

from uuid import uuid4

from django.utils.crypto import salted_hmac
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.settings import api_settings

from accounts.models import User

AUTH_HASH_CLAIM = "auth_hash"
FAMILY_CLAIM = "family"


def auth_hash(user: User) -> str:
    """A digest of the password hash: unlike the hash itself, safe to show the token's holder."""
    return salted_hmac("brewverse.tokens.auth_hash", user.password, algorithm="sha256").hexdigest()[:32]


def _bind(token: tokens.Token, user: User) -> None:
    token[api_settings.USER_ID_CLAIM] = str(user.pk)
    token[AUTH_HASH_CLAIM] = auth_hash(user)


class AccessToken(tokens.AccessToken):
    @classmethod
    def for_user(cls, user: User) -> "AccessToken":
        token = cls()
        _bind(token, user)
        return token


class RefreshToken(tokens.RefreshToken):
    """Issued by `accounts.services.token_pair_for`, which records it (outstanding, and its family)."""

    access_token_class = AccessToken

    @classmethod
    def for_user(cls, user: User) -> "RefreshToken":
        """A new login's token, not yet recorded (simplejwt's own records it without these claims)."""
        token = cls()
        _bind(token, user)
        token[FAMILY_CLAIM] = uuid4().hex
        return token
