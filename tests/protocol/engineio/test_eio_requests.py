from __future__ import annotations

import orjson
import pytest

from tidings.protocol.engineio import ErrorCode, RequestError, check_request

BOTH = ("polling", "websocket")


def check(
    method: str = "GET",
    *,
    websocket: bool = False,
    transports: tuple[str, ...] = BOTH,
    session: str | None = None,
    **query: str,
) -> RequestError | None:
    return check_request(
        method, query, websocket=websocket, transports=transports, session_transport=session
    )


def test_valid_handshakes() -> None:
    assert check(EIO="4", transport="polling") is None
    assert check(EIO="4", transport="websocket", websocket=True) is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"EIO": "4"}, ErrorCode.UNKNOWN_TRANSPORT),
        ({"EIO": "4", "transport": "abc"}, ErrorCode.UNKNOWN_TRANSPORT),
        ({"transport": "polling"}, ErrorCode.UNSUPPORTED_PROTOCOL_VERSION),
        ({"EIO": "3", "transport": "polling"}, ErrorCode.UNSUPPORTED_PROTOCOL_VERSION),
        ({"EIO": "abc", "transport": "polling"}, ErrorCode.UNSUPPORTED_PROTOCOL_VERSION),
        ({"EIO": "4", "transport": "polling", "sid": "nope"}, ErrorCode.UNKNOWN_SID),
        ({"EIO": "4", "transport": "websocket"}, ErrorCode.BAD_REQUEST),  # not an upgrade request
    ],
)
def test_refusals(query: dict[str, str], code: ErrorCode) -> None:
    error = check(**query)
    assert error is not None and error.status == 400 and error.code is code


def test_handshake_must_be_get() -> None:
    for method in ("POST", "PUT"):
        error = check(method, EIO="4", transport="polling")
        assert error is not None and error.code is ErrorCode.BAD_HANDSHAKE_METHOD


def test_disabled_transport_is_unknown() -> None:
    error = check(EIO="4", transport="polling", transports=("websocket",))
    assert error is not None and error.code is ErrorCode.UNKNOWN_TRANSPORT


def test_polling_after_upgrade_is_a_bad_request() -> None:
    error = check(EIO="4", transport="polling", sid="s", session="websocket")
    assert error is not None and error.code is ErrorCode.BAD_REQUEST
    assert check("POST", EIO="4", transport="polling", sid="s", session="polling") is None
    assert check(EIO="4", transport="websocket", sid="s", session="polling", websocket=True) is None
    error = check("PUT", EIO="4", transport="polling", sid="s", session="polling")
    assert error is not None and error.code is ErrorCode.BAD_REQUEST


def test_error_body_is_nodes_json() -> None:
    error = RequestError.of(ErrorCode.UNKNOWN_SID)
    assert orjson.loads(error.body) == {"code": 1, "message": "Session ID unknown"}
    assert RequestError.of(ErrorCode.FORBIDDEN, 403).message == "Forbidden"
    assert RequestError.of(ErrorCode.UNKNOWN_TRANSPORT).message == "Transport unknown"
