"""A blocking facade over ``tidings.Client`` for code that has no event loop.

It runs the one asyncio client on an event loop of its own, in a thread, and
holds no protocol logic: each method hands a coroutine to that loop and waits
for its result. Handlers run on the client's thread, so they must not block it
for long (a plain function or a coroutine, as with ``Client``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Self, TypeVar

from tidings.client.arguments import Auth, Headers
from tidings.client.client import Client

__all__ = ["SyncClient"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class SyncClient:
    """``Client``'s API, blocking. ``close()`` (or leaving ``with``) stops its thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tidings-client", daemon=True
        )
        self._thread.start()
        self.client: Client = self._call(_make_client(args, kwargs))

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the SyncClient is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- registration (no I/O: straight through) -------------------------------------

    def on(self, event: str, handler: F | None = None, *, namespace: str = "/") -> Any:
        return self.client.on(event, handler, namespace=namespace)

    def event(self, fn: F | None = None, *, namespace: str = "/") -> Any:
        return self.client.event(fn, namespace=namespace)

    def on_any(self, listener: Callable[..., Any], *, namespace: str = "/") -> None:
        self.client.on_any(listener, namespace=namespace)

    def on_any_outgoing(self, listener: Callable[..., Any], *, namespace: str = "/") -> None:
        self.client.on_any_outgoing(listener, namespace=namespace)

    def on_manager(self, event: str, handler: F | None = None) -> Any:
        return self.client.on_manager(event, handler)

    # -- state -----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def sid(self) -> str | None:
        return self.client.sid

    def get_sid(self, namespace: str = "/") -> str | None:
        return self.client.get_sid(namespace)

    @property
    def recovered(self) -> bool:
        return self.client.recovered

    @property
    def transport(self) -> str | None:
        return self.client.transport

    @property
    def namespaces(self) -> tuple[str, ...]:
        return self.client.namespaces

    # -- I/O -------------------------------------------------------------------------

    def connect(
        self,
        url: str,
        namespaces: str | Iterable[str] | None = None,
        auth: Auth = None,
        headers: Headers = None,
        transports: Iterable[str] = ("polling", "websocket"),
        socketio_path: str = "socket.io",
    ) -> None:
        self._call(
            self.client.connect(url, namespaces, auth, headers, tuple(transports), socketio_path)
        )

    def connect_namespace(self, namespace: str, auth: Auth = None) -> None:
        self._call(self.client.connect_namespace(namespace, auth))

    def disconnect_namespace(self, namespace: str) -> None:
        self._call(self.client.disconnect_namespace(namespace))

    def emit(self, event: str, *args: Any, namespace: str = "/", volatile: bool = False) -> None:
        self._call(self.client.emit(event, *args, namespace=namespace, volatile=volatile))

    def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None, namespace: str = "/"
    ) -> Any:
        return self._call(
            self.client.emit_with_ack(event, *args, timeout=timeout, namespace=namespace)
        )

    def disconnect(self) -> None:
        self._call(self.client.disconnect())

    def wait(self, timeout: float | None = None) -> None:
        """Until disconnected for good; ``TimeoutError`` after ``timeout`` seconds."""
        self._call(self.client.wait(), timeout)

    def close(self) -> None:
        """Disconnect, then stop the client's thread. Idempotent."""
        if not self._thread.is_alive():
            return
        self._call(self.client.disconnect())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _make_client(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Client:
    return Client(*args, **kwargs)
