"""The official client (tests/e2e) and a certificate the tests make (tests/client)."""

from tests.client.conftest import certificate
from tests.e2e.conftest import node, start_node

__all__ = ["certificate", "node", "start_node"]
