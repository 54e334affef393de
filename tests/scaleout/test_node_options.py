"""``tidings.demo.ClusterOptions``: what a chat node of a cluster is made of, checked up front."""

from __future__ import annotations

import pytest

from tidings.adapters.redis import RedisAdapter
from tidings.demo import ClusterOptions, create_node_app
from tidings.demo.cluster import handoff_options
from tidings.history import PostgresHistory
from tidings.standalone import RedisPeerDirectory


@pytest.mark.parametrize("node", ["", "node.1", "x" * 25, "nöde"])
def test_a_node_tag_is_checked(node: str) -> None:
    with pytest.raises(ValueError, match="node must be"):
        ClusterOptions(node=node)


@pytest.mark.parametrize("name", ["", "Chat", "chat-demo", "1chat", 'chat"; drop'])
def test_a_cluster_name_is_a_plain_identifier(name: str) -> None:
    with pytest.raises(ValueError, match="name must be"):
        ClusterOptions(node="node1", name=name)


def test_a_node_has_the_cluster_pieces() -> None:
    options = ClusterOptions(node="node2", name="chat_test")
    sio = create_node_app(options)
    assert sio.node_id == "node2"
    assert isinstance(sio.adapter_factory, RedisAdapter)
    assert isinstance(sio.journal.store if sio.journal else None, PostgresHistory)
    handoff = handoff_options(options)
    assert handoff.owner == "node2"
    assert isinstance(handoff.peers, RedisPeerDirectory)
    assert handoff.peers.key_prefix == "chat_test"
