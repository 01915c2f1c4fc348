"""Fixtures for the hardening tests: apps with chosen settings around the shipped model, model folders.

``make_app(**settings)`` gives a Litestar test client of ``create_app`` with those settings (the shipped
model loaded once per session); ``model_repository`` builds a Triton-style folder of real ONNX models
in a temp dir: version 1 is the shipped file, later versions are the same graph with their version
written into the card, and broken versions are real broken files (truncated, wrong card).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from model_files import SHIPPED, write_version

from service.app import create_app
from service.model import DigitModel
from service.settings import Settings


@pytest.fixture(scope="session")
def shipped_model() -> DigitModel:
    return DigitModel.load(SHIPPED)


@pytest.fixture
def make_app(shipped_model: DigitModel) -> Iterator[Callable[..., TestClient]]:
    """``make_app(api_key="k", ...)`` -> an entered TestClient; ``model=None`` lets the lifespan load."""
    opened: list[TestClient] = []

    def _make(*, model: Any = shipped_model, **overrides: Any) -> TestClient:
        client = TestClient(create_app(Settings(**overrides), model=model))
        opened.append(client.__enter__())
        return opened[-1]

    yield _make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def model_repository(tmp_path: Path) -> Path:
    """A temp models/digits with version 1 = the shipped graph (its card saying version 1)."""
    repository = tmp_path / "digits"
    write_version(repository, 1)
    return repository
