"""Writes to accounts: signing up and verifying the email, issuing and rotating tokens, changing one's
profile and password, logging out a browser."""

import logging
from functools import partial

from django.conf import settings
from django.contrib.auth import password_validation, update_session_auth_hash
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.authentication import invalid_token, token_user
from accounts.models import RefreshTokenFamily, User
from accounts.tokens import FAMILY_CLAIM, RefreshToken
from chat import events

logger = logging.getLogger(__name__)

EMAIL_VERIFICATION_SALT = "brewverse.accounts.email_verification"


def user_signup(*, email: str, username: str, password: str, display_name: str = "") -> User:
    """Create an active user; a concurrent signup taking the same name loses with a field error.

    With EMAIL_VERIFICATION on, the account cannot log in until the link emailed to it is followed.
    """
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username=username,
                email=email,
                password=password,
                display_name=display_name.strip(),
                email_verified=not settings.EMAIL_VERIFICATION,
            )
    except IntegrityError:
        raise serializers.ValidationError({"username": ["This username or email is already registered."]})
    if not user.email_verified:
        try:
            email_verification_send(user=user)
        except Exception:  # the mail server is down: the account exists, and the login page resends
            logger.exception("verification email to user %s not sent", user.pk)
    return user


def email_verification_pending(user: User) -> bool:
    """Whether the user must follow their verification link before logging in."""
    return settings.EMAIL_VERIFICATION and not user.email_verified


def email_verification_send(*, user: User) -> None:
    """Email the user a link that verifies their address; it works for EMAIL_VERIFICATION_MAX_AGE seconds."""
    token = signing.dumps({"user": user.pk, "email": user.email}, salt=EMAIL_VERIFICATION_SALT)
    context = {
        "user": user,
        "link": settings.SITE_URL + reverse("verify-email", args=[token]),
        "hours": settings.EMAIL_VERIFICATION_MAX_AGE // 3600,
    }
    send_mail(
        "Confirm your email address for Brewverse",
        render_to_string("email/verify_email.txt", context),
        None,
        [user.email],
    )


def email_verification_resend(*, login: str) -> None:
    """Send a new link to the unverified account named by `login` (its username or email); nothing
    otherwise, so the answer never says whether an account exists."""
    user = User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login)).first()
    if user is not None and user.is_active and email_verification_pending(user):
        email_verification_send(user=user)


def email_verify(*, token: str) -> User | None:
    """Verify the address a link was sent to; None for a link that is forged, expired or for an address
    the account no longer has. Following a link twice is harmless."""
    try:
        data = signing.loads(token, salt=EMAIL_VERIFICATION_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired too
        return None
    user = User.objects.filter(pk=data.get("user"), email=data.get("email"), is_active=True).first()
    if user is not None and not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified"])
    return user


def _record(refresh: RefreshToken, user: User) -> None:
    """Make a refresh token outstanding (so it can be blacklisted), in its family."""
    outstanding = OutstandingToken.objects.create(
        user=user,
        jti=refresh[api_settings.JTI_CLAIM],
        token=str(refresh),
        created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )
    RefreshTokenFamily.objects.create(token=outstanding, family=refresh[FAMILY_CLAIM])


def _pair(refresh: RefreshToken) -> dict[str, str]:
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def token_pair_for(user: User) -> dict[str, str]:
    """A login's tokens: a refresh token that starts a new family, and its access token."""
    refresh = RefreshToken.for_user(user)
    with transaction.atomic():
        _record(refresh, user)
    return _pair(refresh)


class _PresentedRefreshToken(RefreshToken):
    """A refresh token as presented to `token_refresh`, which claims it itself instead of simplejwt's
    check-then-blacklist: parallel refreshes of one token would all pass that check."""

    def check_blacklist(self) -> None:
        return None


def _blacklist(tokens: QuerySet[OutstandingToken]) -> None:
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in tokens], ignore_conflicts=True)


def token_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate a refresh token: exactly one refresh of a token issues a new pair, however many run at once.

    The old token is claimed by inserting its blacklist row: the unique constraint lets one insert win
    and makes the others wait for it, then fail. A token presented again once rotated (or logged out)
    was copied: whoever holds it, the thief or the owner, every token of its family is blacklisted, so
    the other party's copy stops working too (OAuth's refresh token reuse detection).
    """
    try:
        token = _PresentedRefreshToken(refresh)
    except TokenError as error:
        raise invalid_token(str(error))
    user = token_user(token)
    family = token.get(FAMILY_CLAIM)
    with transaction.atomic():
        outstanding = OutstandingToken.objects.filter(jti=token[api_settings.JTI_CLAIM]).first()
        if outstanding is None or not isinstance(family, str):
            raise invalid_token("Token is not one this server issued.")
        try:
            with transaction.atomic():
                BlacklistedToken.objects.create(token=outstanding)
        except IntegrityError:
            reused = True
            siblings = RefreshTokenFamily.objects.filter(family=family).values("token_id")
            _blacklist(OutstandingToken.objects.filter(pk__in=siblings, blacklistedtoken__isnull=True))
        else:
            reused = False
            token.set_jti()
            token.set_exp()
            token.set_iat()
            _record(token, user)
    if reused:
        raise invalid_token("Token is blacklisted")
    return _pair(token)


def user_update_profile(
    *, user: User, display_name: str | None = None, email_notifications: bool | None = None
) -> User:
    """Change what the user may change about themselves; a blank display name means the username."""
    fields = []
    if display_name is not None:
        user.display_name = display_name.strip() or user.username
        fields.append("display_name")
    if email_notifications is not None:
        user.email_notifications = email_notifications
        fields.append("email_notifications")
    if fields:
        user.save(update_fields=fields)
    return user


def user_change_password(
    *, user: User, old_password: str, new_password: str, request: HttpRequest | None = None
) -> None:
    """Set a new password; every other device is signed out at once.

    Their access tokens and sessions are refused from now on (tokens carry the old password's
    `auth_hash`, accounts/authentication.py; sessions Django's session auth hash), their refresh tokens
    are blacklisted, and their open sockets close. With `request` (a browser signed in by its session),
    that session is kept (`update_session_auth_hash` gives it a new key), and its sockets follow it.
    """
    if not user.check_password(old_password):
        raise serializers.ValidationError({"old_password": ["The current password is not correct."]})
    try:
        password_validation.validate_password(new_password, user)
    except DjangoValidationError as error:
        raise serializers.ValidationError({"new_password": list(error.messages)})
    user_set_password(user=user, new_password=new_password, request=request)


def user_set_password(*, user: User, new_password: str, request: HttpRequest | None = None) -> None:
    """Write a password already validated (a change, a reset by email) and sign out every device as
    `user_change_password` says; a reset by email keeps no session."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        _blacklist(OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True))
        moved = None
        if request is not None:
            old_key = request.session.session_key
            update_session_auth_hash(request, user)
            moved = (old_key, request.session.session_key)
        transaction.on_commit(partial(events.credentials_changed, user.pk, moved_session=moved))


def user_logged_out(*, user_id: int) -> None:
    """A browser logged out (its session is gone): that browser's open sockets close."""
    events.credentials_changed(user_id)
