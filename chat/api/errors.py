"""Maps a refused chat operation (`ChatError`) to the contract's JSON error bodies."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chat.errors import ChatError


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ChatError):
        body = {exc.field: [exc.detail]} if exc.field and exc.http_status == 400 else {"detail": exc.detail}
        body["code"] = exc.code.value
        return Response(body, status=exc.http_status)
    return drf_exception_handler(exc, context)
