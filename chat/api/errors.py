"""Maps a refused chat operation (`ChatError`), and an unreachable database, to JSON error bodies."""

import logging

from django.db import InterfaceError, OperationalError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chat.errors import ChatError

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ChatError):
        body = {exc.field: [exc.detail]} if exc.field and exc.http_status == 400 else {"detail": exc.detail}
        body["code"] = exc.code.value
        return Response(body, status=exc.http_status)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable (a restart, a failover): nothing was saved, so say "try again".
        logger.warning("database unavailable: %r", exc)
        return Response(
            {"detail": "The service is briefly unavailable; try again.", "code": "unavailable"},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return drf_exception_handler(exc, context)
