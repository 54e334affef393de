"""Options, CORS rules, prepared messages and the deadline heap."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tidings
from tidings.engine import EngineOptions, HttpRequest, PreparedMessage
from tidings.engine.cors import cors_headers, origin_allowed
from tidings.engine.io import parse_query, status_phrase
from tidings.engine.timers import DeadlineHeap
from tidings.protocol.websocket.frames import Opcode, encode_frame


def make_request(
    origin: str | None, host: str = "example.test:8000", **headers: str
) -> HttpRequest:
    all_headers = {"host": host, **headers}
    if origin is not None:
        all_headers["origin"] = origin
    return HttpRequest("GET", "/engine.io/", "", {}, all_headers)


# -- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"path": "engine.io"},
        {"ping_interval": 0},
        {"ping_timeout": -1},
        {"max_payload": 0},
        {"max_connections": 1.5},
        {"transports": ()},
        {"transports": ("polling", "carrier-pigeon")},
        {"cors_allowed_origins": 42},
        {"max_buffered_bytes": True},
    ],
)
def test_options_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EngineOptions(**bad)  # type: ignore[arg-type]


def test_options_defaults_are_safe_and_frozen() -> None:
    options = EngineOptions(cors_allowed_origins=["https://a.test"])
    assert options.cors_allowed_origins == ("https://a.test",)
    assert options.max_payload == 1_000_000 and options.max_connections > 0
    assert options.upgrades == ("websocket",)
    assert EngineOptions(allow_upgrades=False).upgrades == ()
    assert EngineOptions(transports=("polling",)).upgrades == ()
    with pytest.raises(AttributeError):
        options.path = "/x/"  # type: ignore[misc]


# -- CORS ----------------------------------------------------------------------------------


def test_same_origin_rule() -> None:
    options = EngineOptions()
    assert origin_allowed(options, make_request(None))
    assert origin_allowed(options, make_request("http://example.test:8000"))
    assert not origin_allowed(options, make_request("https://example.test:8000"))
    assert not origin_allowed(options, make_request("http://example.test:8001"))
    assert not origin_allowed(options, make_request("null"))
    assert origin_allowed(options, make_request("http://example.test", host="example.test:80"))
    # Behind a TLS-terminating proxy.
    assert origin_allowed(
        options,
        make_request("https://example.test", host="example.test", **{"x-forwarded-proto": "https"}),
    )
    assert cors_headers(options, make_request("http://example.test:8000")) == []


def test_allowed_origins_forms() -> None:
    def pred(origin: str) -> bool:
        return origin.endswith(".good.test")

    def broken(origin: str) -> bool:
        raise RuntimeError("oops")

    assert origin_allowed(EngineOptions(cors_allowed_origins="*"), make_request("null"))
    single = EngineOptions(cors_allowed_origins="https://one.test")
    assert origin_allowed(single, make_request("https://one.test"))
    assert not origin_allowed(single, make_request("https://two.test"))
    assert origin_allowed(
        EngineOptions(cors_allowed_origins=pred), make_request("https://a.good.test")
    )
    assert not origin_allowed(
        EngineOptions(cors_allowed_origins=pred), make_request("https://bad.test")
    )
    assert not origin_allowed(
        EngineOptions(cors_allowed_origins=broken), make_request("https://x.test")
    )


def test_star_with_credentials_is_refused_at_configuration() -> None:
    """Any site could otherwise act with the user's cookies (the Origin echoed with
    credentials); a listed origin with credentials is answered as browsers require."""
    with pytest.raises(ValueError, match="cannot go with cors_credentials"):
        EngineOptions(cors_allowed_origins="*", cors_credentials=True)
    with pytest.raises(ValueError, match="cannot go with cors_credentials"):
        tidings.Server(cors_allowed_origins="*", cors_credentials=True)
    options = EngineOptions(cors_allowed_origins=["https://app.test"], cors_credentials=True)
    headers = dict(cors_headers(options, make_request("https://app.test")))
    assert headers["Access-Control-Allow-Origin"] == "https://app.test"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Vary"] == "Origin"
    star = dict(cors_headers(EngineOptions(cors_allowed_origins="*"), make_request("https://x.test")))
    assert star["Access-Control-Allow-Origin"] == "*" and "Access-Control-Allow-Credentials" not in star


# -- prepared messages ---------------------------------------------------------------------


def test_prepared_message_encodes_once() -> None:
    prepared = PreparedMessage(['2["é"]', b"\x00\x01"])
    assert prepared.ws_messages == ('42["é"]', b"\x00\x01")
    frames = prepared.ws_frames
    assert frames == encode_frame(Opcode.TEXT, '42["é"]'.encode()) + encode_frame(
        Opcode.BINARY, b"\x00\x01"
    )
    assert prepared.ws_frames is frames  # cached
    assert prepared.encoded is prepared.encoded
    assert [seg for _, seg in prepared.encoded] == ['42["é"]', "bAAE="]
    assert prepared.nbytes == len('42["é"]') + len("bAAE=")
    with pytest.raises(TypeError):
        PreparedMessage([42])  # type: ignore[list-item]


# -- deadline heap -------------------------------------------------------------------------


class Item:
    def __init__(self, name: str, log: list[str], done: asyncio.Event) -> None:
        self.heap_deadline: float | None = None
        self.name = name
        self.log = log
        self.done = done

    def on_deadline(self, now: float) -> None:
        self.log.append(self.name)
        if self.name == "last":
            self.done.set()


async def test_heap_fires_in_order_and_skips_stale_entries() -> None:
    loop = asyncio.get_running_loop()
    heap = DeadlineHeap(loop)
    log: list[str] = []
    done = asyncio.Event()
    now = loop.time()
    a, b, c, last = (Item(n, log, done) for n in ("a", "b", "c", "last"))
    heap.schedule(a, now + 0.03)
    heap.schedule(b, now + 0.01)
    heap.schedule(c, now + 0.02)
    heap.schedule(c, None)  # c no longer wants waking: its entry is stale
    heap.schedule(a, now + 0.005)  # earlier than its entry: re-pushed
    heap.schedule(b, now + 0.5)  # later than its entry: the early one stays
    heap.schedule(last, now + 0.04)
    await asyncio.wait_for(done.wait(), 2)
    assert log == ["a", "b", "last"]
    heap.close()
    assert len(heap) == 0


class Rescheduling:
    """Pushes its own deadline far away each time it wakes (a session after its ping)."""

    def __init__(self, heap: DeadlineHeap, loop: asyncio.AbstractEventLoop) -> None:
        self.heap_deadline: float | None = None
        self.heap = heap
        self.loop = loop
        self.woken = 0

    def on_deadline(self, now: float) -> None:
        self.woken += 1
        self.heap.schedule(self, now + 60)


async def test_heap_still_wakes_an_entry_left_behind_by_a_rescheduling_callback() -> None:
    loop = asyncio.get_running_loop()
    heap = DeadlineHeap(loop)
    log: list[str] = []
    done = asyncio.Event()
    first = Rescheduling(heap, loop)
    later = Item("last", log, done)
    now = loop.time()
    heap.schedule(first, now + 0.01)
    heap.schedule(later, now + 0.03)  # not due when ``first`` wakes
    await asyncio.wait_for(done.wait(), 1)
    assert first.woken == 1 and log == ["last"]
    heap.close()


def test_per_connection_state_has_slots() -> None:
    from tidings.engine import CallbackHandler, EngineSocket
    from tidings.engine.context import SocketContext
    from tidings.protocol.engineio import ServerSession, SessionConfig

    context: SocketContext[EngineSocket] = SocketContext(
        handler=CallbackHandler(),
        options=EngineOptions(),
        now=lambda: 0.0,
        schedule=lambda socket, when: None,
        release_soon=lambda socket: None,
        socket_closed=lambda socket, event: None,
    )
    session = ServerSession("s" * 20, SessionConfig(), 0.0)
    socket = EngineSocket(context, make_request(None), session)
    for obj in (session, socket, PreparedMessage(["x"])):
        assert not hasattr(obj, "__dict__")


# -- the request kept for the session's life -----------------------------------------------


def test_kept_request_gives_the_request_back() -> None:
    from tidings.engine.handshake import KeptRequest

    original = HttpRequest(
        method="GET",
        path="/socket.io/",
        query_string="EIO=4&transport=websocket&name=a%20b&empty=",
        query={"EIO": "4", "transport": "websocket", "name": "a b", "empty": ""},
        headers={"host": "h:1", "x-multi": "a, b", "cookie": "k=v; w=x:y"},
        body=b"dropped",
        client=("127.0.0.1", 5000),
        scheme="https",
    )
    kept = KeptRequest(original, "/socket.io/", "")
    assert isinstance(kept.headers, str)  # packed into one string
    assert kept.query is None  # parsed again from the query string when asked for
    again = kept.request()
    assert again == HttpRequest(**{**{f: getattr(original, f) for f in original.__slots__}, "body": b""})
    assert again.headers is not kept.request().headers  # each caller gets its own dicts


def test_kept_request_shares_common_strings_and_keeps_what_it_cannot_rebuild() -> None:
    from tidings.engine.handshake import KeptRequest

    qs = "EIO=4&transport=websocket"
    first = HttpRequest("GET", "/socket.io/", qs, {"EIO": "4", "transport": "websocket"}, {})
    kept = KeptRequest(first, "/socket.io/", qs + "")
    assert kept.request().headers == {}
    odd = HttpRequest(
        "GET", "/x", "a=1&a=2", {"a": "first"}, {"bad:name": "v", "h": "line\nbreak"}
    )
    kept = KeptRequest(odd, "/socket.io/", "")
    assert kept.request().query == {"a": "first"}  # not what parse_qsl would give: kept
    assert kept.request().headers == {"bad:name": "v", "h": "line\nbreak"}
    assert kept.path == "/x"


#: Pieces of a query, with those parse_qsl treats apart (escapes good and bad, "+", ";").
QUERY_PART = st.lists(
    st.sampled_from([*"ab=&+%;2F0é ", "%2", "%20", "%C3%A9", "%zz"]), max_size=6
).map("".join)


@given(st.lists(st.tuples(QUERY_PART, QUERY_PART, st.sampled_from(["=", ""]))))
def test_parse_query_reads_a_query_as_the_standard_library_does(
    pairs: list[tuple[str, str, str]],
) -> None:
    query = "&".join(name + eq + value for name, value, eq in pairs)
    assert parse_query(query) == dict(parse_qsl(query, keep_blank_values=True))


def test_status_phrases() -> None:
    assert (status_phrase(200), status_phrase(404), status_phrase(799)) == ("OK", "Not Found", "")
