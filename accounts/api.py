"""The authentication API: signup, login, token refresh and logout, and the caller's own profile."""

from django.contrib.auth import authenticate, update_session_auth_hash
from drf_spectacular.utils import extend_schema, extend_schema_view
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
from rest_framework_simplejwt.views import TokenRefreshView

from accounts import services
from accounts.serializers import (
    LoginInput,
    MeSerializer,
    MeUpdateInput,
    PasswordChangeInput,
    RefreshInput,
    RefreshRotateInput,
    SignupInput,
    TokenPairOutput,
    TokenRefreshOutput,
)
from accounts.throttles import LoginAccountThrottle, LoginIPThrottle, SignupIPThrottle, login_succeeded
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

    @extend_schema(request=SignupInput, responses={201: TokenPairOutput})
    def post(self, request: Request) -> Response:
        data = SignupInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_signup(**data.validated_data)
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

    @extend_schema(request=LoginInput, responses={200: TokenPairOutput})
    def post(self, request: Request) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None:
            # The same answer for an unknown user, a wrong password and a banned account.
            raise AuthenticationFailed("Invalid username or password.")
        login_succeeded(self.get_throttles())
        return Response(_session_payload(user))


@extend_schema_view(post=extend_schema(request=RefreshInput, responses=TokenRefreshOutput))
class RefreshView(TokenRefreshView):
    """Rotates the refresh token; the old one is blacklisted."""

    serializer_class = RefreshRotateInput


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
        services.user_change_password(user=request.user, **data.validated_data)
        # A browser's own session survives the change; every refresh token does not, so this device
        # gets a new pair.
        if isinstance(request.successful_authenticator, SessionAuthentication):
            update_session_auth_hash(request._request, request.user)
        return Response(_session_payload(request.user))
