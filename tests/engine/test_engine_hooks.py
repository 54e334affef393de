"""Node's engine hooks on the engine alone: what the semantics rows (tests/semantics/
test_engine_hooks.py) cannot show against Node, and the Accept-Encoding choice held to
Node's own ``accepts`` package."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
from pathlib import Path

import orjson
import pytest

from tidings.engine import EngineServer, HttpRequest, RefusedRequest, owner_of
from tidings.engine.compression import HttpCompression, choose_encoding, compress
from tidings.engine.hooks import Cookie
from tidings.engine.pending import MAX_EARLY

from .test_engine_server import (
    Recorder,
    RecordingWebSocket,
    error_code,
    header,
    request,
    until,
    ws_request,
)

ROOT = Path(__file__).resolve().parents[2]


def sid_of(body: bytes) -> str:
    sid = orjson.loads(body[1:])["sid"]
    assert isinstance(sid, str)
    return sid


def recorded(engine: EngineServer) -> list[RefusedRequest]:
    errors: list[RefusedRequest] = []
    engine.on("connection_error", errors.append)
    return errors


# -- Accept-Encoding, as Node's engine.io chooses ------------------------------------------

HEADERS = [
    None, "", "gzip", "deflate", "gzip, deflate", "deflate, gzip", "br", "*", "*;q=0",
    "gzip;q=0", "gzip;q=0.5, deflate;q=0.8", "deflate;q=0.5, gzip;q=0.5", "gzip;q=0.5, deflate;q=0.5",
    "identity", "identity, *;q=0", "br;q=1, gzip;q=0.1", "*, gzip;q=0", "*;q=0.3, deflate;q=0.2",
    "GZIP", "x-gzip", "gzip ;q=0.7, deflate", "gzip, deflate, br, zstd", "deflate;q=1.0, *;q=0.9",
    " gzip ; q=1 , deflate ", "compress, *;q=0.1", "gzip;level=1;q=0.4, deflate;q=0.3",
]


def test_choose_encoding_agrees_with_nodes_accepts(node_bin: str) -> None:
    script = (
        "const accepts = require('accepts');"
        "const hs = JSON.parse(process.argv[1]);"
        "console.log(JSON.stringify(hs.map((h) => accepts({headers: h === null ? {} :"
        " {'accept-encoding': h}}).encodings(['gzip', 'deflate']) || null)));"
    )
    out = subprocess.run(
        [node_bin, "-e", script, json.dumps(HEADERS)], cwd=ROOT, capture_output=True, text=True,
        timeout=30, check=True,
    )
    assert [choose_encoding(h) for h in HEADERS] == json.loads(out.stdout)


def test_compress_round_trips_and_options_are_checked() -> None:
    body = b'42["big","' + b"x" * 5000 + b'"]'
    assert gzip.decompress(compress(body, "gzip", 6)) == body
    assert compress(body, "gzip", 1)[:2] == b"\x1f\x8b"
    with pytest.raises(ValueError):
        HttpCompression(level=0)
    with pytest.raises(ValueError):
        HttpCompression(threshold=-1)
    with pytest.raises(TypeError):
        EngineServer(Recorder(), cookie="yes")


async def test_compression_of_a_held_poll() -> None:
    engine = EngineServer(Recorder())
    response = await engine.handle_http(request())
    sid = sid_of(response.body)
    poll = asyncio.ensure_future(engine.handle_http(request(sid=sid, headers={"accept-encoding": "gzip"})))
    await until(lambda: engine.sockets[sid].session.poll_held)
    engine.sockets[sid].send("y" * 4000)
    response = await poll
    assert header(response, "Content-Encoding") == "gzip"
    assert gzip.decompress(response.body) == b"4" + b"y" * 4000
    await engine.shutdown(0.1)


# -- generate_id ------------------------------------------------------------------------------

async def test_generate_id_goes_behind_the_owner_tag() -> None:
    engine = EngineServer(Recorder(), owner="node-1", generate_id=lambda req: "user.42")
    response = await engine.handle_http(request())
    sid = sid_of(response.body)
    assert sid == "node-1.user.42"
    assert owner_of(sid) == "node-1"  # the first '.' ends the tag, whatever the id holds
    await engine.shutdown(0.1)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["def", "async"])
@pytest.mark.parametrize("generated", ["same", "", "raise"])
async def test_a_failing_or_clashing_generate_id_refuses_the_handshake(
    generated: str, asynchronous: bool
) -> None:
    def generate(req: HttpRequest) -> str:
        if generated == "raise":
            raise RuntimeError("no ids today")
        return generated

    async def generate_later(req: HttpRequest) -> str:
        await asyncio.sleep(0)
        return generate(req)

    engine = EngineServer(
        Recorder(echo=False), generate_id=generate_later if asynchronous else generate
    )
    errors = recorded(engine)
    if generated == "same":
        assert (await engine.handle_http(request())).status == 200  # the first is fine
    response = await engine.handle_http(request())
    assert (response.status, error_code(response)) == (400, 3)
    assert errors[-1].context["name"] == "ID_GENERATION_ERROR"
    # Over WebSocket: the upgrade is done, the socket is closed (once the id is in).
    ws = RecordingWebSocket()
    engine.open_websocket(ws_request(), ws)
    await asyncio.wait_for(ws.closed_event.wait(), 5)
    assert ws.closed == (1011, "")
    await engine.shutdown(0.1)


async def test_an_async_generate_id_opens_a_websocket_session_once_it_answers() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def generate(req: HttpRequest) -> str:
        return await gate

    recorder = Recorder()
    engine = EngineServer(recorder, generate_id=generate)
    ws = RecordingWebSocket()
    listener = engine.open_websocket(ws_request(), ws)
    listener.on_message("4early")  # kept until the session exists
    await asyncio.sleep(0)
    assert ws.sent == [] and not engine.sockets
    gate.set_result("later")
    await until(lambda: "later" in engine.sockets)
    assert sid_of(str(ws.sent[0]).encode()) == "later"
    assert recorder.messages == [("later", "early")]
    await engine.shutdown(0.1)


# -- allow_request over WebSocket -------------------------------------------------------------

async def test_async_allow_request_on_a_websocket_handshake() -> None:
    gate: asyncio.Future[bool | str] = asyncio.get_running_loop().create_future()

    async def allow(req: HttpRequest) -> bool | str:
        return await gate

    recorder = Recorder(echo=False)
    engine = EngineServer(recorder, allow_request=allow)
    errors = recorded(engine)
    req = ws_request()
    assert engine.check_websocket(req) is None  # upgraded while it decides
    ws = RecordingWebSocket()
    listener = engine.open_websocket(req, ws)
    listener.on_message("4early")  # kept until the session exists
    assert ws.sent == [] and not engine.sockets
    gate.set_result(True)
    await until(lambda: bool(ws.sent))
    assert ws.sent[0].startswith("0{")
    [sid] = engine.sockets
    assert recorder.messages == [(sid, "early")]
    # Refused: connection_error, and the WebSocket closed (1008).
    refused_gate: asyncio.Future[bool | str] = asyncio.get_running_loop().create_future()
    engine2 = EngineServer(Recorder(), allow_request=lambda req: refused_gate)
    errors2 = recorded(engine2)
    req2 = ws_request()
    assert engine2.check_websocket(req2) is None
    ws2 = RecordingWebSocket()
    engine2.open_websocket(req2, ws2)
    refused_gate.set_result("no")
    await ws2.closed_event.wait()
    assert ws2.closed == (1008, "")
    assert [(e.code, e.context) for e in errors2] == [(4, {"message": "no"})]
    assert errors == [] and not engine2.sockets
    await engine.shutdown(0.1)
    await engine2.shutdown(0.1)


async def test_an_i_o_layer_that_waits_gets_the_403() -> None:
    engine = EngineServer(Recorder(), allow_request=lambda req: asyncio.sleep(0, "go away"))
    req = ws_request()
    assert engine.check_websocket(req) is None
    response = await engine.websocket_verdict(req)
    assert response is not None
    assert (response.status, orjson.loads(response.body)) == (403, {"code": 4, "message": "go away"})
    engine_ok = EngineServer(Recorder(), allow_request=lambda req: asyncio.sleep(0, True))
    req = ws_request()
    assert engine_ok.check_websocket(req) is None
    assert await engine_ok.websocket_verdict(req) is None
    ws = RecordingWebSocket()
    engine_ok.open_websocket(req, ws)
    assert ws.sent[0].startswith("0{") and len(engine_ok.sockets) == 1
    await engine_ok.shutdown(0.1)


async def test_a_raising_allow_request_refuses_and_sync_answers_count() -> None:
    engine = EngineServer(Recorder(), allow_request=lambda req: 1 / 0)
    response = await engine.handle_http(request())
    assert (response.status, error_code(response)) == (403, 4)
    refusal = engine.check_websocket(ws_request())
    assert refusal is not None and refusal.status == 403
    engine = EngineServer(Recorder(), allow_request=lambda req: req.query.get("ok") == "1")
    assert (await engine.handle_http(request(ok="1"))).status == 200
    assert (await engine.handle_http(request())).status == 403
    assert engine.check_websocket(ws_request(ok="1")) is None


# -- connection_error contexts, headers, cookie ------------------------------------------------

async def test_refusals_name_their_cause() -> None:
    engine = EngineServer(Recorder(), max_connections=1)
    errors = recorded(engine)
    sid = sid_of((await engine.handle_http(request())).body)
    assert (await engine.handle_http(request())).status == 503
    await engine.handle_http(request(headers={"origin": "https://evil.example"}))
    assert engine.check_websocket(ws_request(sid="nope")) is not None
    assert [(e.code, e.message, e.context) for e in errors] == [
        (3, "Bad request", {"name": "SERVER_UNAVAILABLE"}),
        (4, "Forbidden", {"name": "ORIGIN_NOT_ALLOWED", "origin": "https://evil.example"}),
        (1, "Session ID unknown", {"sid": "nope"}),
    ]
    assert all(isinstance(e.req, HttpRequest) for e in errors)
    assert sid in engine.sockets
    await engine.shutdown(0.1)


async def test_failing_listeners_are_logged_and_the_response_still_goes(caplog: pytest.LogCaptureFixture) -> None:
    engine = EngineServer(Recorder(), cookie=Cookie(name="s", max_age=60, domain="example.com"))

    @engine.on("headers")
    def boom(headers: dict[str, str], req: HttpRequest) -> None:
        raise RuntimeError("listener bug")

    engine.on("connection_error", lambda err: 1 / 0)
    response = await engine.handle_http(request())
    sid = sid_of(response.body)
    assert header(response, "Set-Cookie") == f"s={sid}; Max-Age=60; Domain=example.com; Path=/; HttpOnly; SameSite=Lax"
    assert (await engine.handle_http(request(sid="nope"))).status == 400
    assert "listener bug" in caplog.text and "ZeroDivisionError" in caplog.text
    with pytest.raises(ValueError):
        Cookie(name="a b")
    await engine.shutdown(0.1)


def test_engine_events_on_a_server_with_a_handler() -> None:
    engine = EngineServer(Recorder())
    with pytest.raises(RuntimeError):
        engine.on("message", print)
    assert engine.on("headers")(print) is print


async def test_a_cancelled_async_generate_id_closes_the_websocket() -> None:
    async def generate(req: HttpRequest) -> str:
        raise asyncio.CancelledError  # the hook's own, not the server's

    engine = EngineServer(Recorder(), generate_id=generate)
    errors = recorded(engine)
    ws = RecordingWebSocket()
    engine.open_websocket(ws_request(), ws)
    await asyncio.wait_for(ws.closed_event.wait(), 5)
    assert ws.closed == (1011, "") and not engine.sockets
    assert errors[-1].context["name"] == "ID_GENERATION_ERROR"
    response = await engine.handle_http(request())  # over polling: a 400, as any failure
    assert (response.status, error_code(response)) == (400, 3)
    await engine.shutdown(0.1)


async def test_a_waiting_websocket_keeps_a_bounded_number_of_early_messages() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def generate(req: HttpRequest) -> str:
        return await gate

    engine = EngineServer(Recorder(), generate_id=generate)
    ws = RecordingWebSocket()
    listener = engine.open_websocket(ws_request(), ws)
    for _ in range(MAX_EARLY):
        listener.on_message("4early")
    assert ws.closed is None
    listener.on_message("4one too many")
    assert ws.closed is not None
    gate.set_result("never-opened")
    for _ in range(10):  # the turns the id's answer takes to reach the pending socket
        await asyncio.sleep(0)
    assert not engine.sockets
    await engine.shutdown(0.1)
