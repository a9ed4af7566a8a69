"""The OpenAPI schema's error answers, documented once for every operation (docs/api.md, "Status codes").

drf-spectacular documents only the success answers the views declare. This AutoSchema adds the 4xx
answers each operation can give, from what the view is: 400 for anything that takes input, 401 behind
authentication or for credentials in the body, 403 for a change a role or a missing CSRF token can
refuse, 404 for anything named in the URL, 429 behind a throttle. A view adds others in its own
`extend_schema(responses=...)` with `ERROR`.
"""

from drf_spectacular import openapi
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(required=False, help_text="From chat/errors.py, or simplejwt's token_not_valid")

    class Meta:
        ref_name = "Error"


ERROR = OpenApiResponse(ErrorSerializer, description='`{"detail", "code"?}`')
VALIDATION_ERROR = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description='Bad input: `{"<field>": ["message", ...], "code"?}`, `{"non_field_errors": [...]}` '
    'or `{"detail", "code"}`',
)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response") -> dict:
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                answer = VALIDATION_ERROR if code == "400" else ERROR
                responses[code] = self._get_response_for_code(answer, code, direction=direction)
        return dict(sorted(responses.items()))

    def _error_codes(self) -> list[str]:
        public = all(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        unsafe = self.method in UNSAFE_METHODS
        # Public views that read a credential from their body (login, refresh, logout) name a scheme.
        reads_credentials = type(self.view).get_authenticate_header is not APIView.get_authenticate_header
        codes = []
        if unsafe or self.get_override_parameters():
            codes.append("400")
        if not public or reads_credentials:
            codes.append("401")
        if not public and unsafe:
            codes.append("403")
        if "{" in self.path:
            codes.append("404")
        if self.view.get_throttles():
            codes.append("429")
        return codes
