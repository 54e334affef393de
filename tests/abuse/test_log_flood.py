"""A flood of bad input is not a flood of log lines: 1,000 connections that each send a
malformed packet give a bounded number of WARNING lines and one summary of the rest."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import tidings
from tests.server.conftest import PollingPeer, sio  # noqa: F401  (the fixture)
from tidings.logging_limits import LogLimiter
from tidings.server import connection


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """The connections' limiter, fresh and on a clock the test moves."""
    fake = FakeClock()
    saved = connection.peer_warnings
    connection.peer_warnings = LogLimiter(connection.logger, burst=10, interval=60.0, clock=fake)
    try:
        yield fake
    finally:
        connection.peer_warnings = saved


def test_the_limiter_counts_per_kind_and_summarizes(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock()
    log = logging.getLogger("tests.loglimit")
    limiter = LogLimiter(log, burst=3, interval=10.0, clock=fake)
    with caplog.at_level(logging.WARNING, logger="tests.loglimit"):
        logged = [limiter.warning("a", "a %d", i) for i in range(50)]
        assert limiter.warning("b", "b %d", 0)  # another kind has its own burst
        fake.now += 9.9
        assert not limiter.warning("a", "a late")
        fake.now += 0.1
        limiter.flush()
    assert logged == [True] * 3 + [False] * 47
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["a 0", "a 1", "a 2", "b 0", "48 more like this suppressed (a) in the last 10s"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.timeout(60)
async def test_a_thousand_malformed_packets_log_a_bounded_number_of_lines(
    sio: tidings.Server, clock: FakeClock, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    with caplog.at_level(logging.WARNING, logger="tidings.server"):
        for _ in range(1000):
            peer = PollingPeer(sio)
            await peer.open()
            await peer.connect()
            await peer.post('42["unterminated')
            assert "1" in await peer.poll()  # closed: the engine's CLOSE packet
        clock.now += 60
        connection.peer_warnings.flush()
    lines = [r.getMessage() for r in caplog.records if r.name == "tidings.server"]
    malformed = [line for line in lines if "malformed packet, closing" in line]
    assert len(malformed) == 10, lines[:20]
    assert lines[-1] == "990 more like this suppressed (malformed packet) in the last 60s"
    assert len(lines) == 11, lines[:20]
    # The server still serves a well-behaved client.
    good = PollingPeer(sio)
    await good.open()
    await good.connect()
    await sio.emit("still", "here")
    assert await good.event() == ("", ["still", "here"])
