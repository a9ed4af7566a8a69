"""Cursor pages of the conversation list that keep the contract's body: a JSON list, with the next and
previous pages in an RFC 8288 `Link` header instead of DRF's `{"next", "previous", "results"}` envelope.

DRF's `CursorPagination` does the paging: an opaque cursor holding the `updated_at` of the last row
shown (plus an offset for rows sharing it), so a page costs the same however far down it is, and
conversations that move to the top between two requests neither repeat nor push others off a page.
What changes here is only how pages are asked for and answered (docs/api.md, "List pages").
"""

from datetime import UTC

from django.http import QueryDict
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_aware
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from chat.errors import ChatError, ErrorCode

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

LINK_HEADER = OpenApiParameter(
    "Link",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    description='RFC 8288 links to the neighbouring pages: `<url>; rel="next"` when there are older '
    'conversations, `<url>; rel="prev"` on any page but the first. Absent on a single page.',
)


class InvalidCursor(ChatError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.INVALID_CURSOR, "Invalid cursor: start again from the first page.")


class ConversationPagination(CursorPagination):
    ordering = ("-updated_at", "-id")
    page_size = PAGE_SIZE
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE
    template = None  # no browsable-API controls

    def get_page_size(self, request) -> int:
        """`limit`, validated like the message history's: 1 to 200, empty means the default; anything
        else is a 400 naming it (DRF would quietly use the default, or clamp)."""
        limit = serializers.IntegerField(min_value=1, max_value=self.max_page_size)
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        try:
            return limit.run_validation(raw)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({self.page_size_query_param: error.detail})

    def decode_cursor(self, request):
        """DRF's decoding, with a 400 for a cursor that is not one of ours (DRF answers 404): also for a
        well-formed cursor whose position is not a time, which would otherwise reach the query."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise InvalidCursor()
        if cursor is not None and cursor.position is not None:
            try:
                position = parse_datetime(cursor.position)
                if position is None or not is_aware(position):
                    raise ValueError(cursor.position)
                position.astimezone(UTC)  # a time that exists in UTC (the database compares in UTC)
            except (ValueError, OverflowError):
                raise InvalidCursor()
        return cursor

    def get_paginated_response(self, data) -> Response:
        return Response(data, headers=self.link_header())

    def link_header(self) -> dict[str, str]:
        links = [(self.get_next_link(), "next"), (self.get_previous_link(), "prev")]
        value = ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links if url)
        return {"Link": value} if value else {}

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return schema  # the body stays the list; the links are in the Link header

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque: copied from a `Link` header, never built by the client.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Conversations per page, 1 to {self.max_page_size}; default {self.page_size}.",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


class _FirstPageRequest:
    """What `CursorPagination` reads of a request, for a first page asked for outside the API."""

    query_params = QueryDict()

    def __init__(self, url: str) -> None:
        self.url = url

    def build_absolute_uri(self) -> str:
        return self.url


def first_page(queryset, *, url: str) -> tuple[list, str | None]:
    """The first page of conversations and the link to the next one (None when it is the only page),
    outside an API request: the app page renders this page, and its scripts follow the link, which
    continues the list at `url` (the API's)."""
    paginator = ConversationPagination()
    page = paginator.paginate_queryset(queryset, _FirstPageRequest(url))
    return page, paginator.get_next_link()
