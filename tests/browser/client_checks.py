"""What serving the browser client means, checked the same way on every server.

Each file must be byte-identical to the official package's ``dist/`` copy (the
one ``npm ci`` installs), with the headers Node's ``serveClient`` sends.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx

from tidings import browser

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_CLIENT = REPO_ROOT / "node_modules" / "socket.io-client"
IDENTITY = {"Accept-Encoding": "identity"}
ALLOWED_ORIGIN = "http://allowed.example"


def official(name: str) -> bytes:
    """A file as the official npm package has it."""
    return (NODE_CLIENT / "dist" / name).read_bytes()


def official_version() -> str:
    version = json.loads((NODE_CLIENT / "package.json").read_text(encoding="utf-8"))["version"]
    assert isinstance(version, str)
    return version


async def check_serves_every_file(client: httpx.AsyncClient, path: str = "/socket.io/") -> None:
    """Every file, plain and gzipped, with its ETag honoured; HEAD without a body."""
    for name in browser.FILES:
        url = path + name
        expected = official(name)
        response = await client.get(url, headers=IDENTITY)
        assert response.status_code == 200, (url, response.status_code, response.text[:200])
        assert response.content == expected, url
        headers = response.headers
        kind = "application/json" if name.endswith(".map") else "application/javascript"
        assert headers["content-type"] == kind + "; charset=utf-8"
        assert headers["cache-control"] == "public, max-age=0"
        assert headers["content-length"] == str(len(expected))
        assert "content-encoding" not in headers
        etag = headers["etag"]
        assert etag.startswith(f'"{browser.version()}-') and etag.endswith('"')

        for asked in (etag, "W/" + etag, f'"other", {etag}', "*"):
            again = await client.get(url, headers={**IDENTITY, "If-None-Match": asked})
            assert again.status_code == 304, asked
            assert again.content == b""
            assert again.headers["etag"] == etag
        stale = await client.get(url, headers={**IDENTITY, "If-None-Match": '"4.0.0"'})
        assert stale.status_code == 200 and stale.content == expected

        async with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as zipped:
            raw = b"".join([chunk async for chunk in zipped.aiter_raw()])
        assert zipped.status_code == 200
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
        assert len(raw) < len(expected) and gzip.decompress(raw) == expected
        # Two encodings are two representations: their strong ETags differ.
        assert zipped.headers["etag"] != etag

        head = await client.head(url, headers=IDENTITY)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(expected))


async def check_not_served(client: httpx.AsyncClient, path: str = "/socket.io/") -> None:
    """Not a client file: the Engine.IO answer to a request without its query (400, JSON)."""
    for name in browser.FILES:
        response = await client.get(path + name, headers=IDENTITY)
        assert response.status_code == 400, (name, response.status_code)
        assert response.headers["content-type"].startswith("application/json")
        assert "code" in response.json()


async def check_cross_origin(client: httpx.AsyncClient, path: str = "/socket.io/") -> None:
    """An allowed origin may read the script (an ESM import); any other still gets the
    file, without the header that would let its page read it."""
    url = path + "socket.io.esm.min.js"
    allowed = await client.get(url, headers={**IDENTITY, "Origin": ALLOWED_ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = await client.get(url, headers={**IDENTITY, "Origin": "http://elsewhere.example"})
    assert other.status_code == 200 and other.content == official("socket.io.esm.min.js")
    assert "access-control-allow-origin" not in other.headers
