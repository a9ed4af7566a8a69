"""The signup and login forms of the server-rendered pages (the API has its own serializers)."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, SetPasswordForm
from django.core.exceptions import ValidationError

from accounts.models import User, username_validator
from accounts.services import email_verification_pending
from accounts.throttles import login_succeeded, login_throttles, page_throttle_wait


class SignupForm(forms.Form):
    username = forms.CharField(
        max_length=30,
        validators=[username_validator],
        help_text="3 to 30 letters, digits, dots, dashes or underscores.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "autofocus": True}),
    )
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    display_name = forms.CharField(
        max_length=64,
        required=False,
        label="Display name",
        help_text="Optional: the name others see. Your username otherwise.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )
    password1 = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Confirm password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError("This username is taken.", code="taken")
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("This email is already registered.", code="taken")
        return email

    def clean(self) -> dict:
        data = super().clean()
        password, confirmation = data.get("password1"), data.get("password2")
        if password and confirmation and password != confirmation:
            self.add_error("password2", ValidationError("The two passwords differ.", code="password_mismatch"))
        if password:
            candidate = User(username=data.get("username", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(password, candidate)
            except ValidationError as error:
                self.add_error("password1", error)
        return data


class LoginForm(AuthenticationForm):
    """Django's form; the user manager resolves the name as a username or an email."""

    username = forms.CharField(
        label="Username or email",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username", "autocapitalize": "none"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Wrong username, email or password.",
        "email_not_verified": "Confirm your email address first: follow the link we emailed you.",
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Django sizes the field to the username's 30 characters; an email may be up to 254.
        self.fields["username"].max_length = 254
        self.fields["username"].widget.attrs["maxlength"] = 254

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if email_verification_pending(user):
            raise ValidationError(self.error_messages["email_not_verified"], code="email_not_verified")


class ProfileForm(forms.Form):
    """The settings page's profile: what PATCH /api/auth/me changes, through the same service."""

    display_name = forms.CharField(
        max_length=64,
        required=False,
        label="Display name",
        help_text="The name others see. Leave it empty to use your username.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )
    email_notifications = forms.BooleanField(required=False, label="Email me about messages I missed while I was away")


PASSWORD_RULES = "At least 8 characters, not a common password, not only digits, not close to your name or email."


class PasswordForm(PasswordChangeForm):
    """Django's form (old password checked, new one validated and typed twice), quieter on a page
    that is not only about the password: no autofocus, a one-line summary of the rules."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["old_password"].label = "Current password"
        self.fields["old_password"].widget.attrs.pop("autofocus", None)
        self.fields["new_password1"].help_text = PASSWORD_RULES
        self.fields["new_password2"].label = "Confirm new password"
        self.fields["new_password2"].help_text = ""


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login, charged to the account's and the address's login budgets (the API's and the
    login page's), so a superuser's password is no easier to guess here than anywhere else."""

    def clean(self) -> dict:
        throttles = login_throttles()
        wait = page_throttle_wait(self.request, throttles)
        if wait is not None:
            raise ValidationError(f"Too many attempts. Try again in {wait} seconds.", code="throttled")
        cleaned = super().clean()
        # Only failed logins spend the budgets, as everywhere.
        login_succeeded(throttles)
        return cleaned


class NewPasswordForm(SetPasswordForm):
    """The password reset's form: Django's, with the settings page's one-line summary of the rules."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = PASSWORD_RULES
        self.fields["new_password2"].label = "Confirm new password"
