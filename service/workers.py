"""Several uvicorn workers that share the load evenly: one SO_REUSEPORT listening socket per worker.

uvicorn's supervisor binds one socket and every worker accepts from it. Clients keep connections open
(keep-alive), and the worker that wakes first takes a whole burst of new ones: measured with wrk's 32
connections on 2 workers, splits of 32/0, 29/3 and 19/13 - one core idles while the other queues, and
p99 latency runs away from p50 (docs/benchmarks.md). Here the supervisor still binds the address (so a
port in use fails at once, in the parent) but never listens on it; each worker binds its own socket
to the same address with SO_REUSEPORT and listens there, and Linux spreads incoming connections over
the workers' sockets by a hash of the connection. Everything else - worker restarts, SIGHUP rolling
reloads (service.lifecycle) - is uvicorn's own supervisor, unchanged.

When a worker stops (a rolling restart), it first accepts whatever is queued on its socket and closes
the socket in the same step, then serves what it took, so the kernel's hash never strands a client on
a closed socket. Elsewhere than Linux (no balancing SO_REUSEPORT), or with ``reuse_port`` off, this is
plain ``uvicorn.run(..., workers=N)``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

BALANCED = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _listener(host: str, port: int, family: socket.AddressFamily) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """A worker's server: listens on its own SO_REUSEPORT socket at the supervisor's address."""

    listeners: tuple[socket.socket, ...] = ()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets:
            own = []
            for shared in sockets:
                host, port = shared.getsockname()[:2]
                own.append(_listener(host, port, shared.family))
                shared.close()  # the supervisor keeps its copy; this worker never accepts from it
            sockets = own
            self.listeners = tuple(own)
        await super().startup(sockets=sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Leave the group without dropping anyone: take what is queued on our socket, close it in the
        same breath (the kernel then sends new connections to the other workers), serve what we took."""
        taken = []
        for listener in self.listeners:
            while True:
                try:
                    connection, _ = listener.accept()  # non-blocking under the event loop
                except OSError:  # EAGAIN: nothing more queued (or already closed)
                    break
                taken.append(connection)
        for server in self.servers:
            server.close()
        loop = asyncio.get_running_loop()
        config = self.config

        def protocol() -> asyncio.Protocol:  # what uvicorn's own listener builds per connection
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=loop
            )

        for connection in taken:
            await loop.connect_accepted_socket(protocol, connection)
        if taken:
            await asyncio.sleep(0.05)  # they read their requests, so the shutdown below lets them finish
        await super().shutdown(sockets=sockets)


class _Process(multiprocess.Process):
    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = _Server(config=self.config)
        return self._server


def run(app: str, *, workers: int, reuse_port: bool = True, **kwargs: Any) -> None:
    """``uvicorn.run(app, workers=workers, **kwargs)``; with ``reuse_port``, a listening socket per worker."""
    if not (reuse_port and BALANCED):
        uvicorn.run(app, workers=workers, **kwargs)
        return
    config = uvicorn.Config(app, workers=workers, **kwargs)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = _listener(config.host, config.port, family)  # bound, never listening: reserves the address
    multiprocess.Process = _Process  # type: ignore[misc] # the supervisor starts workers of this kind
    try:
        multiprocess.Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
