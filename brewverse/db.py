"""Database calls from async code (the socket consumers and their middleware)."""

from collections.abc import Callable

from channels.db import database_sync_to_async


def in_thread_pool(func: Callable) -> Callable:
    """`database_sync_to_async` on the event loop's thread pool, not on the one thread that every
    socket of the process would otherwise share (`thread_sensitive=True`, Channels' default), so the
    database work of many sockets runs side by side. The ORM keeps a connection per thread; a socket
    handles its frames one at a time anyway, and the services lock what must not interleave (the
    conversation's row for a message's seq)."""
    return database_sync_to_async(func, thread_sensitive=False)
