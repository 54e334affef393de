"""Options, the backoff, the URL split and the recovery payload: pure functions."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from tidings.client import Client, ClientOptions, OptionOverrides, backoff_delay
from tidings.client.endpoint import engine_target, request_options
from tidings.client.namespace import ClientNamespace, NamespaceState


def test_backoff_doubles_and_caps() -> None:
    options = ClientOptions(
        reconnection_delay=1.0, reconnection_delay_max=5.0, randomization_factor=0
    )
    assert [backoff_delay(n, options, 0.3) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff_delay(10_000, options, 0.3) == 5.0  # no overflow however long it goes on


def test_backoff_jitter_stays_within_the_factor() -> None:
    options = ClientOptions(
        reconnection_delay=1.0, reconnection_delay_max=100.0, randomization_factor=0.5
    )
    assert backoff_delay(0, options, 0.0) == pytest.approx(0.5)
    assert backoff_delay(0, options, 0.5) == pytest.approx(1.0)
    assert backoff_delay(0, options, 0.999999) == pytest.approx(1.5, abs=1e-5)
    assert backoff_delay(3, options, 0.0) == pytest.approx(4.0)
    capped = ClientOptions(
        reconnection_delay=1.0, reconnection_delay_max=2.0, randomization_factor=1
    )
    assert all(0 <= backoff_delay(5, capped, r / 10) <= 2.0 for r in range(10))


@pytest.mark.parametrize(
    "changes",
    [
        {"reconnection_attempts": -1},
        {"reconnection_delay": 0},
        {"reconnection_delay": float("nan")},
        {"reconnection_delay": 2.0, "reconnection_delay_max": 1.0},
        {"randomization_factor": 1.5},
        {"timeout": -1},
        {"ack_timeout": 0},
        {"max_offline_packets": 0},
        {"max_message_size": 0},
    ],
)
def test_invalid_options_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ClientOptions(**changes)  # type: ignore[arg-type]


def test_engine_target() -> None:
    target = engine_target("http://127.0.0.1:3000")
    assert target.http_url == "http://127.0.0.1:3000/socket.io/"
    assert target.ws_url == "ws://127.0.0.1:3000/socket.io/"
    assert target.query == ()
    assert target.namespace is None

    target = engine_target("wss://example.test/admin?token=x&EIO=3", "/custom/path/")
    assert target.http_url == "https://example.test/custom/path/"
    assert target.ws_url == "wss://example.test/custom/path/"
    assert target.query == (("token", "x"),)  # the protocol's own parameters are ours to set
    assert target.namespace == "/admin"

    with pytest.raises(ValueError):
        engine_target("ftp://example.test")
    with pytest.raises(ValueError):
        engine_target("http://")


def test_connect_payload_merges_the_recovery_position_like_socket_io_client() -> None:
    ns = ClientNamespace("/")
    assert ns.connect_payload(None) is None
    assert ns.connect_payload({"token": "t"}) == {"token": "t"}
    ns.set_state(NamespaceState.CONNECTING)
    ns.on_connected("sid1", "pid1")
    assert not ns.recovered
    assert ns.connect_payload(None) == {
        "pid": "pid1"
    }  # no offset yet: left out, as JSON drops undefined
    ns.track_offset(["ev", "data", "off-1"])
    ns.track_offset(["ev", 5])  # not a string: not an offset
    assert ns.connect_payload({"token": "t"}) == {"pid": "pid1", "offset": "off-1", "token": "t"}
    assert ns.connect_payload({"offset": "mine"})["offset"] == "mine"  # auth wins, as Object.assign
    ns.set_state(NamespaceState.WAITING)
    ns.set_state(NamespaceState.CONNECTING)
    ns.on_connected("sid2", "pid1")
    assert ns.recovered
    ns.set_state(NamespaceState.WAITING)
    ns.set_state(NamespaceState.CONNECTING)
    ns.on_connected("sid3", "pid2")
    assert not ns.recovered


def test_offsets_are_not_tracked_without_recovery() -> None:
    ns = ClientNamespace("/")
    ns.track_offset(["ev", "looks like an offset"])
    assert ns.offset is None


def test_namespace_transitions_are_checked() -> None:
    ns = ClientNamespace("/")
    ns.set_state(NamespaceState.CLOSED)
    with pytest.raises(RuntimeError):
        ns.set_state(NamespaceState.CONNECTING)


def test_every_option_is_a_keyword_of_the_client() -> None:
    fields = {f.name for f in dataclasses.fields(ClientOptions)}
    assert set(OptionOverrides.__annotations__) == fields
    base = ClientOptions(retries=1, ack_timeout=2.0)
    client = Client(base, retries=3, proxy="http://u:p@127.0.0.1:3128")
    assert client.options == dataclasses.replace(base, retries=3, proxy="http://u:p@127.0.0.1:3128")


def test_proxy_credentials_go_where_the_proxy_reads_them() -> None:
    proxy = "http://us%40er:p%3Ass@127.0.0.1:3128"
    token = "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    tunnel, none = request_options(False, proxy, engine_target("https://example.test"))
    assert tunnel["ssl"] is False and none == {}
    assert tunnel["proxy_headers"] == {"Proxy-Authorization": token}  # on the CONNECT only
    assert str(tunnel["proxy"]) == "http://127.0.0.1:3128"  # no credentials left in the URL
    forwarded, headers = request_options(True, proxy, engine_target("http://example.test"))
    assert "proxy_headers" not in forwarded and headers == {"Proxy-Authorization": token}
    assert request_options(True, None, engine_target("http://example.test")) == ({"ssl": True}, {})
