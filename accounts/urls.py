from django.urls import path

from accounts import api

urlpatterns = [
    path("signup", api.SignupView.as_view(), name="auth-signup"),
    path("login", api.LoginView.as_view(), name="auth-login"),
    path("refresh", api.RefreshView.as_view(), name="auth-refresh"),
    path("logout", api.LogoutView.as_view(), name="auth-logout"),
    path("me", api.MeView.as_view(), name="auth-me"),
    path("password", api.PasswordView.as_view(), name="auth-password"),
    path("verification/resend", api.VerificationResendView.as_view(), name="auth-verification-resend"),
]
