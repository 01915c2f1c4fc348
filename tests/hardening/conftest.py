"""Fixtures for the hardening tests: Triton-style model folders of real ONNX files.

``model_repository`` builds a temp models/digits whose version 1 is the shipped file (later and broken
versions: model_files.py). Apps with chosen settings come from the suite's ``make_client``
(tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from model_files import write_version


@pytest.fixture
def model_repository(tmp_path: Path) -> Path:
    """A temp models/digits with version 1 = the shipped graph (its card saying version 1)."""
    repository = tmp_path / "digits"
    write_version(repository, 1)
    return repository


@pytest.fixture
def make_app(make_client):
    """The old name of ``make_client``, kept for tests written on other branches before the merge."""
    return make_client
