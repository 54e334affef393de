"""Static files for the I/O layers (built-in server and ASGI): enough for an app's pages and scripts.

A mount maps a URL path to a file (exact match) or a directory (prefix match).
A request can never reach outside a mounted directory: ``..`` segments are
refused and the resolved path, symlinks followed, must stay under the root.
File system work runs in a thread so a slow disk never stalls the loop.

``ClientFiles`` serves the official browser client under the Engine.IO path, as
Node's ``serveClient`` does.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from os import PathLike
from pathlib import Path

from tidings import browser
from tidings.engine.io import HttpResponse

__all__ = [
    "MAX_STATIC_FILE",
    "ClientFiles",
    "StaticFiles",
    "accepts_gzip",
    "content_type",
    "etag_matches",
]

_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".txt": "text/plain",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
_CHARSET = ("text/", "application/json", "image/svg+xml")
MAX_STATIC_FILE = 64 * 1024 * 1024


def content_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    ctype = _TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    if ctype.startswith(_CHARSET):
        ctype += "; charset=utf-8"
    return ctype


def _norm_mount(url: str) -> str:
    if not url.startswith("/"):
        raise ValueError(f"static mount {url!r} must start with '/'")
    return url.rstrip("/") or "/"


class StaticFiles:
    __slots__ = ("_mounts",)

    def __init__(self, mounts: Mapping[str, str | PathLike[str]]) -> None:
        resolved = []
        for url, target in mounts.items():
            path = Path(target).resolve()
            if not path.exists():
                raise ValueError(f"static path {str(target)!r} for {url!r} does not exist")
            resolved.append((_norm_mount(url), path, path.is_dir()))
        # Longest mount first: "/app.js" wins over "/".
        resolved.sort(key=lambda m: len(m[0]), reverse=True)
        self._mounts = tuple(resolved)

    def __bool__(self) -> bool:
        return bool(self._mounts)

    def match(self, path: str) -> tuple[Path, bool, str] | None:
        """The mount serving ``path``: (target, is_dir, rest of the path), or None."""
        for url, target, is_dir in self._mounts:
            if path == url:
                return target, is_dir, ""
            if is_dir and (url == "/" or path.startswith(url + "/")):
                return target, is_dir, path[len(url) :] if url != "/" else path
        return None

    async def handle(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> HttpResponse | None:
        """The response for a mounted path, or None when no mount covers it."""
        hit = self.match(path)
        if hit is None:
            return None
        if method not in ("GET", "HEAD"):
            return HttpResponse(405, [("Allow", "GET, HEAD")], b"method not allowed\n")
        return await asyncio.to_thread(_serve, hit, path, method, dict(headers))


def _safe_join(root: Path, rest: str) -> Path | None:
    parts = [p for p in rest.split("/") if p]
    for part in parts:
        if part in ("..", ".") or "\\" in part or "\x00" in part:
            return None
    candidate = root.joinpath(*parts).resolve()
    if candidate != root and not candidate.is_relative_to(root):
        return None  # a symlink pointing out of the root
    return candidate


def _not_found() -> HttpResponse:
    return HttpResponse(404, [("Content-Type", "text/plain; charset=utf-8")], b"not found\n")


def _serve(
    hit: tuple[Path, bool, str], path: str, method: str, headers: dict[str, str]
) -> HttpResponse:
    root, is_dir, rest = hit
    if is_dir:
        file = _safe_join(root, rest)
        if file is None:
            return _not_found()
        if file.is_dir():
            if not path.endswith("/"):
                return HttpResponse(301, [("Location", path + "/")], b"")
            file = file / "index.html"
    else:
        file = root
    try:
        stat = file.stat()
        if not file.is_file() or stat.st_size > MAX_STATIC_FILE:
            return _not_found()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        common = [
            ("ETag", etag),
            ("Last-Modified", formatdate(stat.st_mtime, usegmt=True)),
            ("Cache-Control", "no-cache"),
        ]
        if _not_modified(headers, etag, stat.st_mtime):
            return HttpResponse(304, common, b"")
        body = b"" if method == "HEAD" else file.read_bytes()
    except OSError:
        return _not_found()
    common += [
        ("Content-Type", content_type(file.name)),
        ("Content-Length", str(stat.st_size)),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return HttpResponse(200, common, body)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag``: weak comparison, as RFC 9110 asks
    (called by ``StaticFiles`` and ``ClientFiles``)."""
    if if_none_match.strip() == "*":
        return True
    return etag.removeprefix("W/") in (t.strip().removeprefix("W/") for t in if_none_match.split(","))


def _not_modified(headers: Mapping[str, str], etag: str, mtime: float) -> bool:
    inm = headers.get("if-none-match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = headers.get("if-modified-since")
    if ims:
        try:
            return int(mtime) <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
    return False


# -- the browser client -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ClientFile:
    """One file of the client, and its gzip encoding, each with its own strong ETag."""

    content_type: str
    body: bytes
    etag: str
    gzipped: bytes
    gzip_etag: str

    @classmethod
    def load(cls, name: str) -> _ClientFile:
        body = browser.read(name)
        tag = f"{browser.version()}-{hashlib.sha256(body).hexdigest()[:16]}"
        kind = "application/json" if name.endswith(".map") else "application/javascript"
        return cls(
            content_type=kind + "; charset=utf-8",
            body=body,
            etag=f'"{tag}"',
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            gzip_etag=f'"{tag}-gzip"',
        )


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether Accept-Encoding allows gzip: named with q > 0, or not named and "*" allowed
    (called by ``ClientFiles``)."""
    if not accept_encoding:
        return False
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        params = params.strip()
        try:
            quality = float(params[2:]) if params.startswith("q=") else 1.0
        except ValueError:
            quality = 0.0
        qualities[coding.strip().lower()] = quality
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


class ClientFiles:
    """The official browser client (``tidings.browser``) at ``<engine path><file>``.

    Each file is read and gzipped once, on its first request, and kept in memory:
    about 40 to 300 kB each, asked for on every page load and answered with a 304
    most times, so no request after the first touches the disk, and a process
    whose pages never load the client holds none of it. ETags are the client's
    version and a hash of the bytes, so a refreshed copy is never taken for the
    old one. Called by ``EngineServer.handle_http``.
    """

    __slots__ = ("_names", "_loaded")

    def __init__(self, engine_path: str) -> None:
        self._names = {engine_path + name: name for name in browser.FILES}
        self._loaded: dict[str, _ClientFile] = {}

    def __contains__(self, path: str) -> bool:
        return path in self._names

    async def handle(
        self, method: str, path: str, headers: Mapping[str, str], cors: list[tuple[str, str]]
    ) -> HttpResponse | None:
        """The file's response (``cors`` added), or None for a path or method it does not serve."""
        name = self._names.get(path)
        if name is None or method not in ("GET", "HEAD"):
            return None
        file = self._loaded.get(name)
        if file is None:
            file = self._loaded[name] = await asyncio.to_thread(_ClientFile.load, name)
        gzipped = accepts_gzip(headers.get("accept-encoding"))
        body, etag = (file.gzipped, file.gzip_etag) if gzipped else (file.body, file.etag)
        common = [
            ("ETag", etag),
            ("Cache-Control", "public, max-age=0"),
            ("Vary", "Accept-Encoding"),
            *cors,
        ]
        inm = headers.get("if-none-match")
        if inm is not None and etag_matches(inm, etag):
            return HttpResponse(304, common)
        common += [
            ("Content-Type", file.content_type),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if gzipped:
            common.append(("Content-Encoding", "gzip"))
        return HttpResponse(200, common, b"" if method == "HEAD" else body)
