"""Who a JWT speaks for: the REST API's authentication class, and the check the sockets share.

A token is accepted only while its user exists, is active (a ban deactivates) and has the password
the token was issued under (`auth_hash`, accounts/tokens.py): a password change signs every other
device out at once. An expired token gets its own code, `token_expired`, so a client knows that a
refresh is all it needs; anything else wrong with a token, including a signed one whose `user_id` is
not an id, is `token_not_valid`.
"""

from django.utils.crypto import constant_time_compare
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from accounts.models import User
from accounts.tokens import AUTH_HASH_CLAIM, AccessToken, auth_hash


class TokenExpired(InvalidToken):
    default_detail = "Token is expired."
    default_code = "token_expired"


def invalid_token(detail: str, error: type[InvalidToken] = InvalidToken) -> InvalidToken:
    """simplejwt's shape: the code in the body itself, as simplejwt's own refusals have it."""
    return error({"detail": detail, "code": error.default_code})


def token_user_id(token: Token) -> int | None:
    """The token's user id; None when the claim is missing or not an id (`"1 OR 1=1"`, a list...)."""
    value = token.get(api_settings.USER_ID_CLAIM)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value < 2**63 else None


def token_credential_valid(token: Token, user: User) -> bool:
    """Whether the token was issued under the user's current password."""
    claim = token.get(AUTH_HASH_CLAIM)
    return isinstance(claim, str) and constant_time_compare(claim, auth_hash(user))


def token_user(token: Token) -> User:
    """The active user a verified token speaks for, or InvalidToken (401) when it speaks for no one now."""
    user_id = token_user_id(token)
    if user_id is None:
        raise invalid_token("Token contained no recognizable user identification.")
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise invalid_token("No active account found for the given token.")
    if not token_credential_valid(token, user):
        raise invalid_token("The password was changed since this token was issued.")
    return user


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's Bearer authentication, with the checks above."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        try:
            return AccessToken(raw_token)
        except ExpiredTokenError:
            raise invalid_token(TokenExpired.default_detail, TokenExpired)
        except TokenError as error:
            raise invalid_token(str(error))

    def get_user(self, validated_token: Token) -> User:
        return token_user(validated_token)


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI schema's description of this class: simplejwt's own Bearer scheme."""

    target_class = JWTAuthentication
