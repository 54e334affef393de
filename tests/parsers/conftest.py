"""The e2e fixtures (the official client in Node, each transport mode), shared here."""

from tests.e2e.conftest import client_opts, mode, node, start_node

__all__ = ["client_opts", "mode", "node", "start_node"]
