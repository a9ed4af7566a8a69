from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from brewverse.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/auth/", include("accounts.urls")),
    path("api/", include("chat.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # The pages: /signup, /login, /logout, then the app at / and /c/<id>/.
    path("", include("accounts.page_urls")),
    path("", include("chat.urls")),
]


def _json_under_api(page_view, status: int, detail: str):
    """Django's error page, except under /api/, where the contract's JSON body answers.

    Django uses these only with DEBUG off; in development its debug pages show what went wrong.
    """

    def view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": detail}, status=status)
        return page_view(request) if exception is None else page_view(request, exception)

    return view


# 400 is what Django answers for a body over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), before any view.
handler400 = _json_under_api(defaults.bad_request, 400, "Bad request.")
handler404 = _json_under_api(defaults.page_not_found, 404, "Not found.")
handler500 = _json_under_api(defaults.server_error, 500, "Server error.")
