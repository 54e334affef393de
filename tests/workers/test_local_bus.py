"""The local bus alone: ``LocalBus`` clients through a ``BusHub``, in this loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tidings.adapters.localbus import BusHub
from tidings.adapters.localbus.bus import LocalBus
from tidings.adapters.localbus.frames import FrameError, FrameReader, Op, encode
from tidings.adapters.redis.messages import Outgoing
from tidings.errors import ClusterError


class Recorder:
    """A bus receiver that keeps what arrives."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self.lost: list[BaseException] = []

    async def message_received(self, channel: str, payload: bytes) -> None:
        await self.messages.put((channel, payload))

    async def entry_received(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        raise AssertionError("no streams on the local bus")

    def connection_lost(self, error: BaseException) -> None:
        self.lost.append(error)


def test_frames_cut_a_stream_wherever_it_breaks() -> None:
    data = b"".join([
        encode(Op.PUBLISH, "p#/#", b"\x00payload"), encode(Op.NUMSUB, "r#/#", request_id=7),
        encode(Op.MESSAGE, "é", b""),
    ])
    for cut in range(len(data)):
        reader = FrameReader()
        frames = reader.feed(data[:cut]) + reader.feed(data[cut:])
        assert [(f.op, f.request_id, f.channel, f.payload) for f in frames] == [
            (Op.PUBLISH, 0, "p#/#", b"\x00payload"), (Op.NUMSUB, 7, "r#/#", b""),
            (Op.MESSAGE, 0, "é", b""),
        ]
    with pytest.raises(FrameError):
        FrameReader().feed(b"\x00\x00\x00\x07\x63\x00\x00\x00\x00\x00\x00")  # op 99


async def test_publishes_reach_the_other_subscribers_and_are_counted(tmp_path: Path) -> None:
    hub = BusHub(str(tmp_path / "bus.sock"))
    await hub.start()
    a_in, b_in, c_in = Recorder(), Recorder(), Recorder()
    a, b, c = (LocalBus(hub.path, r) for r in (a_in, b_in, c_in))
    try:
        await a.subscribe(["req#/#"], ["bc#/#*"])
        await b.subscribe(["req#/#"], ["bc#/#*"])
        await c.subscribe(["other"])
        assert await c.count_subscribers("NUMSUB", "req#/#") == 2
        assert await c.count_subscribers("NUMSUB", "bc#/#") == 0  # patterns are not counted

        await a.send([Outgoing("req#/#", b"1"), Outgoing("bc#/#room#", b"2")])
        assert await asyncio.wait_for(b_in.messages.get(), 5) == ("req#/#", b"1")
        assert await asyncio.wait_for(b_in.messages.get(), 5) == ("bc#/#room#", b"2")
        await c.send([Outgoing("req#/#", b"3")])
        assert await asyncio.wait_for(a_in.messages.get(), 5) == ("req#/#", b"3")
        assert await asyncio.wait_for(b_in.messages.get(), 5) == ("req#/#", b"3")
        assert a_in.messages.empty() and c_in.messages.empty()  # no echo to the publisher

        await b.unsubscribe(["req#/#"])
        assert await c.count_subscribers("NUMSUB", "req#/#") == 1
        with pytest.raises(ClusterError):
            await a.send([Outgoing("s", b"x", sharded=True)])
    finally:
        for bus in (a, b, c):
            await bus.close()
        await hub.close()
    assert not (tmp_path / "bus.sock").exists()


async def test_a_bus_subscribes_again_when_the_hub_comes_back(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.sock")
    hub = BusHub(path)
    await hub.start()
    a_in, b_in = Recorder(), Recorder()
    a, b = LocalBus(path, a_in), LocalBus(path, b_in)
    try:
        await a.subscribe(["ch"])
        await hub.close()
        hub = BusHub(path)
        await hub.start()
        await b.subscribe(["ch"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while await b.count_subscribers("NUMSUB", "ch") < 2:  # a's reconnection has backoff
            assert loop.time() < deadline, "a did not subscribe again"
            await asyncio.sleep(0.02)
        assert len(a_in.lost) == 1 and isinstance(a_in.lost[0], ClusterError)
        await b.send([Outgoing("ch", b"again")])
        assert await asyncio.wait_for(a_in.messages.get(), 5) == ("ch", b"again")
    finally:
        await a.close()
        await b.close()
        await hub.close()
