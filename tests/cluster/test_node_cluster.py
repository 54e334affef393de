"""The test bed proven on Node alone: two socket.io 4.8 servers with the official adapters.

If these fail, the bed is wrong (not tidings): they pin what the official adapters do,
which the mixed clusters must then match.

Node servers, Node clients (and the official emitter): nothing of this process's Python or
loop is in what is checked, so scripts/test runs them in its first entry only
(``same_everywhere``). The rows where ``tidings.Emitter`` drives the cluster are not.
"""

from __future__ import annotations

import pytest

from .scenarios import (
    ClassicScenarios,
    ClusterScenarios,
    EmitterScenarios,
    RedisRestartScenarios,
)


@pytest.mark.same_everywhere
class TestNodeCluster(ClusterScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return ("node", "node")


@pytest.mark.same_everywhere
class TestNodeClassicCluster(ClassicScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return ("node", "node")


class TestEmittersDriveNodeCluster(EmitterScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return ("node", "node")

    @pytest.fixture(params=[pytest.param("node", marks=pytest.mark.same_everywhere), "tidings"])
    def emitter_kind(self, request: pytest.FixtureRequest) -> str:
        """The official ``@socket.io/redis-emitter`` or ``tidings.Emitter``."""
        return str(request.param)


@pytest.mark.same_everywhere
class TestNodeClusterSurvivesRedisRestart(RedisRestartScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return ("node", "node")
