"""The benchmark app as a module attribute, for ``tidings serve bench.servers.tidings_workers_app:sio
--workers N``: each worker imports it and joins the supervisor's local bus."""

from bench.servers.tidings_app import build

sio = build()
