"""``tidings serve`` with TLS (the official client over wss:// and https:// polling, with a
certificate the test makes), proxy headers believed from trusted peers only, and the access log."""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path

import httpx
import pytest

from tests.cli.serving import serve
from tests.cli.test_serve_options import APP
from tests.e2e.harness import NodeClient
from tests.threaded_http import ThreadedHttp

ADDRESS_APP = '''
import tidings

sio = tidings.Server()

@sio.on("where")
async def where(socket):
    return [socket.handshake.address, socket.handshake.secure]
'''


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_the_official_client_over_tls(
    tmp_path: Path, certificate: tuple[str, str], node: NodeClient, transport: str
) -> None:
    cert, key = certificate
    served = serve(tmp_path, APP, "cliapp", "cliapp:sio", "--port", "0", "--ssl-certfile", cert,
                   "--ssl-keyfile", key)
    port = served.port
    try:
        client = node.socket(f"https://127.0.0.1:{port}", opts={
            "transports": [transport], "rejectUnauthorized": False, "reconnection": False,
        })
        await client.connect()
        await client.connected()
        assert await client.call("loop") != []
        async with ThreadedHttp(verify=ssl.create_default_context(cafile=cert)) as http:
            plain = await http.get(f"https://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling")
        assert plain.status_code == 200 and plain.text.startswith("0{")
    finally:
        output = served.stop()
    assert f"listening on https://127.0.0.1:{port}" in output


def poll_address(port: int, headers: dict[str, str]) -> list[object]:
    base = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    handshake = httpx.get(base, headers=headers, timeout=10).text
    sid = re.search(r'"sid":"([^"]+)"', handshake)
    assert sid is not None, handshake
    url = f"{base}&sid={sid.group(1)}"
    assert httpx.post(url, content=b"40", headers=headers, timeout=10).status_code == 200
    assert httpx.get(url, headers=headers, timeout=10).text.startswith("40")
    assert httpx.post(url, content=b'421["where"]', headers=headers, timeout=10).status_code == 200
    reply = httpx.get(url, headers=headers, timeout=10).text
    assert reply.startswith("431"), reply
    return list(json.loads(reply[3:]))


@pytest.mark.parametrize(("args", "expected", "logged"), [
    ([], ["203.0.113.7", True], True),                                   # 127.0.0.1 is trusted by default
    (["--forwarded-allow-ips", "10.9.8.7"], ["127.0.0.1", False], True),  # the peer is not trusted
    (["--no-proxy-headers", "--no-access-log"], ["127.0.0.1", False], False),
])
def test_proxy_headers_from_trusted_peers_and_the_access_log(
    tmp_path: Path, args: list[str], expected: list[object], logged: bool
) -> None:
    served = serve(tmp_path, ADDRESS_APP, "addrapp", "addrapp:sio", "--port", "0", *args)
    try:
        forwarded = {"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https"}
        assert poll_address(served.port, forwarded) == [expected]
    finally:
        output = served.stop()
    assert ('"POST /socket.io/" 200' in output) == logged, output
