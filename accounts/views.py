"""The signup, login, logout and settings pages: Django sessions with CSRF, no tokens in the browser.

Page logins, signups and password changes spend the same throttle budgets as the API's, so an
attacker gains nothing by switching between the two.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework import serializers

from accounts import services
from accounts.api import PasswordChangeThrottle, VerificationResendIPThrottle, VerificationResendNameThrottle
from accounts.forms import LoginForm, NewPasswordForm, PasswordForm, ProfileForm, SignupForm
from accounts.models import User
from accounts.throttles import (
    PasswordResetIPThrottle,
    SignupIPThrottle,
    login_succeeded,
    login_throttles,
    page_throttle_wait,
)
from chat import moderation, selectors
from chat.views import AVATAR_COLOURS


def _too_many(form, wait: int) -> None:
    form.add_error(None, f"Too many attempts. Try again in {wait} seconds.")


class LoginPage(LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.throttles = login_throttles()
        wait = page_throttle_wait(request, self.throttles)
        if wait is not None:
            form = self.get_form()
            _too_many(form, wait)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form) -> HttpResponse:
        # Only failed logins spend the budgets, as in the API.
        login_succeeded(self.throttles)
        return super().form_valid(form)

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        # The right password for an account that waits for its email address: offer a new link.
        context["resend_verification"] = context["form"].has_error(NON_FIELD_ERRORS, "email_not_verified")
        return context


# "Forgot password?": Django's password reset by email, in the login page's style. The request page
# answers the same whether or not the address has an account, so it reveals none.
class PasswordResetPage(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("password-reset-sent")

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = page_throttle_wait(request, [PasswordResetIPThrottle()])
        if wait is not None:
            form = self.get_form()
            _too_many(form, wait)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)


class PasswordResetSentPage(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_sent.html"


class PasswordResetConfirmPage(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    form_class = NewPasswordForm
    success_url = reverse_lazy("password-reset-complete")

    def form_valid(self, form) -> HttpResponse:
        # Through the service, like a password change: the API tokens of every device stop working too.
        services.user_set_password(user=form.user, new_password=form.cleaned_data["new_password1"])
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetCompletePage(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


class LogoutPage(LogoutView):
    """POST only (Django's own rule), so a link or an image cannot log anyone out. The browser's open
    sockets close with its session."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user_id = request.user.pk
        response = super().post(request, *args, **kwargs)
        if user_id is not None:
            services.user_logged_out(user_id=user_id)
        return response


@sensitive_post_parameters("password1", "password2")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("app")
    form = SignupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        wait = page_throttle_wait(request, [SignupIPThrottle()])
        if wait is not None:
            _too_many(form, wait)
            status = 429
        elif form.is_valid():
            data = form.cleaned_data
            try:
                user = services.user_signup(
                    email=data["email"],
                    username=data["username"],
                    password=data["password1"],
                    display_name=data["display_name"],
                )
            except serializers.ValidationError:
                # Someone took the name between the form's check and the insert.
                form.add_error("username", "This username or email is already registered.")
            else:
                if services.email_verification_pending(user):
                    messages.info(request, f"We emailed a link to {user.email}: follow it, then log in.")
                    return redirect("login")
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Welcome to Brewverse, {user.display_name}!")
                return redirect("app")
    return render(request, "accounts/signup.html", {"form": form}, status=status)


@sensitive_post_parameters("password-old_password", "password-new_password1", "password-new_password2")
@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    """The user's display name, email notifications, password, and the people they blocked."""
    user = request.user
    profile_form = ProfileForm(
        prefix="profile", initial={"display_name": user.display_name, "email_notifications": user.email_notifications}
    )
    password_form = PasswordForm(user, prefix="password")
    action = request.POST.get("action") if request.method == "POST" else None
    status = 200
    if action == "profile":
        profile_form = ProfileForm(request.POST, prefix="profile")
        if profile_form.is_valid():
            services.user_update_profile(user=user, **profile_form.cleaned_data)
            messages.success(request, "Your profile was saved.")
            return redirect("settings")
    elif action == "password":
        password_form = PasswordForm(user, request.POST, prefix="password")
        wait = page_throttle_wait(request, [PasswordChangeThrottle()])
        if wait is not None:
            _too_many(password_form, wait)
            status = 429
        elif password_form.is_valid():
            data = password_form.cleaned_data
            # The form checked the old password and the new one; the service writes it and signs
            # out the API tokens of every device, exactly like POST /api/auth/password.
            services.user_change_password(
                user=user, old_password=data["old_password"], new_password=data["new_password1"], request=request
            )
            messages.success(request, "Your password was changed. Your other devices need to log in again.")
            return redirect("settings")
    elif action == "unblock":
        blocked = User.objects.filter(username__iexact=request.POST.get("username", "")).first()
        if blocked is not None:
            moderation.user_unblock(blocker=user, blocked=blocked)
            messages.success(request, f"You unblocked {blocked.display_name}.")
        return redirect("settings")
    blocked_users = list(User.objects.filter(pk__in=selectors.blocked_ids_of(user.pk)).order_by("username"))
    for blocked in blocked_users:
        blocked.colour = blocked.pk % AVATAR_COLOURS
    context = {"profile_form": profile_form, "password_form": password_form, "blocked_users": blocked_users}
    return render(request, "accounts/settings.html", context, status=status)


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link of the verification email: confirms the address, then the user logs in."""
    user = services.email_verify(token=token)
    if user is None:
        return render(request, "accounts/verify_email.html", status=400)
    messages.success(request, "Your email address is confirmed. You can log in now.")
    return redirect("login")


@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    """A new verification link, offered by the login page; the same answer for every name."""
    wait = page_throttle_wait(request, [VerificationResendIPThrottle(), VerificationResendNameThrottle()])
    if wait is not None:
        messages.error(request, f"Too many links asked for. Try again in {wait} seconds.")
        return redirect("login")
    services.email_verification_resend(login=request.POST.get("username", "")[:254])
    messages.info(request, "If that account waits for its email address to be confirmed, a new link is on its way.")
    return redirect("login")
