"""Server options are typed keyword arguments: a typo or a wrong type fails at once."""

from __future__ import annotations

from typing import Any

import pytest

import tidings


def test_an_unknown_option_is_refused() -> None:
    options: dict[str, Any] = {"cors_allowed_origin": "*"}  # the plural is the option's name
    with pytest.raises(TypeError, match="cors_allowed_origin"):
        tidings.Server(**options)


def test_a_wrongly_typed_option_is_refused() -> None:
    options: dict[str, Any] = {"ping_interval": "25"}
    with pytest.raises(ValueError, match="ping_interval"):
        tidings.Server(**options)


def test_options_reach_the_engine() -> None:
    sio = tidings.Server(ping_interval=3, ping_timeout=2, max_http_buffer_size=1234,
                         transports=["websocket"], cors_allowed_origins=["https://a.example"])
    options = sio.engine.options
    assert (options.ping_interval, options.ping_timeout, options.max_payload) == (3, 2, 1234)
    assert options.transports == ("websocket",)
    assert options.cors_allowed_origins == ("https://a.example",)
