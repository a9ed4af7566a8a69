"""The authentication API: signup, login, token refresh and logout, and the caller's own profile."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import services
from accounts.serializers import (
    DetailOutput,
    LoginInput,
    MeSerializer,
    MeUpdateInput,
    PasswordChangeInput,
    RefreshInput,
    SignupInput,
    SignupOutput,
    TokenPairOutput,
    TokenRefreshOutput,
    VerificationResendInput,
)
from accounts.throttles import (
    LoginAccountThrottle,
    LoginIPThrottle,
    SignupIPThrottle,
    VerificationResendIPThrottle,
    VerificationResendNameThrottle,
    login_succeeded,
)
from brewverse.schema import ERROR
from chat.errors import ChatError, ErrorCode
from chat.ratelimit import BudgetThrottle


def _session_payload(user) -> dict:
    return {"user": MeSerializer(user).data, **services.token_pair_for(user)}


class _CredentialsInBodyView(APIView):
    """A public view that reads credentials from its body instead of the Authorization header.

    DRF answers a refused credential with 403 when a view has no authentication class to name in a
    `WWW-Authenticate` challenge; the contract says 401, so these views name the Bearer scheme.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class SignupView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [SignupIPThrottle]

    @extend_schema(request=SignupInput, responses={201: SignupOutput})
    def post(self, request: Request) -> Response:
        data = SignupInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_signup(**data.validated_data)
        if services.email_verification_pending(user):
            # No tokens until the emailed link is followed (EMAIL_VERIFICATION).
            body = {"user": MeSerializer(user).data, "email_verification": "sent"}
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(_session_payload(user), status=status.HTTP_201_CREATED)


class LoginView(_CredentialsInBodyView):
    """Only failed logins spend the throttles' budgets (`accounts.throttles.login_succeeded`)."""

    throttle_classes = [LoginIPThrottle, LoginAccountThrottle]

    def get_throttles(self) -> list:
        # The instances that charged this attempt are the ones that can refund it; a view instance
        # serves one request.
        if not hasattr(self, "_throttles"):
            self._throttles = super().get_throttles()
        return self._throttles

    @extend_schema(request=LoginInput, responses={200: TokenPairOutput, 403: ERROR})
    def post(self, request: Request) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None:
            # The same answer for an unknown user, a wrong password and a banned account.
            raise AuthenticationFailed("Invalid username or password.")
        if services.email_verification_pending(user):
            # Only to whoever knows the password: it says no more than a successful login would.
            raise ChatError(ErrorCode.EMAIL_NOT_VERIFIED, "Confirm your email address first: follow the link we sent.")
        login_succeeded(self.get_throttles())
        return Response(_session_payload(user))


class RefreshView(_CredentialsInBodyView):
    """Rotates the refresh token: one new pair per token, and a reused token revokes its family."""

    @extend_schema(request=RefreshInput, responses={200: TokenRefreshOutput})
    def post(self, request: Request) -> Response:
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.token_refresh(refresh=data.validated_data["refresh"]))


class LogoutView(_CredentialsInBodyView):
    @extend_schema(request=RefreshInput, responses={204: None})
    def post(self, request: Request) -> Response:
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            RefreshToken(data.validated_data["refresh"]).blacklist()
        except TokenError as error:
            raise AuthenticationFailed(str(error), code="token_not_valid")
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeUpdateInput, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        data = MeUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, **data.validated_data)
        return Response(MeSerializer(user).data)


class PasswordChangeThrottle(BudgetThrottle, UserRateThrottle):
    """Guessing the current password with a stolen access token is as slow as guessing a login."""

    scope = "password_change"
    rate = "10/hour"


class PasswordView(APIView):
    throttle_classes = [PasswordChangeThrottle]

    @extend_schema(request=PasswordChangeInput, responses=TokenPairOutput)
    def post(self, request: Request) -> Response:
        data = PasswordChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        # A browser's own session survives the change; every token does not, so this device gets a new pair.
        browser = request._request if isinstance(request.successful_authenticator, SessionAuthentication) else None
        services.user_change_password(user=request.user, **data.validated_data, request=browser)
        return Response(_session_payload(request.user))


class VerificationResendView(APIView):
    """Emails a new verification link; the same answer whether or not the account exists or waits."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [VerificationResendIPThrottle, VerificationResendNameThrottle]

    @extend_schema(request=VerificationResendInput, responses={202: DetailOutput})
    def post(self, request: Request) -> Response:
        data = VerificationResendInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.email_verification_resend(login=data.validated_data["username"])
        detail = "If that account waits for its email address to be confirmed, a new link is on its way."
        return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)
