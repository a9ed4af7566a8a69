"""`api_path`: Django's `path()` for the API, matching its route with and without the trailing slash.

The contract's paths work either way (`POST /api/conversations` and `/api/conversations/` alike). A
redirect (CommonMiddleware's APPEND_SLASH) cannot do that: it turns a POST into a GET, and Django refuses
it with a 500 in DEBUG. So each route matches both forms itself. `reverse()` and the schema keep the
form the route is written in.
"""

from django.urls import URLPattern
from django.urls.resolvers import RoutePattern


class SlashOptionalPattern(RoutePattern):
    def __init__(self, route: str, name: str | None = None, is_endpoint: bool = False) -> None:
        super().__init__(route, name, is_endpoint)
        other = route.removesuffix("/") if route.endswith("/") else f"{route}/"
        self._other_form = RoutePattern(other, name, is_endpoint)

    def match(self, path: str):
        return super().match(path) or self._other_form.match(path)


def api_path(route: str, view, name: str | None = None) -> URLPattern:
    return URLPattern(SlashOptionalPattern(route, name=name, is_endpoint=True), view, name=name)
