from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from brewverse.health import healthz
from brewverse.paths import api_path
from chat.errors import ErrorCode


def api_error(status: int, code: ErrorCode, detail: str) -> JsonResponse:
    """The API's error body (docs/api.md, "Error bodies"), for answers given outside any API view."""
    return JsonResponse({"code": code, "detail": detail}, status=status)


@csrf_exempt  # like the API's views: an unknown URL is a 404 for every method, never a CSRF page
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any other URL under /api/: the API's 404 in every mode (with DEBUG on, Django's is an HTML page)."""
    return api_error(404, ErrorCode.NOT_FOUND, "Not found.")


class _JSONErrors:
    """The schema views render YAML or HTML; their errors (a 405, say) and OPTIONS answers are JSON
    like every other answer under /api/."""

    def finalize_response(self, request: Request, response: HttpResponse, *args, **kwargs) -> HttpResponse:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method not in ("GET", "HEAD") or response.status_code >= 400:
            response.accepted_renderer, response.accepted_media_type = JSONRenderer(), "application/json"
        return response


class SchemaView(_JSONErrors, SpectacularAPIView):
    pass


class SchemaDocsView(_JSONErrors, SpectacularSwaggerView):
    pass


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/auth/", include("accounts.urls")),
    path("api/", include("chat.api.urls")),
    api_path("api/schema/", SchemaView.as_view(), name="schema"),
    api_path("api/docs/", SchemaDocsView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api(?:/|$)", api_not_found),
    # The pages: /signup, /login, /logout, then the app at / and /c/<id>/.
    path("", include("accounts.page_urls")),
    path("", include("chat.urls")),
]


def _json_under_api(page_view, status: int, code: ErrorCode, detail: str):
    """Django's error page, except under /api/, where the API's JSON body answers.

    Django uses these only with DEBUG off; in development its debug pages show what went wrong.
    """

    def view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
        if request.path.startswith("/api/"):
            return api_error(status, code, detail)
        return page_view(request) if exception is None else page_view(request, exception)

    return view


# 400 is what Django answers for a body over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), before any view.
handler400 = _json_under_api(defaults.bad_request, 400, ErrorCode.INVALID, "Bad request.")
handler404 = _json_under_api(defaults.page_not_found, 404, ErrorCode.NOT_FOUND, "Not found.")
handler500 = _json_under_api(defaults.server_error, 500, ErrorCode.INTERNAL, "Server error.")
