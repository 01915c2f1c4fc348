"""Several uvicorn workers that share the load evenly: one SO_REUSEPORT listening socket per worker.

uvicorn's supervisor binds one socket and every worker accepts from it. Clients keep connections open
(keep-alive), and the worker that wakes first takes a whole burst of new ones: measured with wrk's 32
connections on 2 workers, splits of 32/0, 29/3 and 19/13 - one core idles while the other queues, and
p99 latency runs away from p50 (docs/benchmarks.md). Here the supervisor still binds the address (so a
port in use fails at once, in the parent) but never listens on it; each worker binds its own socket
to the same address with SO_REUSEPORT and listens there, and Linux spreads incoming connections over
the workers' sockets by a hash of the connection. Everything else - worker restarts, SIGHUP rolling
reloads (service.lifecycle) - is uvicorn's own supervisor, unchanged.

The catch: when a listener closes (a worker stopping in a rolling restart), connections already queued
on it but not yet accepted are reset, unless the kernel migrates them to another listener of the group
(``net.ipv4.tcp_migrate_req=1``, Linux 5.14+; off by default). So ``reuse_port="auto"`` balances only
where that is on; "on" balances anyway (a rare reset during a restart), "off" never. Elsewhere than
Linux (no balancing SO_REUSEPORT) this is plain ``uvicorn.run(..., workers=N)``.
"""

from __future__ import annotations

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

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets:
            own = []
            for shared in sockets:
                host, port = shared.getsockname()[:2]
                own.append(_listener(host, port, shared.family))
                shared.close()  # the supervisor keeps its copy; this worker never accepts from it
            sockets = own
        await super().startup(sockets=sockets)


class _Process(multiprocess.Process):
    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = _Server(config=self.config)
        return self._server


def migrates_queued_connections() -> bool:
    """Whether a closing listener's queued connections go to another socket of its group (Linux 5.14+)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_migrate_req") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def balanced(reuse_port: str) -> bool:
    """The ``reuse_port`` setting ("auto", "on", "off") resolved on this machine."""
    if not BALANCED or reuse_port == "off":
        return False
    return reuse_port == "on" or migrates_queued_connections()


def run(app: str, *, workers: int, reuse_port: str = "auto", **kwargs: Any) -> None:
    """``uvicorn.run(app, workers=workers, **kwargs)``, with one listening socket per worker if balanced."""
    if not balanced(reuse_port):
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
