"""Writes to accounts: signing up and issuing tokens."""

from django.db import IntegrityError, transaction
from rest_framework import serializers
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
