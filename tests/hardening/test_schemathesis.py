"""Schemathesis against the running service's own OpenAPI document: no server errors, and every
response conforms to the documented status codes, content types, headers and schemas.

Runs the ``schemathesis`` CLI (all checks, its default; see schemathesis.toml for the one check that is
off for a few operations, and why) against ``python -m service`` on a free loopback port with an API key
configured, so the fuzzer passes the key and reaches ``POST /admin/reload`` too. Bounded: at most
ST_MAX_EXAMPLES cases per operation and phase, ST_MAX_TIME seconds in all (override by environment).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
KEY = "fuzz-key"
MAX_EXAMPLES = os.environ.get("ST_MAX_EXAMPLES", "25")
MAX_TIME = os.environ.get("ST_MAX_TIME", "120")


def test_schemathesis_finds_nothing(start_server, tmp_path: Path) -> None:
    server = start_server(env={"DIGITS_API_KEY": KEY, "DIGITS_ACCESS_LOG": "false"})
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{server}/schema/openapi.json",
        "--header",
        f"X-API-Key: {KEY}",
        "--max-examples",
        MAX_EXAMPLES,
        "--max-time",
        MAX_TIME,
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    if os.environ.get("ST_SEED"):
        command += ["--seed", os.environ["ST_SEED"]]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=float(MAX_TIME) + 120)
    output = run.stdout + run.stderr
    print(output[-6000:])  # shown on failure: the findings with their curl reproductions, and the seed
    assert run.returncode == 0, output[-20000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected, output[-3000:]
    assert tested, output[-3000:]
    assert int(tested.group(1)) == int(selected.group(2)) >= 17  # every documented operation was fuzzed
    assert server.process.poll() is None, "the server died under fuzzing"
    assert "Traceback" not in server.log()
