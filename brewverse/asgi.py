"""ASGI entry point: Django for HTTP, Channels for the two WebSockets.

Socket authentication is middleware around the URL router, and origins are checked against
ALLOWED_HOSTS, so no consumer repeats either check.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brewverse.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from accounts.socket_auth import JWTOrSessionAuthMiddleware  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(JWTOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
