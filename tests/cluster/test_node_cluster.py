"""The test bed proven on Node alone: two socket.io 4.8 servers with the official adapters.

If these fail, the bed is wrong (not tidings): they pin what the official adapters do,
which the mixed clusters must then match.
"""

from __future__ import annotations

import pytest

from .scenarios import (
    ClassicScenarios,
    ClusterScenarios,
    EmitterScenarios,
    RedisRestartScenarios,
)


class TestNodeCluster(ClusterScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return ("node", "node")


class TestNodeClassicCluster(ClassicScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return ("node", "node")


class TestEmittersDriveNodeCluster(EmitterScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return ("node", "node")

    @pytest.fixture(params=["node", "tidings"])
    def emitter_kind(self, request: pytest.FixtureRequest) -> str:
        """The official ``@socket.io/redis-emitter`` or ``tidings.Emitter``."""
        return str(request.param)


class TestNodeClusterSurvivesRedisRestart(RedisRestartScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return ("node", "node")
