from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.standalone.standalone_helpers import App, RecordingEngine, request
from tidings.standalone import HttpServer, serve


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "style.css").write_text("body{}")
    (root / "sub" / "index.html").write_text("<h1>sub</h1>")
    (root / "sub" / "data.json").write_text("{}")
    (root / "blob.bin").write_bytes(b"\x00\x01")
    (tmp_path / "secret.txt").write_text("top secret")
    (root / "link").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "app.js").write_text("console.log(1)")
    return root


@pytest.fixture
async def static_server(site: Path, engine: RecordingEngine) -> AsyncIterator[HttpServer]:
    app = App(engine, {"/": str(site)})  # the app's own static files...
    extra = {"/app.js": site.parent / "app.js"}  # ...plus the ones given to serve()
    async with serve(app, "127.0.0.1", 0, static_files=extra) as server:
        yield server


def get(path: str, *, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


@pytest.mark.parametrize(
    ("path", "body", "ctype"),
    [
        ("/", b"<h1>home</h1>", "text/html; charset=utf-8"),
        ("/index.html", b"<h1>home</h1>", "text/html; charset=utf-8"),
        ("/style.css", b"body{}", "text/css; charset=utf-8"),
        ("/sub/", b"<h1>sub</h1>", "text/html; charset=utf-8"),
        ("/sub/data.json", b"{}", "application/json; charset=utf-8"),
        ("/blob.bin", b"\x00\x01", "application/octet-stream"),
        ("/app.js", b"console.log(1)", "text/javascript; charset=utf-8"),
    ],
)
async def test_files_and_content_types(
    static_server: HttpServer, path: str, body: bytes, ctype: str
) -> None:
    response = await request(static_server.port, get(path))
    assert response.status == 200
    assert response.body == body
    assert response.headers["content-type"] == ctype
    assert response.headers["content-length"] == str(len(body))


async def test_directory_without_slash_redirects(static_server: HttpServer) -> None:
    response = await request(static_server.port, get("/sub"))
    assert response.status == 301
    assert response.headers["location"] == "/sub/"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/sub/%2E%2E/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/link",
        "/%00",
        "/missing.html",
        "/sub/missing/",
    ],
)
async def test_no_path_traversal_and_missing_files(static_server: HttpServer, path: str) -> None:
    response = await request(static_server.port, get(path))
    assert response.status == 404
    assert b"secret" not in response.body


async def test_head_has_length_but_no_body(static_server: HttpServer) -> None:
    response = await request(static_server.port, get("/style.css", method="HEAD"), head=True)
    assert response.status == 200
    assert response.headers["content-length"] == "6"
    # the connection is clean: a second request on it would parse (checked via a new GET)
    assert (await request(static_server.port, get("/style.css"))).body == b"body{}"


async def test_etag_and_if_modified_since(static_server: HttpServer) -> None:
    first = await request(static_server.port, get("/style.css"))
    etag = first.headers["etag"]
    again = await request(static_server.port, get("/style.css", extra=f"If-None-Match: {etag}\r\n"))
    assert again.status == 304 and again.body == b""
    modified = first.headers["last-modified"]
    since = await request(
        static_server.port, get("/style.css", extra=f"If-Modified-Since: {modified}\r\n")
    )
    assert since.status == 304
    changed = await request(static_server.port, get("/style.css", extra='If-None-Match: "x"\r\n'))
    assert changed.status == 200


async def test_other_methods_405(static_server: HttpServer) -> None:
    response = await request(
        static_server.port, b"POST /style.css HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_engine_path_wins_over_static_root(
    static_server: HttpServer, engine: RecordingEngine
) -> None:
    response = await request(static_server.port, get("/engine.io/?EIO=4"))
    assert response.status == 200
    assert len(engine.requests) == 1


def test_missing_static_directory_is_refused(engine: RecordingEngine, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        serve(engine, static_files={"/": tmp_path / "nope"})
    with pytest.raises(ValueError):
        serve(engine, static_files={"relative": str(tmp_path)})


def test_app_without_engine_is_refused() -> None:
    with pytest.raises(TypeError):
        serve(object())  # type: ignore[arg-type]


async def test_exact_file_mount_does_not_match_subpaths(
    engine: RecordingEngine, site: Path
) -> None:
    async with serve(engine, static_files={"/f.css": site / "style.css"}) as server:
        assert (await request(server.port, get("/f.css"))).status == 200
        assert (await request(server.port, get("/f.css/x"))).status == 404
        assert (await request(server.port, get("/"))).status == 404
    assert os.path.exists(site / "style.css")
