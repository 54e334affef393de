"""The blocking facade, from plain (non-async) code, against the reference server."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tidings.client import DisconnectedError, SyncClient

from .servers import NODE_SERVER


@pytest.fixture
def node(node_bin: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [node_bin, str(NODE_SERVER), "{}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.kill()
        proc.wait()


def test_sync_client(node: tuple[str, subprocess.Popen[str]]) -> None:
    node_url, proc = node
    got = threading.Event()
    received: list[Any] = []
    with SyncClient(reconnection=False) as client:

        @client.on("*")
        def anything(event: str, *args: Any) -> None:
            received.append((event, args))
            got.set()

        client.connect(node_url, transports=("websocket",))
        assert client.connected and client.sid is not None
        assert client.transport == "websocket"
        assert client.emit_with_ack("echo", b"\x00", {"k": [1]}) == (b"\x00", {"k": [1]})
        assert proc.stdin is not None
        command = {"op": "emit", "ref": 1, "sid": client.sid, "event": "news", "args": ["x", 2]}
        proc.stdin.write(json.dumps(command) + "\n")
        proc.stdin.flush()
        assert got.wait(10)
        assert received == [("news", ("x", 2))]
        client.disconnect()
        client.wait(timeout=10)
        assert not client.connected
        with pytest.raises(DisconnectedError):
            client.emit("late")
    with pytest.raises(RuntimeError):
        client.emit("closed")
    client.close()  # idempotent


def test_the_sync_client_reaches_the_same_options(
    node: tuple[str, subprocess.Popen[str]],
) -> None:
    """One implementation: the blocking facade passes every new option and method through."""
    node_url, _proc = node
    sent: list[str] = []
    opened = threading.Event()
    with SyncClient(retries=1, ack_timeout=5, reconnection=False) as client:
        client.on_any_outgoing(lambda event, args: sent.append(event))
        client.on_manager("open", opened.set)
        client.connect(node_url, headers=lambda: {"X-Test": "sync"}, transports=("websocket",))
        assert opened.wait(10)
        client.connect_namespace("/admin")
        assert client.namespaces == ("/", "/admin")
        assert client.emit_with_ack("echo", "s", namespace="/admin") == "s"
        client.emit("gone", volatile=True)
        assert client.emit_with_ack("echo", "after") == "after"
        client.disconnect_namespace("/admin")
        assert client.namespaces == ("/",)
    assert sent == ["gone", "echo"]
