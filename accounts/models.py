"""The Brewverse user: unique email and username (case-insensitively) and a display name; and the
family of each refresh token."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,30}$"
username_validator = RegexValidator(USERNAME_PATTERN, "Use 3 to 30 letters, digits, dots, dashes or underscores.")


def login_name_lookup(name: str) -> Q:
    """Which user a login name names: the username, or with an `@` the email, in any ASCII case.

    Case is ignored for ASCII only. PostgreSQL's UPPER() (which `iexact` uses) folds more than ASCII:
    the dotless i (U+0131) becomes I and the long s (U+017F) becomes S, so `victor` spelt with a dotless
    i would log in as `victor`. Usernames are ASCII, so a name with anything else names no one; an email
    that is not ASCII must match exactly.
    """
    if "\x00" in name:  # PostgreSQL refuses even to compare text with a NUL: it names no one
        return Q(pk__in=[])
    if "@" in name:
        return Q(email__iexact=name) if name.isascii() else Q(email=name)
    return Q(username__iexact=name) if name.isascii() else Q(pk__in=[])


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username: str) -> "User":
        """Log in by username or email, whatever their case (Django's ModelBackend calls this)."""
        return self.get(login_name_lookup(username))

    def for_login(self, name: str) -> "User | None":
        """The account a login name names, as the login itself would find it; None for no account."""
        return self.filter(login_name_lookup(name)).first()

    def create_user(self, username: str, email: str, password: str | None = None, **extra) -> "User":
        user = self.model(username=username, email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, email: str, password: str | None = None, **extra) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(username, email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    username = models.CharField(max_length=30, unique=True, validators=[username_validator])
    email = models.EmailField(max_length=254)
    display_name = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    email_notifications = models.BooleanField(default=True)
    # False only for an account that signed up while EMAIL_VERIFICATION was on and has not followed its
    # link yet: accounts from before, or made by createsuperuser, are not asked to verify.
    email_verified = models.BooleanField(default=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username

    def save(self, *args, **kwargs) -> None:
        if not self.display_name:
            self.display_name = self.username
        super().save(*args, **kwargs)


class RefreshTokenFamily(models.Model):
    """Which login an outstanding refresh token descends from (its `family` claim, accounts/tokens.py),
    so that reusing a rotated token can revoke every token of its login. Goes with the token when
    simplejwt's `flushexpired` deletes it."""

    token = models.OneToOneField(OutstandingToken, on_delete=models.CASCADE, primary_key=True, related_name="+")
    family = models.UUIDField(db_index=True)

    def __str__(self) -> str:
        return f"{self.token_id} in {self.family}"
