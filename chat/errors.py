"""Every error a chat operation can report, with its code: one list for REST and sockets alike.

Services raise `ChatError`; the REST exception handler turns it into a 4xx JSON body and the
consumers into an `error` frame on a socket that stays open.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    USER_NOT_FOUND = "user_not_found"
    MESSAGE_NOT_FOUND = "message_not_found"
    FORBIDDEN = "forbidden"
    INVALID = "invalid"
    CONTENT_EMPTY = "content_empty"
    CONTENT_TOO_LONG = "content_too_long"
    DIRECT_WITH_SELF = "direct_with_self"
    NOT_A_GROUP = "not_a_group"
    ALREADY_MEMBER = "already_member"
    NOT_A_MEMBER = "not_a_member"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    FRAME_TOO_LARGE = "frame_too_large"
    RATE_LIMITED = "rate_limited"
    # A socket frame that failed on the server's side; the socket stays open and the client may retry.
    INTERNAL = "internal"
    BLOCKED = "blocked"
    ALREADY_REPORTED = "already_reported"
    NOT_AUTHOR = "not_author"
    MESSAGE_DELETED = "message_deleted"
    # A page cursor the server did not make (or can no longer read): start again from the first page.
    INVALID_CURSOR = "invalid_cursor"
    # The database did not answer; nothing was saved, retry after `Retry-After` seconds (REST 503).
    UNAVAILABLE = "unavailable"
    # No credentials: no `Authorization` header, no session.
    NOT_AUTHENTICATED = "not_authenticated"
    # A login with a wrong username or password (one answer for both).
    AUTHENTICATION_FAILED = "authentication_failed"
    # A token that is forged, malformed, revoked or of a deactivated user: sign in again.
    TOKEN_NOT_VALID = "token_not_valid"
    # An access token past its lifetime: refresh it and retry.
    TOKEN_EXPIRED = "token_expired"
    # A body that is not JSON (or nested too deeply).
    PARSE_ERROR = "parse_error"
    # An HTTP method the path does not take.
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # A body that is not `application/json`.
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    # An `Accept` header that rules out JSON.
    NOT_ACCEPTABLE = "not_acceptable"
    # Unblocking a user the caller does not block.
    NOT_BLOCKED = "not_blocked"
    # A login with the right password to an account whose email address is not confirmed yet.
    EMAIL_NOT_VERIFIED = "email_not_verified"


# The HTTP status each code maps to in the REST API.
HTTP_STATUS = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.USER_NOT_FOUND: 404,
    ErrorCode.MESSAGE_NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.BLOCKED: 403,
    ErrorCode.NOT_AUTHOR: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.NOT_BLOCKED: 404,
    ErrorCode.EMAIL_NOT_VERIFIED: 403,
}


class ChatError(Exception):
    """A refused chat operation; `field` names the input it is about, for DRF-style bodies."""

    def __init__(self, code: ErrorCode, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field

    @property
    def http_status(self) -> int:
        # An error about a field of the request body is bad input, whatever its code: naming a user
        # or a message that does not exist in a body is a 400; only what the URL names is a 404.
        if self.field is not None:
            return 400
        return HTTP_STATUS.get(self.code, 400)


class ConversationNotFound(ChatError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.NOT_FOUND, "Conversation not found.")
