"""The API's one error shape: every error body under /api/ is `{"code", "detail"}` (docs/api.md).

`code` is always one of `chat.errors.ErrorCode`. A refused chat operation (`ChatError`) brings its own;
DRF's and simplejwt's exceptions bring theirs (`exc.get_codes()`), so a code an authentication class
raises, such as `token_expired`, reaches the client as it is; the few foreign codes that mean one of
ours are translated. Validation errors keep DRF's per-field lists beside `code` and `detail`.
"""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chat.errors import ChatError, ErrorCode

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2

# Codes of DRF and simplejwt that say what one of ours says.
_FOREIGN_CODES = {
    "throttled": ErrorCode.RATE_LIMITED,
    "permission_denied": ErrorCode.FORBIDDEN,
}
# For any other code that is not ours, what the status means.
_STATUS_CODES = {
    401: ErrorCode.TOKEN_NOT_VALID,  # simplejwt's user_inactive, user_not_found, no_active_account
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    429: ErrorCode.RATE_LIMITED,
}
_KNOWN = frozenset(ErrorCode)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ChatError):
        body = {"code": exc.code.value, "detail": exc.detail}
        if exc.field and exc.http_status == 400:
            body[exc.field] = [exc.detail]
        return Response(body, status=exc.http_status)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable (a restart, a failover): nothing was saved, so say "try again".
        logger.warning("database unavailable: %r", exc)
        return Response(
            {"code": ErrorCode.UNAVAILABLE.value, "detail": "The service is briefly unavailable; try again."},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, RequestDataTooBig):
        # A body over DATA_UPLOAD_MAX_MEMORY_SIZE: what handler400 answers, in DEBUG too.
        return Response({"code": ErrorCode.INVALID.value, "detail": "The request body is too large."}, status=400)
    # Django's own, as DRF converts them, but with DRF's generic message: get_object_or_404's names a model.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc)
    else:
        response.data = _error_body(exc, response.status_code)
    if "retry_after" in response.data:
        response["Retry-After"] = str(response.data["retry_after"])  # DRF's rounds down; both say the same
    return response


def _error_body(exc: exceptions.APIException, status: int) -> dict:
    detail, codes = exc.detail, exc.get_codes()
    if isinstance(detail, dict):  # simplejwt's {"detail", "code", "messages"}; the messages name internals
        detail, codes = detail.get("detail", ""), detail.get("code", codes.get("detail"))
    code, detail = str(_first(codes)), str(_first(detail))
    fallback = _STATUS_CODES.get(status, ErrorCode.INTERNAL if status >= 500 else ErrorCode.INVALID)
    code = _FOREIGN_CODES.get(code) or (code if code in _KNOWN else fallback)
    body = {"code": str(code), "detail": detail}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["retry_after"] = math.ceil(exc.wait)
    return body


def _validation_body(exc: exceptions.ValidationError) -> dict:
    fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    code = _first(exc.get_codes())
    return {
        **fields,
        "code": code if code in _KNOWN else ErrorCode.INVALID.value,
        "detail": str(_first(exc.detail)),
    }


def _first(errors):
    """The first message (or code) of DRF's nested errors: lists in dicts, in lists, ..."""
    while isinstance(errors, dict | list):
        if not errors:
            return ""
        errors = next(iter(errors.values())) if isinstance(errors, dict) else errors[0]
    return errors
