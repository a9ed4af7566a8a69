"""The signup, login and logout pages: Django sessions with CSRF, no tokens in the browser.

Page logins and signups spend the same throttle budgets as the API's, so an attacker gains nothing
by switching between the two.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import serializers

from accounts import services
from accounts.forms import LoginForm, SignupForm
from accounts.throttles import LoginIPThrottle, LoginUsernameThrottle, SignupIPThrottle, page_throttle_wait


def _too_many(form, wait: int) -> None:
    form.add_error(None, f"Too many attempts. Try again in {wait} seconds.")


class LoginPage(LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = page_throttle_wait(request, [LoginIPThrottle(), LoginUsernameThrottle()])
        if wait is not None:
            form = self.get_form()
            _too_many(form, wait)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)


class LogoutPage(LogoutView):
    """POST only (Django's own rule), so a link or an image cannot log anyone out."""


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
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Welcome to Brewverse, {user.display_name}!")
                return redirect("app")
    return render(request, "accounts/signup.html", {"form": form}, status=status)
