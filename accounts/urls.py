from accounts import api
from brewverse.paths import api_path

urlpatterns = [
    api_path("signup", api.SignupView.as_view(), name="auth-signup"),
    api_path("login", api.LoginView.as_view(), name="auth-login"),
    api_path("refresh", api.RefreshView.as_view(), name="auth-refresh"),
    api_path("logout", api.LogoutView.as_view(), name="auth-logout"),
    api_path("me", api.MeView.as_view(), name="auth-me"),
    api_path("password", api.PasswordView.as_view(), name="auth-password"),
    api_path("verification/resend", api.VerificationResendView.as_view(), name="auth-verification-resend"),
]
