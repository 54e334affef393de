"""The cluster of the workers of one machine, with no Redis: ``BusHub`` (hosted by the
supervisor of ``tidings serve --workers``) and ``LocalBusAdapter`` (each worker's
``adapter_factory``). Needs the Python packages of ``tidings[redis]`` for the wire
format, not a Redis server. See docs/workers.md."""

from tidings.adapters.localbus.factory import LocalBusAdapter
from tidings.adapters.localbus.hub import BusHub

__all__ = ["BusHub", "LocalBusAdapter"]
