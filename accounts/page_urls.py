"""The account pages (the API's auth endpoints are in accounts/urls.py)."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("signup", views.signup, name="signup"),
    path("login", views.LoginPage.as_view(), name="login"),
    path("logout", views.LogoutPage.as_view(), name="logout"),
    path("settings", views.settings_page, name="settings"),
    path("verify-email/resend", views.resend_verification, name="resend-verification"),
    path("verify-email/<str:token>", views.verify_email, name="verify-email"),
    path("password-reset", views.PasswordResetPage.as_view(), name="password-reset"),
    path("password-reset/sent", views.PasswordResetSentPage.as_view(), name="password-reset-sent"),
    path("password-reset/<uidb64>/<token>", views.PasswordResetConfirmPage.as_view(), name="password-reset-confirm"),
    path("password-reset/done", views.PasswordResetCompletePage.as_view(), name="password-reset-complete"),
]
