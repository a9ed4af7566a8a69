"""The OpenAPI schema's conventions, applied to every operation (docs/api.md, "Status codes").

drf-spectacular documents only the success answers the views declare. This AutoSchema adds the 4xx
answers each operation can give, from what the view is: 400 for anything that takes input, 401 behind
authentication or for credentials in the body, 403 for a change a role or a missing CSRF token can
refuse, 404 for anything named in the URL, 415 for a JSON body, 429 (with `Retry-After`) behind a
throttle. Every error answer is the one `Error` shape; a view adds other statuses in its own
`extend_schema(responses=...)` with `ERROR`.

It also makes the schema say what the server does rather than how it is built: every field of an
answer is required (the server always sends it, null when it has no value), and descriptions come
only from `extend_schema(description=...)`, written for API users; docstrings are for developers.
"""

from drf_spectacular import openapi
from drf_spectacular.plumbing import get_override
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from chat.errors import ErrorCode


class ErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[(code.value, code.name) for code in ErrorCode])
    detail = serializers.CharField()
    retry_after = serializers.IntegerField(required=False, help_text="Seconds to wait, on a 429")

    # Sent only on some errors; every other field always.
    sometimes_sent = ("retry_after",)

    class Meta:
        ref_name = "Error"


ERROR = OpenApiResponse(
    ErrorSerializer,
    description='`{"code", "detail"}`; on bad input, also each refused field with its messages: '
    '`{"code": "invalid", "detail": "…", "title": ["…"]}`',
)
RETRY_AFTER = {"schema": {"type": "integer"}, "description": "Seconds to wait before trying again.", "required": True}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(openapi.AutoSchema):
    def get_description(self) -> str:
        return ""  # unless extend_schema gives one

    def _map_basic_serializer(self, serializer, direction) -> dict:
        schema = super()._map_basic_serializer(serializer, direction)
        if not get_override(serializer, "description"):
            schema.pop("description", None)
        if direction == "response":
            schema["required"] = sorted(set(schema["properties"]) - set(getattr(serializer, "sometimes_sent", ())))
        if isinstance(serializer, ErrorSerializer):
            schema["additionalProperties"] = {"description": "a refused field's messages"}
        return schema

    def _get_response_bodies(self, direction="response") -> dict:
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(ERROR, code, direction=direction)
        return dict(sorted(responses.items()))

    def _get_response_headers_for_code(self, status_code, direction="response") -> dict:
        headers = super()._get_response_headers_for_code(status_code, direction)
        if str(status_code) == "429":
            headers["Retry-After"] = RETRY_AFTER
        return headers

    def _error_codes(self) -> list[str]:
        public = all(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        unsafe = self.method in UNSAFE_METHODS
        # Public views that read a credential from their body (login, refresh, logout) name a scheme.
        reads_credentials = type(self.view).get_authenticate_header is not APIView.get_authenticate_header
        takes_body = unsafe and self.get_request_serializer() is not None
        codes = []
        if unsafe or self.get_override_parameters():
            codes.append("400")
        if not public or reads_credentials:
            codes.append("401")
        if not public and unsafe:
            codes.append("403")
        if "{" in self.path:
            codes.append("404")
        if takes_body:
            codes.append("415")
        if self.view.get_throttles():
            codes.append("429")
        return codes
