"""ASGI entry point: Django for HTTP, Channels for the two WebSockets.

Socket authentication is middleware around the URL router, which also checks the origin of the
sockets the session cookie authenticates (accounts/socket_auth.py), so no consumer repeats either.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brewverse.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from accounts.socket_auth import JWTOrSessionAuthMiddleware  # noqa: E402
from chat.routing import SocketRouter, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": JWTOrSessionAuthMiddleware(SocketRouter(websocket_urlpatterns)),
    }
)
