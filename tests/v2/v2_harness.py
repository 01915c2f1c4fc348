"""What the V2 tests know about the server they run against (imported by conftest and the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class V2Server:
    url: str  # http://127.0.0.1:PORT
    host_port: str  # 127.0.0.1:PORT, the form tritonclient wants
    grpc_host_port: str  # 127.0.0.1:GRPC_PORT, the same server's gRPC endpoint
    model_path: Path
    max_batch: int
    max_body_bytes: int
