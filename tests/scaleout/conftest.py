"""Fixtures for the scale-out tests: three tidings nodes as processes behind nginx.

The nodes share the machine's Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432,
database ``test``) under names of the test's own (a key prefix, a schema), removed
afterwards; nginx runs from a temporary directory on a free port. Missing nginx,
Redis or PostgreSQL makes a test fail with a hint (``scripts/test`` sets them up),
never skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cluster.redis_server import redis_command
from tests.e2e.conftest import node, start_node
from tests.e2e.harness import NodeClient

from .harness import HERE, Deployment, NodeProcess, deploy, undeploy

__all__ = ["node", "start_node"]

REDIS_URL = os.environ.get("TIDINGS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_DSN = os.environ.get("TIDINGS_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
CLIENT = HERE / "node" / "client.mjs"


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail("nginx is missing: scripts/test installs it (apt-get install -y nginx)")
    return found


@pytest.fixture(scope="session")
def services() -> tuple[str, str]:
    """(Redis URL, PostgreSQL DSN), both checked to answer."""
    port = urlsplit(REDIS_URL).port or 6379
    try:
        assert redis_command(port, "PING").startswith(b"+PONG")
    except (OSError, AssertionError) as exc:
        pytest.fail(f"no Redis at {REDIS_URL} ({exc!r}): scripts/test sets it up")
    return REDIS_URL, PG_DSN


@pytest.fixture
async def prefix(services: tuple[str, str]) -> AsyncIterator[str]:
    """The cluster's Redis key prefix and PostgreSQL schema; both removed afterwards."""
    import asyncpg
    import redis.asyncio as redis

    name = f"scaleout_{secrets.token_hex(5)}"
    redis_url, dsn = services
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is needed at {dsn} ({exc!r}): scripts/test sets it up")
    await conn.close()
    yield name
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def deployment(
    nginx_bin: str, services: tuple[str, str], prefix: str
) -> AsyncIterator[Deployment]:
    """nginx in front of three nodes running ``nodeapp.py``."""
    redis_url, dsn = services
    with tempfile.TemporaryDirectory(prefix="tidings-nginx-") as workdir:
        made = await deploy(
            lambda name: NodeProcess.test_app(name, redis_url, dsn, prefix), nginx_bin, Path(workdir)
        )
        try:
            yield made
        finally:
            await undeploy(made)


@pytest.fixture
async def start_client(
    start_node: Callable[..., Awaitable[NodeClient]],
) -> Callable[[], Awaitable[NodeClient]]:
    """A Node process running the scale-out client script (ended with the test)."""

    async def start() -> NodeClient:
        return await start_node(CLIENT)

    return start
