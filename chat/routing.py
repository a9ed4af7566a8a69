"""The two socket paths. Each works with and without its trailing slash (a socket cannot follow the
redirect APPEND_SLASH answers a page with), and a path that names no socket is refused at the
handshake: Channels' own router raises, which daphne answers with a 500 and a traceback."""

from channels.routing import URLRouter
from django.urls import path, re_path

from accounts.socket_auth import refuse
from chat.consumers import ChatConsumer, NotificationConsumer


async def refuse_unrouted(scope: dict, receive, send) -> None:
    await refuse(scope, receive, send, "no socket at this path")


websocket_urlpatterns = [
    path("ws/chat/<int:conversation_id>/", ChatConsumer.as_asgi()),
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    re_path(r"", refuse_unrouted),  # last: whatever the routes above leave
]


class SocketRouter(URLRouter):
    """Channels' URL router, with a path's trailing slash optional."""

    async def __call__(self, scope, receive, send):
        if not scope["path"].endswith("/"):
            scope = dict(scope, path=scope["path"] + "/")
        return await super().__call__(scope, receive, send)
