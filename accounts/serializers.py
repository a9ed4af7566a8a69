"""User shapes (public User, private Me) and the signup/login inputs."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import User, username_validator


def user_payload(user: User) -> dict:
    """The public `User` shape, built directly: it is in every message and conversation, and DRF's
    per-field machinery costs more than the rest of serializing them (docs/performance.md)."""
    return {"id": user.pk, "username": user.username, "display_name": user.display_name}


# The fields document the shape (the OpenAPI schema); `user_payload` builds it. chat/tests/test_serializers.py
# compares the two, so they cannot drift apart. (A docstring here would become the schema's description.)
class UserPublicSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "display_name"]

    def to_representation(self, user: User) -> dict:
        return user_payload(user)


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "username", "display_name", "created_at", "email_notifications"]


class SignupInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    username = serializers.CharField(max_length=30, validators=[username_validator])
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    display_name = serializers.CharField(max_length=64, required=False, allow_blank=True)

    def validate_email(self, email: str) -> str:
        if User.objects.filter(email__iexact=email).exists():
            raise serializers.ValidationError("This email is already registered.")
        return email

    def validate_username(self, username: str) -> str:
        if User.objects.filter(username__iexact=username).exists():
            raise serializers.ValidationError("This username is taken.")
        return username

    def validate(self, attrs: dict) -> dict:
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)})
        return attrs


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class TokenPairOutput(serializers.Serializer):
    user = MeSerializer()
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField()


class SignupOutput(serializers.Serializer):
    """The new account and its tokens; with EMAIL_VERIFICATION on, no tokens until the emailed link is
    followed, and `email_verification` instead."""

    # Answers leave these out rather than send null (brewverse.schema reads this).
    sometimes_sent = ("access", "refresh", "email_verification")

    user = MeSerializer()
    access = serializers.CharField(required=False)
    refresh = serializers.CharField(required=False)
    email_verification = serializers.ChoiceField(choices=["sent"], required=False)


class DetailOutput(serializers.Serializer):
    detail = serializers.CharField()


class TokenRefreshOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField(help_text="The new refresh token; the one sent stops working.")


class VerificationResendInput(serializers.Serializer):
    username = serializers.CharField(max_length=254, help_text="The account's username or email.")


class MeUpdateInput(serializers.Serializer):
    """PATCH /api/auth/me: any of these; a blank display name goes back to the username."""

    display_name = serializers.CharField(max_length=64, required=False, allow_blank=True)
    email_notifications = serializers.BooleanField(required=False)


class PasswordChangeInput(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)
