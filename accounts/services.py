"""Writes to accounts: signing up, issuing tokens, changing one's profile and password."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework import serializers
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User


def user_signup(*, email: str, username: str, password: str, display_name: str = "") -> User:
    """Create an active user; a concurrent signup taking the same name loses with a field error."""
    try:
        with transaction.atomic():
            return User.objects.create_user(
                username=username, email=email, password=password, display_name=display_name.strip()
            )
    except IntegrityError:
        raise serializers.ValidationError({"username": ["This username or email is already registered."]})


def token_pair_for(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


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


def user_change_password(*, user: User, old_password: str, new_password: str) -> None:
    """Set a new password; every refresh token issued before stops working (other devices sign in again)."""
    if not user.check_password(old_password):
        raise serializers.ValidationError({"old_password": ["The current password is not correct."]})
    try:
        password_validation.validate_password(new_password, user)
    except DjangoValidationError as error:
        raise serializers.ValidationError({"new_password": list(error.messages)})
    user_set_password(user=user, new_password=new_password)


def user_set_password(*, user: User, new_password: str) -> None:
    """Write a password already validated (a change, a reset by email) and sign out the API tokens of
    every device; sessions end by themselves, as Django ties them to the password's hash."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        live = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
        BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in live], ignore_conflicts=True)
