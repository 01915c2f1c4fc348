"""What the kernel knows about TCP connections to a local server (/proc/net/tcp, IPv4).

The e2e tests wait on these facts instead of sleeping for a guess: a connection still in the listen
backlog has no socket yet (the kernel shows inode 0), one the server accepted has; ``unread`` is what
the server has received on it but not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ESTABLISHED = "01"


@dataclass(frozen=True)
class ServerSide:
    client_port: int
    accepted: bool  # a process holds the socket: out of the listen backlog
    unread: int  # bytes received that the server has not read yet


def connections_to(server_port: int) -> list[ServerSide]:
    """The server's end of every established connection to ``server_port``."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, queues, inode = fields[1], fields[2], fields[3], fields[4], fields[9]
        if state == ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == server_port:
            client_port = int(remote.rsplit(":", 1)[1], 16)
            found.append(ServerSide(client_port, inode != "0", int(queues.split(":")[1], 16)))
    return found


def server_side(server_port: int, client_port: int) -> ServerSide | None:
    return next((c for c in connections_to(server_port) if c.client_port == client_port), None)


def has_read_everything(server_port: int, client_port: int) -> bool:
    """The server accepted this connection and read every byte sent on it so far."""
    state = server_side(server_port, client_port)
    return bool(state and state.accepted and state.unread == 0)


def waiting_in_backlog(server_port: int) -> list[int]:
    """Client ports of connections the kernel completed but no server process has accepted."""
    return [c.client_port for c in connections_to(server_port) if not c.accepted]
