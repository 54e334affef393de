"""Handlers written for python-socketio are pointed out when registered, not run wrongly in silence."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import tidings
from tidings.errors import MigrationWarning


def test_a_python_socketio_connect_handler_warns() -> None:
    sio = tidings.Server()
    with pytest.warns(MigrationWarning, match=r"'connect' has a parameter named 'environ'.*migration"):

        @sio.event
        async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None: ...


def test_a_handler_taking_sid_first_warns_with_its_name() -> None:
    sio = tidings.Server()
    with pytest.warns(MigrationWarning, match=r"handler .*chat of 'chat' has a first parameter named 'sid'"):

        @sio.on("chat")
        async def chat(sid: str, data: Any) -> None: ...

    with pytest.warns(MigrationWarning):
        sio.of("/admin").on("ping", lambda sid: None)


def test_tidings_handlers_do_not_warn() -> None:
    sio = tidings.Server()
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @sio.event
        async def connect(socket: tidings.Socket, auth: Any) -> None: ...

        @sio.on("chat")
        async def chat(socket: tidings.Socket, sid: str) -> None: ...
