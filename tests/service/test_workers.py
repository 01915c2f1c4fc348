"""Several workers with ``--reuse-port``: each listens on its own socket, and keep-alive
connections opened in one burst end up spread over the workers instead of piling onto the first one."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from service import workers

pytestmark = pytest.mark.skipif(not workers.BALANCED, reason="SO_REUSEPORT balancing is Linux-only")

LISTEN = "0A"  # TCP state in /proc/net/tcp


def listening_inodes(port: int) -> list[str]:
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return [r.split()[9] for r in rows if r.split()[1].endswith(f":{port:04X}") and r.split()[3] == LISTEN]


def owner_pids(inodes: set[str]) -> dict[str, int]:
    """socket inode -> pid of the process holding it."""
    owners = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = fd.readlink().as_posix()
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    owners[target[8:-1]] = int(proc.name)
        except OSError:
            continue
    return owners


def test_each_worker_listens_on_its_own_socket_and_connections_spread(start_server) -> None:
    server = start_server("--workers", "2", "--reuse-port", "--no-access-log")
    deadline = time.monotonic() + 30
    while len(listening_inodes(server.port)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the second worker may still be starting
    inodes = listening_inodes(server.port)
    assert len(inodes) == 2, inodes
    pids = owner_pids(set(inodes))
    assert len(set(pids.values())) == 2, pids  # two listeners, in two processes

    # 32 keep-alive connections opened at once, as a load generator or a proxy's pool does.
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(32)]
    try:
        for sock in clients:  # one request each, so every connection has been accepted by someone
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for sock in clients:
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        local_ports = {sock.getsockname()[1] for sock in clients}
        per_worker: dict[int, int] = {}
        for proc_pid in set(pids.values()):
            held = 0
            for fd in Path(f"/proc/{proc_pid}/fd").iterdir():
                try:
                    target = fd.readlink().as_posix()
                except OSError:
                    continue
                held += target.startswith("socket:[") and target[8:-1] in accepted_inodes(
                    server.port, local_ports
                )
            per_worker[proc_pid] = held
        assert sum(per_worker.values()) == 32, per_worker
        assert min(per_worker.values()) >= 4, per_worker  # a hash split; one worker taking all is the bug
    finally:
        for sock in clients:
            sock.close()
    assert httpx.get(f"{server}/readyz", timeout=10).status_code == 200


def accepted_inodes(port: int, client_ports: set[int]) -> set[str]:
    """Inodes of the server-side sockets of the given client connections (ESTABLISHED, local port = port)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    out = set()
    for row in rows:
        fields = row.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state == "01" and local.endswith(f":{port:04X}") and int(remote.split(":")[1], 16) in client_ports:
            out.add(inode)
    return out
