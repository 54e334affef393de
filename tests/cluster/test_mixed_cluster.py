"""Mixed clusters: two Node socket.io 4.8 servers with the official adapter and two tidings
servers with ``RedisAdapter``, on one Redis, in each format; and both emitters driving a
mixed classic cluster. The same scenarios as ``test_node_cluster``, which the Node-only
cluster passes: a failure here is a difference between tidings and the official adapters.
"""

from __future__ import annotations

import pytest

from .scenarios import (
    ClassicScenarios,
    ClusterScenarios,
    EmitterScenarios,
    RedisRestartScenarios,
)

#: Node and tidings nodes alternate, so every operation crosses both ways.
MIXED = ("node", "tidings", "node", "tidings")


class TestMixedCluster(ClusterScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return MIXED


class TestMixedClassicCluster(ClassicScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return MIXED


class TestEmittersDriveMixedCluster(EmitterScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return MIXED

    @pytest.fixture(params=["node", "tidings"])
    def emitter_kind(self, request: pytest.FixtureRequest) -> str:
        """The official ``@socket.io/redis-emitter`` or ``tidings.Emitter``."""
        return str(request.param)


class TestMixedClusterSurvivesRedisRestart(RedisRestartScenarios):
    @pytest.fixture
    def kinds(self) -> tuple[str, ...]:
        return MIXED
