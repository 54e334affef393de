"""What ``Client.connect`` takes besides the URL: namespaces, ``auth`` and ``headers``.

``auth`` and ``headers`` may be values or (possibly async) functions; a function
is called again for each use (``auth`` for each CONNECT, ``headers`` for each
connection), so a token refreshed meanwhile travels with the next reconnection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "Auth",
    "Headers",
    "check_namespace",
    "namespaces_to_join",
    "resolve_auth",
    "resolve_headers",
]

#: What ``connect(auth=...)`` takes: a dict, or a (possibly async) function returning one.
Auth = dict[str, Any] | Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]] | None

#: What ``connect(headers=...)`` takes: a mapping, or a (possibly async) function
#: returning one, called before each connection (the first and every reconnection).
Headers = Mapping[str, str] | Callable[[], Mapping[str, str] | Awaitable[Mapping[str, str]]] | None


def check_namespace(namespace: str) -> None:
    """Raise at once for a name that is no namespace."""
    if not isinstance(namespace, str) or not namespace.startswith("/"):
        raise ValueError(f"a namespace is a str starting with '/', not {namespace!r}")


def namespaces_to_join(
    given: str | Iterable[str] | None, from_url: str | None, registered: set[str]
) -> list[str]:
    """The namespaces ``connect`` joins: those given, else the URL's path, else those
    a handler was registered for, else ``/``."""
    if isinstance(given, str):
        names = [given]
    elif given is not None:
        names = list(given)
    elif from_url is not None:
        names = [from_url]
    else:
        names = sorted(registered) or ["/"]
    for name in names:
        check_namespace(name)
    if not names:
        raise ValueError("no namespace to connect to")
    return names


async def resolve_auth(auth: Auth) -> dict[str, Any] | None:
    """The data of one CONNECT; raises ``TypeError`` if it is not a dict."""
    data = auth() if callable(auth) else auth
    if isinstance(data, Awaitable):
        data = await data
    if data is not None and not isinstance(data, dict):
        raise TypeError(f"auth must be a dict, not {type(data).__name__}")
    return data


async def resolve_headers(headers: Headers) -> dict[str, str]:
    """The headers of one connection; raises ``TypeError`` if they are not a mapping."""
    value = headers() if callable(headers) else headers
    if isinstance(value, Awaitable):
        value = await value
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"headers must be a mapping, not {type(value).__name__}")
    return dict(value)
